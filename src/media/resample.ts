/**
 * Sample-rate conversion by polyphase FIR (Kaiser-windowed sinc): rational ratio L/M, one
 * prototype low-pass at the up-sampled rate, evaluated only at the output instants. Going down,
 * the low-pass sits below the new Nyquist frequency (passband to 85% of it, stopband from 95%,
 * ~70 dB), so nothing aliases; telephone audio (300-3400 Hz) passes untouched. Going up only the
 * images must go, and they start at fromRate - 3400 Hz, so that filter is about three times shorter.
 *
 * Streaming: each instance keeps the tail of its input, so feeding a signal in chunks produces
 * exactly what one call with the whole signal produces. The output lags the input by the filter's
 * group delay (`delayOutputSamples`); flush() emits the tail held back.
 */
import { FRAME_SAMPLES } from './audio-frame.ts';

interface FilterBank {
  readonly up: number; // L
  readonly down: number; // M
  readonly taps: number; // taps per phase
  /** coeffs[phase * taps + k] multiplies x[base - k]. */
  readonly coeffs: Float32Array;
  /** Group delay in output samples. */
  readonly delayOut: number;
}

const STOPBAND_DB = 70;
const PASS_FRACTION = 0.85;
const STOP_FRACTION = 0.95;

const banks = new Map<string, FilterBank>();

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/** Built once per rate pair per process and shared by every instance. */
function filterBank(fromRate: number, toRate: number): FilterBank {
  const key = `${fromRate}:${toRate}`;
  const cached = banks.get(key);
  if (cached) return cached;
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  const nyquist = Math.min(fromRate, toRate) / 2;
  const pass = nyquist * PASS_FRACTION;
  // Going down, everything above the new Nyquist must go before it folds back. Going up, only the
  // images need removing, and the first one starts at fromRate - pass: a much shorter filter.
  const stop = toRate > fromRate ? fromRate - pass : nyquist * STOP_FRACTION;
  // Kaiser design (Oppenheim & Schafer 7.6): length from attenuation and transition width at the input rate.
  const beta = 0.1102 * (STOPBAND_DB - 8.7);
  const transition = (2 * Math.PI * (stop - pass)) / fromRate;
  const tapsIn = Math.ceil((STOPBAND_DB - 8) / (2.285 * transition)) + 1;
  const taps = Math.max(4, tapsIn);
  const length = taps * up;
  const fsUp = fromRate * up;
  const fc = (pass + stop) / 2 / fsUp; // cycles per up-sampled sample
  const centre = (length - 1) / 2;
  const proto = new Float64Array(length);
  const i0beta = besselI0(beta);
  for (let j = 0; j < length; j++) {
    const t = j - centre;
    const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    const r = (2 * j) / (length - 1) - 1;
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0beta;
    proto[j] = up * sinc * w; // gain L restores the level lost to zero-stuffing
  }
  const coeffs = new Float32Array(length);
  for (let p = 0; p < up; p++) for (let k = 0; k < taps; k++) coeffs[p * taps + k] = proto[p + k * up];
  const bank = { up, down, taps, coeffs, delayOut: Math.round(centre / down) };
  banks.set(key, bank);
  return bank;
}

/**
 * Streaming converter between any two integer rates, for TTS output (16000/22050/24000 -> 8000)
 * and recognizers that want 16 kHz. process() allocates its result; the fixed-frame classes below
 * do not.
 */
export class Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  private readonly bank: FilterBank;
  /** history (taps - 1 samples) followed by the current chunk. */
  private buf: Float32Array;
  /** Absolute index of the next output sample. */
  private outIndex = 0;
  /** Absolute input samples consumed so far. */
  private inCount = 0;

  constructor(fromRate: number, toRate: number) {
    if (!(Number.isInteger(fromRate) && Number.isInteger(toRate) && fromRate > 0 && toRate > 0)) {
      throw new RangeError(`resampler rates must be positive integers, got ${fromRate} -> ${toRate}`);
    }
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.bank = filterBank(fromRate, toRate);
    this.buf = new Float32Array(this.bank.taps - 1 + 4096);
  }

  /** Output samples the filter lags behind the input. */
  get delayOutputSamples(): number {
    return this.bank.delayOut;
  }

  /** Outputs available after `extra` more input samples (for sizing buffers). */
  outputsFor(extra: number): number {
    const { up, down } = this.bank;
    // Output n needs input floor(n * M / L); it exists once that index < inCount + extra.
    const limit = this.inCount + extra;
    return Math.max(0, Math.ceil((limit * up) / down) - this.outIndex);
  }

  process(chunk: Int16Array): Int16Array {
    const out = new Int16Array(this.outputsFor(chunk.length));
    this.processInto(chunk, out);
    return out;
  }

  /** Convert `chunk` into `out` (must hold outputsFor(chunk.length)); returns the count written. */
  processInto(chunk: Int16Array, out: Int16Array): number {
    const { up, down, taps, coeffs } = this.bank;
    const hist = taps - 1;
    const need = hist + chunk.length;
    if (this.buf.length < need) {
      const bigger = new Float32Array(need * 2);
      bigger.set(this.buf.subarray(0, hist));
      this.buf = bigger;
    }
    const buf = this.buf;
    for (let i = 0; i < chunk.length; i++) buf[hist + i] = chunk[i];
    const base0 = this.inCount; // absolute index of buf[hist]
    const total = this.inCount + chunk.length;
    let written = 0;
    for (;;) {
      const u = this.outIndex * down;
      const base = Math.floor(u / up);
      if (base >= total || written >= out.length) break;
      const phase = u - base * up;
      const c = phase * taps;
      let acc = 0;
      let xi = hist + (base - base0);
      for (let k = 0; k < taps; k++, xi--) acc += coeffs[c + k] * buf[xi];
      out[written++] = acc > 32767 ? 32767 : acc < -32768 ? -32768 : Math.round(acc);
      this.outIndex++;
    }
    // Keep the last `hist` samples as history for the next chunk.
    buf.copyWithin(0, chunk.length, chunk.length + hist);
    this.inCount = total;
    return written;
  }

  /** Emit the delayed tail (as if the signal were followed by silence) and reset for a new stream. */
  flush(): Int16Array {
    const zeros = new Int16Array(Math.ceil(((this.bank.delayOut + 1) * this.bank.down) / this.bank.up));
    const tail = this.process(zeros);
    this.reset();
    return tail;
  }

  reset(): void {
    this.buf.fill(0);
    this.outIndex = 0;
    this.inCount = 0;
  }
}

/** 20 ms at 8 kHz (160 samples) in, 20 ms at 16 kHz (320) out; the output array is reused per call. */
export class Upsampler8to16 {
  private readonly r = new Resampler(8000, 16000);
  private readonly out = new Int16Array(FRAME_SAMPLES * 2);

  get delayOutputSamples(): number {
    return this.r.delayOutputSamples;
  }

  /** Returns a view valid until the next call; any frame length works (output = 2x). */
  process(frame: Int16Array): Int16Array {
    const out = frame.length === FRAME_SAMPLES ? this.out : new Int16Array(frame.length * 2);
    const n = this.r.processInto(frame, out);
    return n === out.length ? out : out.subarray(0, n);
  }

  reset(): void {
    this.r.reset();
  }
}

/** 20 ms at 16 kHz (320 samples) in, 20 ms at 8 kHz (160) out; the output array is reused per call. */
export class Downsampler16to8 {
  private readonly r = new Resampler(16000, 8000);
  private readonly out = new Int16Array(FRAME_SAMPLES);

  get delayOutputSamples(): number {
    return this.r.delayOutputSamples;
  }

  /** Returns a view valid until the next call. Odd-length input carries the remainder over. */
  process(frame: Int16Array): Int16Array {
    const need = this.r.outputsFor(frame.length);
    const out = need <= this.out.length ? this.out : new Int16Array(need);
    const n = this.r.processInto(frame, out);
    return n === out.length ? out : out.subarray(0, n);
  }

  reset(): void {
    this.r.reset();
  }
}
