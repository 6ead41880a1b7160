import { describe, expect, it } from 'vitest';
import { Downsampler16to8, Resampler, Upsampler8to16 } from '../../src/media/resample.ts';

function tone(freq: number, rate: number, seconds: number, amp = 10000): Int16Array {
  const n = Math.round(rate * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

function rms(x: Int16Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return Math.sqrt(s / (to - from));
}

/** Amplitude of the `freq` component (single-bin DFT over a steady section). */
function amplitudeAt(x: Int16Array, rate: number, freq: number, from: number, to: number): number {
  let re = 0;
  let im = 0;
  for (let i = from; i < to; i++) {
    re += x[i] * Math.cos((2 * Math.PI * freq * i) / rate);
    im += x[i] * Math.sin((2 * Math.PI * freq * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}

/** Dominant frequency by zero-crossing count over a steady section. */
function zeroCrossingFreq(x: Int16Array, rate: number, from: number, to: number): number {
  let crossings = 0;
  for (let i = from + 1; i < to; i++) if ((x[i - 1] < 0 && x[i] >= 0) || (x[i - 1] >= 0 && x[i] < 0)) crossings++;
  return (crossings / 2) * (rate / (to - from));
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const db = (ratio: number): number => 20 * Math.log10(ratio);

describe('resampling', () => {
  it('8 -> 16 kHz: a 1 kHz tone keeps its frequency and level, no image at 7 kHz', () => {
    const up = new Upsampler8to16();
    const x = tone(1000, 8000, 0.5);
    const frames: Int16Array[] = [];
    for (let i = 0; i < x.length; i += 160) frames.push(Int16Array.from(up.process(x.subarray(i, i + 160))));
    expect(frames.every((f) => f.length === 320)).toBe(true);
    const y = concat(frames);
    const steady: [number, number] = [1600, y.length - 1600];
    expect(zeroCrossingFreq(y, 16000, ...steady)).toBeCloseTo(1000, -1);
    expect(Math.abs(db(rms(y, ...steady) / rms(x, 800, x.length - 800)))).toBeLessThan(0.2);
    // Sample doubling would leave a strong image at 8000 - 1000 Hz.
    expect(db(amplitudeAt(y, 16000, 7000, ...steady) / 10000)).toBeLessThan(-60);
  });

  it('16 -> 8 kHz: a 1 kHz tone survives, a 3.8 kHz tone is strongly attenuated', () => {
    const down = new Downsampler16to8();
    const x = tone(1000, 16000, 0.5);
    const y = concat(Array.from({ length: x.length / 320 }, (_, i) => Int16Array.from(down.process(x.subarray(i * 320, i * 320 + 320)))));
    expect(y.length).toBe(4000);
    expect(zeroCrossingFreq(y, 8000, 400, 3600)).toBeCloseTo(1000, -1);
    expect(Math.abs(db(rms(y, 400, 3600) / rms(x, 800, 7200)))).toBeLessThan(0.2);

    const hi = new Resampler(16000, 8000);
    const z = hi.process(tone(3800, 16000, 0.5));
    expect(db(rms(z, 400, z.length - 400) / rms(tone(3800, 16000, 0.5)))).toBeLessThan(-40);
    // Above 4 kHz would alias to 8000 - f: a 5 kHz tone must not come out as 3 kHz.
    const alias = new Resampler(16000, 8000).process(tone(5000, 16000, 0.5));
    expect(db(amplitudeAt(alias, 8000, 3000, 400, alias.length - 400) / 10000)).toBeLessThan(-60);
  });

  it('the passband edge (3.4 kHz) is within 1 dB', () => {
    const y = new Resampler(16000, 8000).process(tone(3300, 16000, 0.5));
    expect(Math.abs(db(rms(y, 400, y.length - 400) / (10000 / Math.SQRT2)))).toBeLessThan(1);
  });

  for (const rate of [16000, 22050, 24000]) {
    it(`TTS ${rate} -> 8000: level and frequency kept, length = duration`, () => {
      const r = new Resampler(rate, 8000);
      const x = tone(440, rate, 0.6);
      const y = concat([r.process(x), r.flush()]);
      expect(Math.abs(y.length - 4800 - r.delayOutputSamples)).toBeLessThanOrEqual(2);
      expect(zeroCrossingFreq(y, 8000, 800, 4000)).toBeCloseTo(440, -1);
      expect(Math.abs(db(rms(y, 800, 4000) / (10000 / Math.SQRT2)))).toBeLessThan(0.2);
    });
  }

  it('streaming in uneven chunks equals one-shot, sample for sample', () => {
    let seed = 3;
    const rnd = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const x = Int16Array.from({ length: 22050 }, () => Math.round((rnd() - 0.5) * 20000));
    const one = new Resampler(22050, 8000);
    const whole = concat([one.process(x), one.flush()]);
    const chunked = new Resampler(22050, 8000);
    const parts: Int16Array[] = [];
    for (let i = 0; i < x.length; ) {
      const n = 1 + Math.floor(rnd() * 700);
      parts.push(chunked.process(x.subarray(i, i + n)));
      i += n;
    }
    parts.push(chunked.flush());
    expect(Array.from(concat(parts))).toEqual(Array.from(whole));
  });

  it('flush() resets: the instance can convert a second stream identically', () => {
    const r = new Resampler(24000, 8000);
    const x = tone(300, 24000, 0.1);
    const a = concat([r.process(x), r.flush()]);
    const b = concat([r.process(x), r.flush()]);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('fixed-frame converters reuse their output array', () => {
    const up = new Upsampler8to16();
    const f = new Int16Array(160);
    expect(up.process(f)).toBe(up.process(f));
    const down = new Downsampler16to8();
    const g = new Int16Array(320);
    expect(down.process(g)).toBe(down.process(g));
  });

  it('rejects nonsense rates', () => {
    expect(() => new Resampler(0, 8000)).toThrow(RangeError);
    expect(() => new Resampler(8000, 44100.5)).toThrow(RangeError);
  });
});
