/**
 * A small playout buffer between FreeSWITCH's frame cadence (median 20 ms, p90 21 ms, the odd
 * back-to-back pair) and our 20 ms ticker: holds `target` frames before playing, conceals underruns
 * with silence and re-primes, drops the oldest frame past `max` so latency cannot creep up.
 */
import { SILENCE_FRAME, type Pcm } from '../../media/audio-frame.ts';

export class PlayoutBuffer {
  private readonly ring: (Pcm | null)[];
  private head = 0;
  private size = 0;
  private primed = false;
  underruns = 0;
  overflows = 0;

  constructor(
    private readonly target: number,
    private readonly max: number,
  ) {
    this.ring = new Array<Pcm | null>(max).fill(null);
  }

  get depth(): number {
    return this.size;
  }

  put(frame: Pcm): void {
    if (this.size === this.max) {
      this.head = (this.head + 1) % this.max;
      this.size--;
      this.overflows++;
    }
    this.ring[(this.head + this.size) % this.max] = frame;
    this.size++;
  }

  /** The frame to play this tick: a real one, or shared silence while priming/underrun. */
  take(): { frame: Pcm; concealed: boolean } {
    if (!this.primed) {
      if (this.size < this.target) return { frame: SILENCE_FRAME, concealed: true };
      this.primed = true;
    }
    if (this.size === 0) {
      this.primed = false;
      this.underruns++;
      return { frame: SILENCE_FRAME, concealed: true };
    }
    const frame = this.ring[this.head]!;
    this.ring[this.head] = null;
    this.head = (this.head + 1) % this.max;
    this.size--;
    return { frame, concealed: false };
  }

  clear(): void {
    this.ring.fill(null);
    this.head = 0;
    this.size = 0;
    this.primed = false;
  }
}
