import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { PocketsphinxStt } from '../../src/providers/stt/pocketsphinx.ts';
import type { SttEvent, SttSession } from '../../src/providers/types.ts';
import { frames, phoneLine, recognize, synth, type TestVoice } from './speech-fixtures.ts';

// One grammar state of the qualification call ("are you the homeowner?") and one of the close.
const HOMEOWNER = ['yes', 'no', 'yes I am the homeowner', 'I rent', 'call me back tomorrow', 'not interested', 'take me off your list', 'who is this'];
const CLOSE = ['sure go ahead', "I'm busy right now", 'how much does it cost'];
const norm = (s: string) => s.toLowerCase();

describe('PocketsphinxStt (phone-band grammar decoding in a worker)', () => {
  let session: SttSession;
  const events: SttEvent[] = [];
  const ac = new AbortController();

  beforeAll(async () => {
    session = await new PocketsphinxStt().open({ callId: 'ps1', signal: ac.signal, expect: { phrases: HOMEOWNER } }, (e) => events.push(e));
  });
  afterAll(async () => {
    await session?.close();
  });

  const cases: Array<[TestVoice, string]> = [
    ['kal16', 'yes'],
    ['kal16', 'yes I am the homeowner'],
    ['kal16', 'take me off your list'],
    ['rms', 'no'],
    ['rms', 'call me back tomorrow'],
    ['espeak', 'not interested'],
    ['espeak', 'who is this'],
  ];
  it.each(cases)('voice %s, through µ-law: recognizes "%s"', async (voice, phrase) => {
    const fin = await recognize(session, events, frames(phoneLine(await synth(phrase, voice))));
    expect(fin.text).toBe(norm(phrase));
    expect(fin.endOfUtterance).toBe(true);
    expect(fin.confidence).toBeGreaterThan(0);
  });

  it.each([
    ['kal16', "what's the weather like today"],
    ['kal16', 'my dog just ran outside'],
    ['rms', 'I just sat down for dinner'],
  ] as Array<[TestVoice, string]>)('voice %s: out-of-grammar "%s" gives text ""', async (voice, phrase) => {
    const fin = await recognize(session, events, frames(phoneLine(await synth(phrase, voice))));
    expect(fin.text).toBe('');
  });

  it('silence only gives an empty final, with no speech-start', async () => {
    const n = events.length;
    const fin = await recognize(session, events, frames(new Int16Array(8000), 0, 0));
    expect(fin.text).toBe('');
    expect(events.slice(n).some((e) => e.type === 'speech-start')).toBe(false);
  });

  it('emits speech-start (and a partial) before the final', async () => {
    const n = events.length;
    await recognize(session, events, frames(phoneLine(await synth('yes I am the homeowner', 'kal16'))));
    const types = events.slice(n).map((e) => e.type);
    expect(types.indexOf('speech-start')).toBeGreaterThanOrEqual(0);
    expect(types.indexOf('speech-start')).toBeLessThan(types.indexOf('final'));
    expect(types).toContain('partial');
  });

  it('setExpectations switches the grammar without re-opening', async () => {
    const audio = frames(phoneLine(await synth('sure go ahead', 'kal16')));
    session.setExpectations!({ phrases: CLOSE });
    expect((await recognize(session, events, audio)).text).toBe('sure go ahead');
    // back to the homeowner state: "sure go ahead" is no longer an answer
    session.setExpectations!({ phrases: HOMEOWNER });
    expect((await recognize(session, events, audio)).text).not.toBe('sure go ahead');
  });

  it('phrases with words the dictionary lacks are dropped, the rest still work', async () => {
    session.setExpectations!({ phrases: ['yes', 'zzqxfoo blarg', 'no'] });
    const fin = await recognize(session, events, frames(phoneLine(await synth('no', 'kal16'))));
    expect(fin.text).toBe('no');
    session.setExpectations!({ phrases: HOMEOWNER });
  });
});

describe('PocketsphinxStt session lifecycle', () => {
  it('close() ends the worker thread; later calls are ignored, not thrown', async () => {
    const events: SttEvent[] = [];
    const s = await new PocketsphinxStt().open({ callId: 'ps2', signal: new AbortController().signal, expect: { phrases: ['yes', 'no'] } }, (e) => events.push(e));
    const workersBefore = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
    await s.close();
    await s.close(); // idempotent
    s.write(new Int16Array(160));
    s.finalize();
    await new Promise((r) => setTimeout(r, 50));
    expect(events.filter((e) => e.type === 'final' || e.type === 'error')).toEqual([]);
    const workersAfter = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
    expect(workersAfter).toBeLessThan(workersBefore);
  });

  it('a broken model folder is a clear BridgeError from open(), not a crash', async () => {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'ai-bridge-ps-bad-'));
    try {
      await expect(
        new PocketsphinxStt({ modelDir: bad }).open({ callId: 'ps4', signal: new AbortController().signal, expect: { phrases: ['yes'] } }, () => undefined),
      ).rejects.toMatchObject({ name: 'BridgeError', code: 'PROVIDER_UNAVAILABLE' });
    } finally {
      fs.rmSync(bad, { recursive: true, force: true });
    }
  });

  it('aborting the call signal closes the session', async () => {
    const ac = new AbortController();
    const s = await new PocketsphinxStt().open({ callId: 'ps3', signal: ac.signal, expect: { phrases: ['yes'] } }, () => undefined);
    const before = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
    ac.abort();
    await s.close(); // resolves once the worker has exited
    const after = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
    expect(after).toBeLessThan(before);
  });
});
