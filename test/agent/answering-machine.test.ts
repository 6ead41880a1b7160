import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnsweringMachineDetector, measureTone, type AmdSettings } from '../../src/agent/answering-machine.ts';
import { validateConfig } from '../../src/config/load.ts';
import { FRAME_SAMPLES } from '../../src/media/audio-frame.ts';
import { ulawDecode, ulawEncode } from '../../src/media/g711.ts';
import { Resampler } from '../../src/media/resample.ts';
import { createVad, type Vad } from '../../src/media/vad.ts';
import { parseWavPcm16 } from '../../src/providers/tts/flite.ts';
import { makeCall, StreamingBrain } from './harness.ts';

const VOICEMAIL = "Hi, you've reached John. I can't come to the phone right now. Please leave a message after the tone.";
const cfg = validateConfig({});
const DEFAULTS: AmdSettings = cfg.agent.amd;
/** Monologue detection out of the way, to see the beep detector alone. */
const BEEP_ONLY: AmdSettings = { ...DEFAULTS, monologueMs: 30_000, windowMs: 30_000, beepWindowMs: 60_000 };

// ------------------------------------------------------------------ synthetic audio

let tmp = '';
function flite(text: string): Int16Array {
  const file = path.join(tmp, `s${fs.readdirSync(tmp).length}.wav`);
  execFileSync('flite', ['-voice', 'rms', '-t', text, '-o', file], { timeout: 20_000 });
  const { sampleRate, pcm } = parseWavPcm16(fs.readFileSync(file));
  const r = new Resampler(sampleRate, 8000);
  const a = r.process(pcm);
  const b = r.flush();
  return concat(a, b);
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const silence = (ms: number) => new Int16Array(ms * 8);

function tone(hzs: number[], ms: number, amp = 8000, phase = 0.7): Int16Array {
  const out = new Int16Array(ms * 8);
  for (let i = 0; i < out.length; i++) {
    let v = 0;
    for (const hz of hzs) v += Math.sin((2 * Math.PI * hz * i) / 8000 + phase);
    out[i] = Math.round(amp * v);
  }
  return out;
}

/** Deterministic white noise (LCG), uniform, given RMS. */
function noise(ms: number, rms: number, seed = 1): Int16Array {
  const out = new Int16Array(ms * 8);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.round((s / 2 ** 32 - 0.5) * 2 * Math.sqrt(3) * rms);
  }
  return out;
}

function mix(a: Int16Array, b: Int16Array): Int16Array {
  const out = new Int16Array(Math.max(a.length, b.length));
  for (let i = 0; i < out.length; i++) out[i] = Math.max(-32768, Math.min(32767, (a[i] ?? 0) + (b[i] ?? 0)));
  return out;
}

/** Split into 20 ms frames (the last one padded with silence). */
function frames(pcm: Int16Array): Int16Array<ArrayBuffer>[] {
  const out: Int16Array<ArrayBuffer>[] = [];
  for (let i = 0; i < pcm.length; i += FRAME_SAMPLES) {
    const f = new Int16Array(FRAME_SAMPLES);
    f.set(pcm.subarray(i, Math.min(pcm.length, i + FRAME_SAMPLES)));
    out.push(f);
  }
  return out;
}

/**
 * Two detectors side by side over `pcm`, one given the VAD's level of each frame and one not:
 * the frame index of every decision and beep, for each.
 */
async function detectBothWays(pcm: Int16Array) {
  const vad: Vad = await createVad(cfg.media.vad);
  const withLevel = new AnsweringMachineDetector(DEFAULTS);
  const without = new AnsweringMachineDetector(DEFAULTS);
  const events = { withLevel: [] as string[], without: [] as string[] };
  let t = 0;
  for (const f of frames(pcm)) {
    t += 20;
    const v = vad.process(f);
    const a = withLevel.push(f, v.voiced, t, v.levelDbfs);
    const b = without.push(f, v.voiced, t);
    events.withLevel.push(`${t}:${a?.reason ?? '-'}:${withLevel.beepCount}:${withLevel.messageCue ?? '-'}`);
    events.without.push(`${t}:${b?.reason ?? '-'}:${without.beepCount}:${without.messageCue ?? '-'}`);
  }
  vad.close();
  return events;
}

/** Run the detector over `pcm` with the real VAD; returns the decision and when the message cue came. */
async function detect(pcm: Int16Array, settings: AmdSettings = DEFAULTS) {
  const vad: Vad = await createVad(cfg.media.vad);
  const d = new AnsweringMachineDetector(settings);
  let cueAtMs: number | null = null;
  let t = 0;
  for (const f of frames(pcm)) {
    t += 20;
    d.push(f, vad.process(f).voiced, t);
    if (cueAtMs === null && d.messageCue) cueAtMs = t;
  }
  vad.close();
  return { decision: d.decision, cue: d.messageCue, cueAtMs, beeps: d.beepCount };
}

let greeting: Int16Array;
let hello: Int16Array;
let talk: Int16Array;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amd-test-'));
  greeting = flite(VOICEMAIL);
  hello = flite('Hello?');
  talk = flite('Yes, this is John speaking. Who is calling please? Mmmm, ooh, I see, sure.');
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ------------------------------------------------------------------ the detector alone

describe('measureTone', () => {
  it.each([425, 1000, 1400, 2000])('finds a %d Hz tone with a near-zero residual', (hz) => {
    const m = measureTone(tone([hz], 20));
    expect(m.residualRatio).toBeLessThan(0.01);
    expect(Math.abs(m.frequencyHz - hz) / hz).toBeLessThan(0.02);
    expect(m.envelopeVariation).toBeLessThan(0.05);
  });

  it('calls DTMF, white noise and silence not a tone', () => {
    expect(measureTone(tone([770, 1336], 20, 5000)).residualRatio).toBeGreaterThan(0.3);
    // close pairs fit one tone fairly well; their beating envelope gives them away
    for (const [lo, hi] of [[941, 1336], [941, 1209], [852, 1209]]) expect(measureTone(tone([lo, hi], 20, 5000)).envelopeVariation).toBeGreaterThan(0.6);
    expect(measureTone(noise(20, 3000)).residualRatio).toBeGreaterThan(0.3);
    expect(measureTone(silence(20)).residualRatio).toBe(1);
  });
});

describe('AnsweringMachineDetector', () => {
  it('hears the beep after a voicemail greeting, and cues the message when the beep ends', async () => {
    const beepStart = greeting.length / 8 + 300;
    const pcm = concat(greeting, silence(300), tone([1000], 500), silence(2000));
    const r = await detect(pcm, BEEP_ONLY);
    expect(r.decision?.reason).toBe('beep');
    expect(r.decision!.atMs).toBeGreaterThanOrEqual(beepStart + 100);
    expect(r.decision!.atMs).toBeLessThanOrEqual(beepStart + 200);
    expect(r.cue).toBe('beep');
    expect(r.cueAtMs).toBeGreaterThanOrEqual(beepStart + 500);
    expect(r.cueAtMs).toBeLessThanOrEqual(beepStart + 560);
  });

  it('with default settings the greeting itself is a monologue; the beep then cues the message', async () => {
    expect(greeting.length / 8).toBeGreaterThan(5000);
    const beepStart = greeting.length / 8 + 300;
    const r = await detect(concat(greeting, silence(300), tone([1000], 500), silence(2000)));
    expect(r.decision?.reason).toBe('monologue');
    expect(r.decision!.atMs).toBeGreaterThanOrEqual(DEFAULTS.monologueMs);
    expect(r.decision!.atMs).toBeLessThan(DEFAULTS.windowMs);
    expect(r.beeps).toBe(1);
    expect(r.cue).toBe('beep');
    expect(r.cueAtMs).toBeGreaterThanOrEqual(beepStart + 500);
    expect(r.cueAtMs).toBeLessThanOrEqual(beepStart + 560);
  });

  it('a greeting without a beep: the message waits beepWaitMs, then for a second of silence', async () => {
    const end = greeting.length / 8;
    const r = await detect(concat(greeting, silence(6000)));
    expect(r.decision?.reason).toBe('monologue');
    expect(r.cue).toBe('silence');
    expect(r.cueAtMs).toBeGreaterThanOrEqual(Math.max(end + 1000, r.decision!.atMs + DEFAULTS.beepWaitMs));
  });

  it('gives up waiting and cues "timeout" when the line never goes quiet', () => {
    const d = new AnsweringMachineDetector(DEFAULTS);
    const f = silence(20);
    let t = 0;
    for (let i = 0; i < 1500 && !d.messageCue; i++) d.push(f, true, (t += 20));
    expect(d.decision?.reason).toBe('monologue');
    expect(d.messageCue).toBe('timeout');
    expect(t).toBeGreaterThanOrEqual(d.decision!.atMs + DEFAULTS.beepWaitMs + 10_000);
  });

  it('a person saying "hello?" and waiting is no machine', async () => {
    const r = await detect(concat(silence(300), hello, silence(1500), hello, silence(1200), talk, silence(4000)));
    expect(r.decision).toBeNull();
    expect(r.beeps).toBe(0);
  });

  it('speech with DTMF digits in it has no beep', async () => {
    const digit = (lo: number, hi: number) => tone([lo, hi], 300, 5000);
    const pcm = concat(talk, silence(200), digit(697, 1209), silence(100), digit(852, 1477), silence(100), digit(941, 1336), silence(100), digit(941, 1209), talk);
    const r = await detect(pcm, BEEP_ONLY);
    expect(r.beeps).toBe(0);
    expect(r.decision).toBeNull();
  });

  it('a 100 ms blip is no beep, a 150 ms one is, wherever it falls in the frames', async () => {
    for (let offset = 0; offset < 160; offset += 20) {
      const short = await detect(concat(silence(500), new Int16Array(offset), tone([1000], 100), silence(500)), BEEP_ONLY);
      expect(short.beeps, `100 ms at offset ${offset}`).toBe(0);
      const long = await detect(concat(silence(500), new Int16Array(offset), tone([1000], 150), silence(500)), BEEP_ONLY);
      expect(long.decision?.reason, `150 ms at offset ${offset}`).toBe('beep');
    }
  });

  it('a click is no beep', async () => {
    const click = silence(100);
    click[3] = 30000;
    click[4] = -30000;
    click[5] = 12000;
    const r = await detect(concat(silence(500), click, silence(500), click, silence(500)), BEEP_ONLY);
    expect(r.beeps).toBe(0);
  });

  it('white noise is no beep', async () => {
    const r = await detect(concat(noise(3000, 2000, 7), noise(3000, 300, 9)), BEEP_ONLY);
    expect(r.beeps).toBe(0);
  });

  it.each([440, 850, 1000, 1400, 1900])('hears a %d Hz beep through G.711 over line noise (30 dB below)', async (hz) => {
    const beep = mix(tone([hz], 400, 6000), noise(400, 6000 / Math.SQRT2 / 31.6, hz));
    const line = ulawDecode(ulawEncode(concat(noise(1000, 150, 3), beep, noise(1000, 150, 4))));
    const r = await detect(line, BEEP_ONLY);
    expect(r.decision?.reason).toBe('beep');
  });

  it('given the VAD level of each frame it skips the tone fit on quiet frames and decides exactly as without', async () => {
    // Beeps just above and just below the -45 dBFS tone floor, one below it riding on a DC offset
    // (the VAD level keeps the DC, the tone fit removes it), the greeting and quiet noise.
    const withDc = tone([1000], 600, 200).map((v) => v + 300);
    const pcm = concat(
      hello, silence(400), tone([1000], 600, 290), silence(400), tone([1400], 600, 230), silence(400),
      withDc, noise(600, 120), greeting, silence(300), tone([1000], 500), silence(1000),
    );
    const r = await detectBothWays(pcm);
    expect(r.withLevel).toEqual(r.without);
    // and the pieces near the floor did count: the -44 dBFS beep is a beep, the -46 dBFS one is not
    const beepsAt = (ms: number) => Number(r.without[Math.floor(ms / 20) - 1].split(':')[2]);
    const firstBeepEnd = hello.length / 8 + 400 + 600;
    expect(beepsAt(firstBeepEnd + 100)).toBe(1);
    expect(beepsAt(firstBeepEnd + 400 + 600 + 100)).toBe(1);
  });

  it('a beep after beepWindowMs decides nothing (call waiting, hold music)', async () => {
    const settings = { ...DEFAULTS, beepWindowMs: DEFAULTS.windowMs };
    const r = await detect(concat(silence(DEFAULTS.windowMs + 500), tone([440], 300)), settings);
    expect(r.decision).toBeNull();
    // Past both windows the detector stops analysing (it costs every live call CPU otherwise):
    // the same beep just inside the window is counted, the late one is not even looked at.
    expect(r.beeps).toBe(0);
    const inWindow = await detect(concat(silence(DEFAULTS.windowMs - 500), tone([440], 300)), settings);
    expect(inWindow.beeps).toBe(1);
  });
});

// ------------------------------------------------------------------ in the Call

describe('Call with an answering machine', () => {
  async function answeredBy(h: ReturnType<typeof makeCall>, pcm: Int16Array, maxMs = 30_000) {
    await h.call.start();
    const all = frames(pcm);
    let i = 0;
    for (let t = 0; t < maxMs && !h.ended; t += 20) await h.tick(all[i++] ?? silence(20));
    return i;
  }

  it('hangup: drops the greeting playing over the machine, sets AA and hangs up', async () => {
    const brain = new StreamingBrain();
    brain.replies = [
      { text: 'Hello, this is Sam from Sunrise Solar calling about your energy bill and the new rebates in your area. Do you have a minute to talk about it today, or shall I call again later this week?' },
    ];
    // Barge-in off: our greeting plays on over the machine. While it plays, the echo guard keeps the
    // VAD from hearing much of the greeting under it, so here it is the beep that decides.
    const h = makeCall({ brain, agent: { bargeIn: { enabled: false } } });
    await answeredBy(h, concat(greeting, silence(300), tone([1000], 500), silence(3000)));
    const rec = h.ended!;
    expect(rec).not.toBeNull();
    expect(h.actions).toEqual([
      { type: 'set_disposition', status: 'AA' },
      { type: 'hangup', reason: 'answering machine (beep)' },
    ]);
    expect(rec.disposition).toBe('AA');
    expect(rec.endReason).toBe('agent-hangup');
    expect(rec.endDetail).toMatch(/answering machine/);
    expect(rec.actions.map((a) => a.action.type)).toEqual(['set_disposition', 'hangup']);
    // the greeting was cut where the machine was detected; no caller turn was taken
    expect(brain.inputs).toEqual([{ kind: 'greeting' }]);
    expect(rec.transcript).toHaveLength(1);
    expect(rec.transcript[0]).toMatchObject({ role: 'agent', interrupted: true });
    expect(rec.transcript[0].endMs).toBeLessThanOrEqual(rec.actions[0].atMs + 20);
    expect(rec.metrics.bargeInStopMs).toEqual([]);
  });

  it('hangup with barge-in on: the voicemail greeting is a monologue, not a caller turn', async () => {
    const brain = new StreamingBrain();
    const h = makeCall({ brain });
    await answeredBy(h, concat(greeting, silence(300), tone([1000], 500), silence(3000)));
    const rec = h.ended!;
    expect(rec).not.toBeNull();
    expect(h.actions).toEqual([
      { type: 'set_disposition', status: 'AA' },
      { type: 'hangup', reason: 'answering machine (monologue)' },
    ]);
    expect(rec.actions[0].atMs).toBeLessThan(h.cfg.agent.amd.windowMs);
    expect(brain.inputs.filter((i) => i.kind === 'utterance' || i.kind === 'no-match')).toEqual([]);
    expect(rec.transcript.filter((t) => t.role === 'caller')).toEqual([]);
    expect(h.stt.finalizeCalls).toBe(0);
  });

  it('leave-message: waits for the end of the beep, speaks the message, sets AL and hangs up after it', async () => {
    const message = 'Hi, this is Sunrise Solar. Please call us back at your convenience. Goodbye.';
    const h = makeCall({ agent: { amd: { action: 'leave-message', message } } });
    const beepEndMs = greeting.length / 8 + 300 + 500;
    await answeredBy(h, concat(greeting, silence(300), tone([1000], 500), silence(10_000)));
    const rec = h.ended!;
    expect(rec).not.toBeNull();
    expect(h.tts.spoken.at(-1)).toBe(message);
    expect(h.actions).toEqual([
      { type: 'set_disposition', status: 'AA' },
      { type: 'set_disposition', status: 'AL' },
      { type: 'hangup', reason: 'answering machine (monologue): message left after beep' },
    ]);
    expect(rec.disposition).toBe('AL');
    expect(rec.endDetail).toMatch(/answering machine.*message left/);
    const said = rec.transcript.at(-1)!;
    expect(said).toMatchObject({ role: 'agent', text: message });
    expect(said.interrupted).toBeUndefined();
    // the message went out after the beep, in full (ToneTts: 40 ms per character)
    expect(said.startMs).toBeGreaterThanOrEqual(beepEndMs);
    expect(said.endMs - said.startMs).toBeGreaterThanOrEqual(message.length * 40 - 20);
    const hangupAt = rec.actions.at(-1)!.atMs;
    expect(hangupAt).toBeGreaterThanOrEqual(said.endMs - 20);
  });

  it('leave-message on a greeting without a beep: speaks once the line has gone quiet', async () => {
    const h = makeCall({ agent: { amd: { action: 'leave-message', message: 'Please call us back.' } } });
    const greetingEndMs = greeting.length / 8;
    await answeredBy(h, concat(greeting, silence(15_000)));
    const rec = h.ended!;
    expect(rec.endDetail).toBe('answering machine (monologue): message left after silence');
    expect(rec.transcript.at(-1)!.startMs).toBeGreaterThanOrEqual(greetingEndMs + 1000);
    expect(rec.disposition).toBe('AL');
  });

  it('a person saying "hello?" is talked to, not hung up on', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hello, this is Sam.' }, { text: 'Great, thanks.' }];
    const h = makeCall({ brain });
    h.stt.finals.push('hello');
    await answeredBy(h, concat(silence(2500), hello, silence(9000)), 12_000);
    expect(h.ended).toBeNull();
    expect(h.actions).toEqual([]);
    expect(brain.inputs[1]).toEqual({ kind: 'utterance', text: 'hello', confidence: undefined });
    h.call.end('caller-hangup');
  });

  it('amd.enabled false: the same greeting and beep end nothing', async () => {
    const h = makeCall({ agent: { amd: { enabled: false } } });
    await answeredBy(h, concat(greeting, silence(300), tone([1000], 500)), 8_000);
    expect(h.actions.filter((a) => a.type === 'set_disposition')).toEqual([]);
    expect(h.ended).toBeNull();
    h.call.end('caller-hangup');
  });
});
