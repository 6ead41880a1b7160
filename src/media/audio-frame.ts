/**
 * The unit of audio inside the daemon: 20 ms of signed 16-bit mono PCM at 8 kHz (160 samples).
 * Telephony is 8 kHz G.711 end to end, so keeping the core at 8 kHz means no resampling on the hot
 * path; providers that want 16 kHz resample at their own edge.
 */
export const SAMPLE_RATE = 8000;
export const FRAME_MS = 20;
export const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000; // 160

export type Pcm = Int16Array;

/** Shared, read-only silence frame: never mutate it. */
export const SILENCE_FRAME: Pcm = new Int16Array(FRAME_SAMPLES);

export function samplesToMs(samples: number, rate = SAMPLE_RATE): number {
  return (samples * 1000) / rate;
}

export function msToSamples(ms: number, rate = SAMPLE_RATE): number {
  return Math.round((ms * rate) / 1000);
}

/** One buffer holding `chunks` in order. */
export function concatPcm(chunks: readonly Pcm[]): Pcm {
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Int16Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
