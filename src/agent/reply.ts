/**
 * One agent reply: the speakable chunks the brain produced, the audio TTS made of each, and how much
 * of it has been played. Playout state lives here so barge-in can answer exactly "what did the caller
 * hear" from played-sample counts, not from guesses.
 */
import { FRAME_SAMPLES, type Pcm } from '../media/audio-frame.ts';
import type { CallAction, EndReason } from './call-port.ts';
import type { BrainInput } from './brain/types.ts';
import type { TurnTiming } from './call-record.ts';
import { heardPrefix } from './sentence-chunker.ts';

export interface Segment {
  readonly text: string;
  readonly chunks: Pcm[];
  /** Samples synthesized so far. */
  available: number;
  /** Samples played so far. */
  played: number;
  /** Synthesis finished (or failed). */
  done: boolean;
  failed: boolean;
  // read cursor inside chunks
  chunkIdx: number;
  chunkOff: number;
}

export class Reply {
  readonly ctrl = new AbortController();
  readonly segments: Segment[] = [];
  /** All text the brain produced (what we meant to say). */
  intended = '';
  brainDone = false;
  /**
   * hangup/transfer: carried out once the audio before it has played. A reply with one is a closing
   * reply: no barge-in or DTMF cuts it, or the call would never end.
   */
  terminal: CallAction | null = null;
  /** How the call ends after `terminal` (default: by the action's kind). */
  endReason: EndReason | null = null;
  /** Call time the reply was started (for the provider stall guard). */
  startedMs = 0;
  firstFrameMs: number | null = null;
  /** The Call has told its transport that this reply's first audio is ready ('ready'). */
  readySignalled = false;
  lastFrameMs: number | null = null;
  private head = 0;

  constructor(
    readonly input: BrainInput,
    readonly turn: TurnTiming | null,
  ) {}

  addSegment(text: string): Segment {
    const seg: Segment = { text, chunks: [], available: 0, played: 0, done: false, failed: false, chunkIdx: 0, chunkOff: 0 };
    this.segments.push(seg);
    return seg;
  }

  /**
   * Copy the next 20 ms into `out`. Returns false when nothing is ready (underrun or finished).
   * A segment's last partial frame is padded with silence so segments never smear into each other.
   */
  pull(out: Pcm): boolean {
    const seg = this.playable();
    if (seg === null) return false;
    const n = Math.min(FRAME_SAMPLES, seg.available - seg.played);
    copyFrom(seg, out, n);
    if (n < FRAME_SAMPLES) out.fill(0, n);
    seg.played += n;
    return true;
  }

  /** pull() would give a frame now. */
  get ready(): boolean {
    return this.playable() !== null;
  }

  /** The segment the next frame comes from, moving past played-out ones; null when nothing is ready. */
  private playable(): Segment | null {
    while (this.head < this.segments.length) {
      const seg = this.segments[this.head];
      const remaining = seg.available - seg.played;
      if (remaining >= FRAME_SAMPLES || (seg.done && remaining > 0)) return seg;
      if (!seg.done) return null; // TTS has not caught up: a gap, not the end
      this.head++;
    }
    return null;
  }

  /** Everything the brain said has been synthesized and played. */
  get finished(): boolean {
    if (!this.brainDone) return false;
    for (let i = this.head; i < this.segments.length; i++) {
      const s = this.segments[i];
      if (!s.done || s.played < s.available) return false;
    }
    return true;
  }

  /** Some audio of this reply has gone out and more may follow. */
  get audible(): boolean {
    return this.firstFrameMs !== null;
  }

  /** What the caller heard, by played-sample fractions (the segment being played is cut at a word). */
  heard(): string {
    const parts: string[] = [];
    for (const seg of this.segments) {
      if (seg.played === 0) break;
      const total = seg.done ? seg.available : Math.max(seg.available, estimateSamples(seg.text));
      const frac = total > 0 ? seg.played / total : 0;
      const part = heardPrefix(seg.text, frac);
      if (part) parts.push(part);
      if (frac < 0.999) break;
    }
    return parts.join(' ');
  }

  spokenText(): string {
    return this.segments.map((s) => s.text).join(' ');
  }
}

function copyFrom(seg: Segment, out: Pcm, n: number): void {
  let written = 0;
  while (written < n) {
    const chunk = seg.chunks[seg.chunkIdx];
    const take = Math.min(n - written, chunk.length - seg.chunkOff);
    out.set(chunk.subarray(seg.chunkOff, seg.chunkOff + take), written);
    written += take;
    seg.chunkOff += take;
    if (seg.chunkOff >= chunk.length) {
      // drop the reference: long replies should not hold every chunk until the end
      seg.chunks[seg.chunkIdx] = EMPTY;
      seg.chunkIdx++;
      seg.chunkOff = 0;
    }
  }
}

const EMPTY = new Int16Array(0);

/** ~14 characters per second of speech at 8 kHz, for a segment whose synthesis has not finished. */
function estimateSamples(text: string): number {
  return Math.round((text.length / 14) * 8000);
}
