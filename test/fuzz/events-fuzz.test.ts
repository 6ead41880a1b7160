import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AriEventFuzzer, EslEventFuzzer, formatEventsFuzzReport, runEventsFuzz, StreamFrameFuzzer } from '../../bench/fuzz-events.ts';
import { prng } from '../../bench/stats.ts';
import { makeHarness, waitFor, type Harness } from '../freeswitch/harness.ts';

const same = (a: { data: string | Buffer }, b: { data: string | Buffer }): boolean => Buffer.from(a.data).equals(Buffer.from(b.data));

describe('ARI / ESL / audio-stream fuzz (smoke: the full 1,000,000-input run is `ai-bridge bench --fuzz-events`)', () => {
  it('generates the same inputs for the same seed, and different ones for another', () => {
    const ids = { caller: 'c1', em: 'aibridge-em-1' };
    const a = new AriEventFuzzer(prng(7));
    const b = new AriEventFuzzer(prng(7));
    for (let i = 0; i < 300; i++) expect(same(a.next(ids), b.next(ids))).toBe(true);
    const c = new AriEventFuzzer(prng(8));
    expect(Array.from({ length: 50 }, () => !same(a.next(ids), c.next(ids))).some(Boolean)).toBe(true);
    const e1 = new EslEventFuzzer(prng(9));
    const e2 = new EslEventFuzzer(prng(9));
    for (let i = 0; i < 300; i++) expect(same(e1.next('u', i % 7 === 0), e2.next('u', i % 7 === 0))).toBe(true);
    const w1 = new StreamFrameFuzzer(prng(10), 6400);
    const w2 = new StreamFrameFuzzer(prng(10), 6400);
    for (let i = 0; i < 300; i++) expect(same(w1.next(), w2.next())).toBe(true);
  });

  it('5,000 inputs at live calls: no crash, untargeted calls keep talking and end cleanly, drops counted, nothing left', async () => {
    const r = await runEventsFuzz({ count: 5000, seed: 424242, maxSeconds: 20, controls: 3 });
    expect(r.failures, formatEventsFuzzReport(r)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.sent).toBe(5000);
    expect(r.uncaught).toBe(0);
    const [ari, esl, ws] = r.phases;
    expect(ari!.counters['eventStream.malformed']).toBeGreaterThan(0);
    expect(ari!.counters.eventsUnknown).toBeGreaterThan(0);
    expect(esl!.counters.eslEventsIgnored).toBeGreaterThan(0);
    expect(esl!.counters.eslEventErrors ?? 0).toBe(0);
    expect(ws!.counters.malformedFrames).toBeGreaterThanOrEqual(ws!.counters.fatalFramesSent!);
    for (const p of r.phases) {
      expect(p.controlAudioInMin, p.phase).toBeGreaterThanOrEqual(25);
      expect(p.controlAudioOutMin, p.phase).toBeGreaterThanOrEqual(25);
      expect(p.leaks, p.phase).toEqual({});
    }
  }, 90_000);
});

describe('ESL framing errors (found by the fuzz): the connection is dropped and re-made, never a crash', () => {
  let h: Harness | null = null;
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  /** Wait for `cond`, moving the adapter's ManualClock on (its reconnect back-off and watchdog run on it). */
  const settle = async (hh: Harness, cond: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 300 && !cond(); i++) {
      hh.clock.advance(20);
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(cond, what, 1000);
  };

  const conns = (hh: Harness) => [...(hh.fs as unknown as { conns: Set<{ socket: net.Socket; authed: boolean }> }).conns].filter((c) => c.authed);

  const cases: Array<[string, string]> = [
    // modesl decodeURIComponent()s header values inside its socket 'data' handler: this threw out of it.
    ['a header with a broken %-escape', 'Content-Type: command/reply\nReply-Text: %E0%A4%A\n\n'],
    // modesl reads text/event-plain bodies without checking there is one: TypeError in the handler.
    ['text/event-plain without a body', 'Content-Type: text/event-plain\nEvent-Name: DTMF\n\n'],
    // an event-json body that is not JSON: the next frames can no longer be trusted
    ['an event-json body that is not JSON', 'Content-Length: 5\nContent-Type: text/event-json\n\n{"a":'],
    // a second auth/request made modesl re-send the password and count an auth failure (no reconnect ever again)
    ['auth/request on an authenticated connection', 'Content-Type: auth/request\n\n'],
    ['a frame of an unknown Content-Type', 'Content-Length: 2\nContent-Type: text/whatever\n\n{}'],
    ['an absurd Content-Length', 'Content-Length: 900000000\nContent-Type: text/event-json\n\n{}'],
  ];

  for (const [what, bytes] of cases) {
    it(`${what}: reconnect, calls untouched, counted`, async () => {
      let uncaught = 0;
      const onUncaught = (): void => {
        uncaught++;
      };
      process.on('uncaughtException', onUncaught);
      try {
        h = await makeHarness({ apiTimeoutMs: 200, reconnect: { initialMs: 10, maxMs: 100 } });
        const ch = h.fs.placeCall();
        await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'call up');
        conns(h)[0]!.socket.write(bytes);
        await settle(h, () => h!.adapter.counters().eslFramingErrors === 1, 'framing error counted');
        await settle(h, () => h!.adapter.state === 'ready' && h!.adapter.counters().eslConnects === 2, 'reconnected');
        expect(h.adapter.counters().eslAuthFailures).toBe(0);
        expect(h.factory.get(ch.uuid)!.endReason).toBeNull();
        // still in control of the call after the reconnect: the caller's hang-up ends it
        ch.hangup();
        await settle(h, () => h!.adapter.calls().size === 0, 'call ended');
        expect(h.factory.get(ch.uuid)!.endReason).toBe('caller-hangup');
        expect(uncaught).toBe(0);
      } finally {
        process.off('uncaughtException', onUncaught);
      }
    });
  }

  it('a frame left half-read (Content-Length larger than the body) is noticed within two api timeouts', async () => {
    h = await makeHarness({ apiTimeoutMs: 200, reconnect: { initialMs: 10, maxMs: 100 } });
    conns(h)[0]!.socket.write('Content-Length: 5000\nContent-Type: text/event-json\n\n{"Event-Name":"DTMF"}');
    await settle(h, () => h!.adapter.counters().eslFramingErrors === 1, 'stall noticed');
    expect(h.clock.now()).toBeLessThanOrEqual(2 * 200 + 40);
    await settle(h, () => h!.adapter.state === 'ready' && h!.adapter.counters().eslConnects === 2, 'reconnected');
  });
});
