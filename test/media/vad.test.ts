import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/errors.ts';
import type { VadConfig } from '../../src/config/schema.ts';
import { Resampler } from '../../src/media/resample.ts';
import { createVad, levelDbfs, type Vad, type VadResult } from '../../src/media/vad.ts';

const CFG: VadConfig = { aggressiveness: 3, energyGateDbfs: -45, onsetMs: 60, hangoverMs: 200 };

/** Mono 16-bit PCM WAV -> samples and rate (walks the RIFF chunks; flite and espeak-ng differ). */
function readWav(path: string): { rate: number; samples: Int16Array } {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV');
  let rate = 0;
  for (let o = 12; o + 8 <= b.length; ) {
    const id = b.toString('ascii', o, o + 4);
    let size = b.readUInt32LE(o + 4);
    if (id === 'fmt ') rate = b.readUInt32LE(o + 12);
    if (id === 'data') {
      size = Math.min(size, b.length - o - 8);
      const samples = new Int16Array(size >> 1);
      for (let i = 0; i < samples.length; i++) samples[i] = b.readInt16LE(o + 8 + 2 * i);
      return { rate, samples };
    }
    o += 8 + size + (size & 1);
  }
  throw new Error('WAV without data chunk');
}

let dir = '';
let speech: Int16Array = new Int16Array(0);

function synthesize(text: string): Int16Array {
  const out = join(dir, `s${Math.random().toString(36).slice(2)}.wav`);
  try {
    execFileSync('flite', ['-voice', 'kal', '-t', text, '-o', out], { stdio: 'ignore' });
  } catch {
    execFileSync('espeak-ng', ['-w', out, text], { stdio: 'ignore' });
  }
  const { rate, samples } = readWav(out);
  if (rate === 8000) return samples;
  const r = new Resampler(rate, 8000);
  const a = r.process(samples);
  const t = r.flush();
  const all = new Int16Array(a.length + t.length);
  all.set(a);
  all.set(t, a.length);
  return all;
}

function frames(x: Int16Array): Int16Array[] {
  const out: Int16Array[] = [];
  for (let i = 0; i + 160 <= x.length; i += 160) out.push(x.subarray(i, i + 160));
  return out;
}

let seed = 1;
function whiteNoise(dbfs: number, nFrames: number): Int16Array {
  const amp = 32768 * 10 ** (dbfs / 20) * Math.sqrt(3); // uniform noise: rms = amp / sqrt(3)
  return Int16Array.from({ length: nFrames * 160 }, () => Math.round(((seed = (seed * 48271) % 2147483647) / 2147483647 * 2 - 1) * amp));
}

function run(vad: Vad, x: Int16Array, minLevelDbfs?: number): (VadResult & { i: number })[] {
  return frames(x).map((f, i) => ({ ...vad.process(f, { minLevelDbfs }), i }));
}

const silence = (ms: number): Int16Array => new Int16Array((ms / 1000) * 8000);

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vad-test-'));
  speech = synthesize('hello, this is a test of the voice activity detector');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('VAD', () => {
  it('finds synthesized speech', async () => {
    const vad = await createVad(CFG);
    const r = run(vad, speech);
    const voiced = r.filter((x) => x.voiced).length / r.length;
    expect(voiced).toBeGreaterThan(0.4);
    expect(r.some((x) => x.event === 'start')).toBe(true);
    vad.close();
  });

  it('never fires on digital silence', async () => {
    const vad = await createVad(CFG);
    const r = run(vad, silence(3000));
    expect(r.filter((x) => x.voiced || x.speaking || x.event)).toHaveLength(0);
    expect(r[0].levelDbfs).toBe(-100);
    vad.close();
  });

  for (const dbfs of [-30, -15]) {
    it(`never fires on steady white noise at ${dbfs} dBFS (WebRTC VAD alone would)`, async () => {
      const vad = await createVad(CFG);
      const noise = whiteNoise(dbfs, 150);
      const r = run(vad, noise);
      expect(Math.abs(r[10].levelDbfs - dbfs)).toBeLessThan(1);
      expect(r.filter((x) => x.speaking)).toHaveLength(0);
      expect(r.filter((x) => x.voiced).length).toBeLessThanOrEqual(1);
      expect(vad.noiseFloorDbfs).toBeGreaterThan(dbfs - 2);
      vad.close();
    });
  }

  it('the noise floor is the quietest level of the last 1.5 s, frame by frame, also after reset', async () => {
    const vad = await createVad(CFG);
    // Levels that rise (the minimum is always the oldest frame: it leaves at exactly 75 frames),
    // fall (each new frame replaces the queue), repeat (ties), and drop to digital silence.
    const rise = Array.from({ length: 160 }, (_, i) => 10 + 40 * i);
    const fall = [...rise].reverse();
    const mixed = Array.from({ length: 160 }, (_, i) => (i % 97 === 0 ? 0 : [800, 30, 300, 30, 5000, 12][(i * 7) % 6] + ((i * 13) % 11)));
    const amps = [...rise, ...fall, ...mixed];
    const check = (from: number): void => {
      const levels: number[] = [];
      for (let i = from; i < amps.length; i++) {
        levels.push(vad.process(new Int16Array(160).fill(amps[i])).levelDbfs);
        expect(vad.noiseFloorDbfs, `frame ${i}`).toBe(Math.min(...levels.slice(-75)));
      }
    };
    check(0);
    vad.reset();
    expect(vad.noiseFloorDbfs).toBe(-100);
    check(150);
    vad.close();
  });

  it('the fixed energy gate stops low-level noise that the WebRTC VAD calls speech', async () => {
    // Aggressiveness 0 calls -30 dBFS white noise speech; the gate above its level must reject it.
    const lax: VadConfig = { ...CFG, aggressiveness: 0 };
    const open = await createVad({ ...lax, energyGateDbfs: -60 }, { noiseMarginDb: 0 });
    const gated = await createVad({ ...lax, energyGateDbfs: -25 }, { noiseMarginDb: 0 });
    const noise = whiteNoise(-30, 100);
    expect(run(open, noise).filter((x) => x.voiced).length).toBeGreaterThan(50);
    expect(run(gated, noise).filter((x) => x.voiced)).toHaveLength(0);
    open.close();
    gated.close();
  });

  it('speech over -40 dBFS background noise is still found', async () => {
    const vad = await createVad(CFG);
    const noise = whiteNoise(-40, speech.length / 160 + 100);
    const mixed = Int16Array.from(noise, (n, i) => {
      const s = i >= 8000 && i - 8000 < speech.length ? speech[i - 8000] : 0;
      return Math.max(-32768, Math.min(32767, n + s));
    });
    const r = run(vad, mixed);
    expect(r.slice(0, 45).some((x) => x.voiced)).toBe(false);
    expect(r.filter((x) => x.voiced).length).toBeGreaterThan(r.length * 0.25);
  });

  it('start after onsetMs of voicing, end after hangoverMs of none; events alternate', async () => {
    const vad = await createVad(CFG);
    const r = run(vad, concat(silence(1000), speech, silence(1000)));
    const events = r.filter((x) => x.event);
    expect(events.length).toBeGreaterThanOrEqual(2);
    events.forEach((e, k) => expect(e.event).toBe(k % 2 === 0 ? 'start' : 'end'));
    const first = events[0].i;
    expect(r.slice(first - 2, first + 1).every((x) => x.voiced)).toBe(true); // 3 voiced frames = 60 ms onset
    expect(r[first - 1].speaking).toBe(false);
    expect(r[first].speaking).toBe(true);
    const last = events[events.length - 1];
    expect(last.event).toBe('end');
    expect(r.slice(last.i - 9, last.i + 1).every((x) => !x.voiced)).toBe(true); // 10 frames = 200 ms hangover
    expect(r[last.i - 1].speaking).toBe(true);
    const speechEndFrame = (8000 + speech.length) / 160;
    expect(last.i).toBeLessThan(speechEndFrame + 12);
    expect(r[r.length - 1].speaking).toBe(false);
  });

  it('a longer hangover bridges the pauses between words (fewer events)', async () => {
    const short = await createVad({ ...CFG, hangoverMs: 40 });
    const long = await createVad({ ...CFG, hangoverMs: 600 });
    const x = concat(silence(500), speech, silence(1000));
    const nShort = run(short, x).filter((e) => e.event === 'start').length;
    const nLong = run(long, x).filter((e) => e.event === 'start').length;
    expect(nLong).toBe(1);
    expect(nShort).toBeGreaterThan(nLong);
  });

  it('minLevelDbfs (echo guard) suppresses speech below it for that frame only', async () => {
    const vad = await createVad(CFG);
    const x = concat(silence(500), speech);
    expect(run(vad, x, 0).filter((e) => e.voiced)).toHaveLength(0);
    vad.reset();
    expect(run(vad, x, -60).filter((e) => e.voiced).length).toBeGreaterThan(20);
  });

  it('levelDbfs of a full-scale square wave is 0 dBFS', () => {
    expect(levelDbfs(Int16Array.from({ length: 160 }, (_, i) => (i % 2 ? 32767 : -32768)))).toBeCloseTo(0, 3);
  });

  it('rejects frames of the wrong size; close() is idempotent and final', async () => {
    const vad = await createVad(CFG);
    expect(() => vad.process(new Int16Array(100))).toThrow(BridgeError);
    vad.close();
    vad.close();
    expect(() => vad.process(new Int16Array(160))).toThrow(BridgeError);
  });

  it('many instances share one module and are independent', async () => {
    const vads = await Promise.all(Array.from({ length: 20 }, () => createVad(CFG)));
    const a = run(vads[0], speech).filter((x) => x.voiced).length;
    for (let i = 1; i < 20; i++) run(vads[i], whiteNoise(-15, 50));
    vads[0].reset();
    expect(run(vads[0], speech).filter((x) => x.voiced).length).toBe(a);
    vads.forEach((v) => v.close());
  });
});
