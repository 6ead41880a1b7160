/**
 * Raw L16 as FreeSWITCH moves it (mod_audio_stream binary frames, unicast datagrams): signed 16-bit
 * little-endian, no header. Incoming byte runs are cut into exact 160-sample frames whatever their
 * size (mod_audio_stream's STREAM_BUFFER_SIZE makes them larger, and TCP/WS need not keep 20 ms).
 */
import { FRAME_SAMPLES, type Pcm } from '../../media/audio-frame.ts';

/** Re-chunks little-endian L16 bytes into 160-sample frames; keeps an odd trailing byte for the next push. */
export class L16Framer {
  private frame = new Int16Array(FRAME_SAMPLES);
  private filled = 0;
  private oddByte = -1;

  /** Calls `emit` with each completed frame (a fresh array: the receiver may keep it). */
  push(bytes: Uint8Array, emit: (frame: Pcm) => void): void {
    let i = 0;
    const n = bytes.length;
    if (this.oddByte >= 0 && n > 0) {
      this.put(((bytes[0]! << 8) | this.oddByte) << 16 >> 16, emit);
      this.oddByte = -1;
      i = 1;
    }
    for (; i + 1 < n; i += 2) {
      this.put(((bytes[i + 1]! << 8) | bytes[i]!) << 16 >> 16, emit);
    }
    if (i < n) this.oddByte = bytes[i]!;
  }

  reset(): void {
    this.filled = 0;
    this.oddByte = -1;
  }

  private put(sample: number, emit: (frame: Pcm) => void): void {
    this.frame[this.filled++] = sample;
    if (this.filled === FRAME_SAMPLES) {
      const done = this.frame;
      this.frame = new Int16Array(FRAME_SAMPLES);
      this.filled = 0;
      emit(done);
    }
  }
}

/** Int16 samples -> little-endian bytes, written into `out` at `offset`. */
export function writeL16(samples: Int16Array, out: Buffer, offset = 0): number {
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i]!, offset + i * 2);
  return offset + samples.length * 2;
}

/** Little-endian bytes -> Int16 samples (copy; length must be even). */
export function readL16(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = ((bytes[2 * i + 1]! << 8) | bytes[2 * i]!) << 16 >> 16;
  return out;
}

/**
 * 16 kHz -> 8 kHz for one stream: a 2:1 decimator with a short symmetric low-pass (half-band FIR),
 * state carried across calls so frame edges do not click. Used only when src/media's resampler is
 * not wired in (mod_audio_stream at 16k).
 */
export class Decimate2 {
  private static readonly TAPS = [-0.0110, 0, 0.0612, 0, -0.1540, 0, 0.6038, 1, 0.6038, 0, -0.1540, 0, 0.0612, 0, -0.0110].map((t) => t / 2);
  private readonly hist = new Float64Array(Decimate2.TAPS.length);
  private pos = 0;
  private phase = 0;

  /** Feeds 16 kHz samples; returns the 8 kHz samples they complete. */
  process(input: Int16Array): Int16Array {
    const taps = Decimate2.TAPS;
    const len = taps.length;
    const out = new Int16Array((input.length + this.phase) >> 1);
    let o = 0;
    for (let i = 0; i < input.length; i++) {
      this.hist[this.pos] = input[i]!;
      this.pos = (this.pos + 1) % len;
      this.phase ^= 1;
      if (this.phase === 0) {
        let acc = 0;
        for (let k = 0; k < len; k++) acc += taps[k]! * this.hist[(this.pos + k) % len]!;
        out[o++] = acc > 32767 ? 32767 : acc < -32768 ? -32768 : Math.round(acc);
      }
    }
    return o === out.length ? out : out.subarray(0, o);
  }
}
