import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFreeswitchAdapter } from '../../src/pbx/freeswitch/index.ts';
import { freeswitchSchema } from '../../src/config/freeswitch.ts';
import { isBridgeError } from '../../src/errors.ts';
import { ManualClock } from '../../src/media/clock.ts';
import { Ticker } from '../../src/media/ticker.ts';
import { FakeFreeswitch } from '../helpers/fake-freeswitch.ts';
import { energy, tone, ToneEchoFactory } from '../helpers/fake-freeswitch-agent.ts';
import { makeHarness, SECRET, waitFor, type Harness } from './harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('barge-in', () => {
  it('stream-audio: flush breaks the playing file and drops queued chunks (uuid_break all)', async () => {
    h = await makeHarness({ playback: 'stream-audio' }, { greetingFrames: 0 });
    const ch = h.fs.placeCall();
    await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
    const agent = h.factory.get(ch.uuid)!;
    agent.echo = false;
    agent.speak(tone(100, 300, 8000)); // a 2 s reply
    for (let i = 0; i < 80 && (ch.queuedFiles < 2 || ch.heard.length === 0); i++) await h.step();
    expect(ch.queuedFiles).toBeGreaterThanOrEqual(2); // playing one, more queued: back to back
    const heardBefore = ch.heard.length;
    expect(heardBefore).toBeGreaterThan(0);
    agent.bargeIn();
    await waitFor(() => h!.fs.commands.includes(`api uuid_break ${ch.uuid} all`), 'uuid_break');
    await h.step(10);
    expect(ch.queuedFiles).toBe(0);
    expect(ch.heard.length).toBeLessThanOrEqual(heardBefore + 1);
    expect(h.adapter.counters().breaks).toBe(1);
  });

  it('stream-audio: chunks play back to back without gaps', async () => {
    h = await makeHarness({ playback: 'stream-audio' }, { greetingFrames: 0 });
    const ch = h.fs.placeCall();
    await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
    const agent = h.factory.get(ch.uuid)!;
    agent.echo = false;
    agent.speak(tone(50, 300, 8000));
    for (let i = 0; i < 120 && ch.heard.length < 50; i++) {
      await h.step();
      // a real 20 ms period leaves the file/event/broadcast round trip far more time than a manual step
      const c = h.adapter.counters();
      await waitFor(() => h!.adapter.counters().broadcasts === c.chunksSent, 'broadcast of every sent chunk');
    }
    expect(ch.heard.length).toBe(50);
    const times = ch.heard.map((x) => x.atMs);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(20);
  });

  it('unicast: flush needs no command, the next frames are simply not sent', async () => {
    h = await makeHarness({ playback: 'unicast' }, { greetingFrames: 0 });
    const ch = h.fs.placeCall();
    await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
    const agent = h.factory.get(ch.uuid)!;
    agent.echo = false;
    agent.speak(tone(100, 300, 8000));
    for (let i = 0; i < 40 && ch.heard.length < 5; i++) await h.step();
    agent.bargeIn();
    await h.step(3);
    const n = ch.heard.length;
    await h.step(10);
    expect(ch.heard.length).toBe(n);
    expect(agent.pulledAudio).toBeLessThan(30);
    expect(h.fs.commands.some((c) => c.startsWith('api uuid_break'))).toBe(false);
  });
});

describe('ESL connection', () => {
  it('reconnects after a drop (capped back-off) and keeps serving; calls gone meanwhile are ended', async () => {
    h = await makeHarness({ reconnect: { initialMs: 100, maxMs: 400 } });
    const keep = h.fs.placeCall();
    const gone = h.fs.placeCall();
    await waitFor(() => h!.adapter.counters().activeCalls === 2 && h!.factory.created.every((a) => a.started), 'two calls');
    h.fs.dropConnections();
    await waitFor(() => h!.adapter.state === 'backoff', 'backoff');
    gone.up = false; // hung up while we could not see it (no event reaches us)
    h.clock.advance(100);
    await waitFor(() => h!.adapter.state === 'ready', 'reconnected');
    expect(h.adapter.counters().eslConnects).toBe(2);
    await waitFor(() => h!.adapter.counters().activeCalls === 1, 'reconciled');
    expect(h.factory.get(gone.uuid)!.endReason).toBe('caller-hangup');
    expect(h.factory.get(keep.uuid)!.endReason).toBeNull();
    // still serving new calls
    const next = h.fs.placeCall();
    await waitFor(() => h!.factory.get(next.uuid)?.started === true, 'new call after reconnect');
  });

  it('backs off exponentially up to the cap while FreeSWITCH is down', async () => {
    h = await makeHarness({ reconnect: { initialMs: 100, maxMs: 300 } });
    const port = h.fs.port;
    await h.fs.close();
    await waitFor(() => h!.adapter.state === 'backoff', 'backoff');
    // 100, 200, 300 (cap), 300: each attempt refused, and no attempt before its delay
    for (const delay of [100, 200, 300, 300]) {
      h.clock.advance(delay - 1);
      expect(h.adapter.state).toBe('backoff');
      h.clock.advance(1);
      await waitFor(() => h!.adapter.state === 'backoff', 'refused again');
    }
    expect(port).toBeGreaterThan(0);
    h.fs = await FakeFreeswitch.start(); // so close() has something to close
  });

  it('a wrong password is a clear PBX_AUTH error that names neither the password nor retries', async () => {
    const fs = await FakeFreeswitch.start('right-password');
    const ticker = new Ticker(new ManualClock());
    const cfg = freeswitchSchema.parse({ port: fs.port, password: 'wrong-password-xyz' })!;
    const err = await startFreeswitchAdapter({ freeswitch: cfg, transfers: {} }, { callFactory: new ToneEchoFactory(), ticker }).catch((e: unknown) => e);
    expect(isBridgeError(err, 'PBX_AUTH')).toBe(true);
    expect(String((err as Error).message)).toMatch(/rejected the password/);
    expect(JSON.stringify(err) + String((err as Error).message)).not.toContain('wrong-password-xyz');
    expect(fs.commands).toEqual(['auth <password>']);
    await new Promise((r) => setTimeout(r, 50));
    expect(fs.connectionCount).toBe(0);
    await fs.close();
  });
});

describe('mod_audio_stream WebSocket security and validation', () => {
  async function upgradeStatus(port: number, path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
      ws.on('unexpected-response', (_req, res: http.IncomingMessage) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.close();
      });
      ws.on('error', reject);
    });
  }

  it('refuses connections without the secret (401) and counts them', async () => {
    h = await makeHarness({ playback: 'stream-audio' });
    const port = h.adapter.wsPort;
    expect(await upgradeStatus(port, '/call?id=x')).toBe(401);
    expect(await upgradeStatus(port, `/${SECRET.slice(0, -1)}X/abc`)).toBe(401);
    expect(await upgradeStatus(port, `/${SECRET}/not-a-call-of-ours`)).toBe(404);
    expect(h.adapter.counters()).toMatchObject({ wsUnauthorized: 2, wsUnknownCall: 1 });
  });

  it('a malformed frame closes that call only, with a logged reason', async () => {
    h = await makeHarness({ playback: 'stream-audio' });
    const bad = h.fs.placeCall();
    const good = h.fs.placeCall();
    await waitFor(() => h!.factory.created.length === 2 && h!.factory.created.every((a) => a.started), 'both started');
    await waitFor(() => bad.stream?.state === 'open' && good.stream?.state === 'open', 'streams open');
    bad.stream!.ws!.send(Buffer.alloc(333), { binary: true }); // not whole 20 ms L16 frames
    await waitFor(() => !bad.up && bad.wsCloseCodes.length > 0, 'bad call ended');
    expect(bad.wsCloseCodes).toContain(1003);
    expect(h.factory.get(bad.uuid)!.endReason).toBe('error');
    expect(good.up).toBe(true);
    good.say(tone(3, 1000, 6000));
    await h.step(8);
    expect(h.factory.get(good.uuid)!.inbound.filter((f) => energy(f) > 1000).length).toBe(3);
    expect(h.adapter.counters().malformedFrames).toBe(1);
  });

  it('an oversized frame (over maxFrameBytes) closes that call with 1009', async () => {
    h = await makeHarness({ playback: 'stream-audio', ws: { port: 0, secret: SECRET, maxFrameBytes: 640 } });
    const ch = h.fs.placeCall();
    await waitFor(() => h!.factory.get(ch.uuid)?.started === true && ch.stream?.state === 'open', 'started');
    ch.stream!.ws!.send(Buffer.alloc(6400), { binary: true });
    await waitFor(() => !ch.up && ch.wsCloseCodes.length > 0, 'ended');
    expect(ch.wsCloseCodes).toContain(1009);
    expect(h.adapter.counters().malformedFrames).toBe(1);
  });

  it('16 kHz streams are downsampled to 8 kHz 160-sample frames', async () => {
    h = await makeHarness({ playback: 'stream-audio', ws: { port: 0, secret: SECRET, sampleRate: 16000 } });
    const ch = h.fs.placeCall();
    await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'started');
    expect(h.fs.commands.find((c) => c.startsWith('api uuid_audio_stream'))).toMatch(/ mono 16k /);
    ch.say(tone(6, 500, 8000));
    await h.step(12);
    const loud = h.factory.get(ch.uuid)!.inbound.filter((f) => energy(f) > 2000);
    expect(loud.length).toBeGreaterThanOrEqual(5);
    expect(loud.every((f) => f.length === 160)).toBe(true);
  });
});

describe('scale and cleanup', () => {
  it('100 concurrent calls run and leave no sockets, timers or ticker subscribers behind', async () => {
    // Above Linux's ephemeral range (32768-60999): the fake binds these as FreeSWITCH would, and a port
    // in the ephemeral range can be held by any client socket of a test running beside this one.
    const base = 61000 + Math.floor(Math.random() * 4000);
    h = await makeHarness({ playback: 'unicast', maxCalls: 100, unicast: { freeswitchPortMin: base, freeswitchPortMax: base + 199 } }, { greetingFrames: 3 });
    const chans = Array.from({ length: 100 }, () => h!.fs.placeCall());
    await waitFor(() => h!.factory.created.length === 100 && h!.factory.created.every((a) => a.started), '100 started', 10000);
    await waitFor(() => chans.every((c) => c.unicast !== null), 'unicast bound', 10000);
    for (let i = 0; i < 10; i++) await h.step();
    expect(h.ticker.size).toBe(100);
    expect(chans.filter((c) => c.heard.length > 0).length).toBe(100);
    for (const [i, c] of chans.entries()) {
      if (i % 2 === 0) c.hangup();
      else h.factory.get(c.uuid)!.act({ type: 'hangup', reason: 'bye' });
    }
    await waitFor(() => h!.adapter.counters().activeCalls === 0, 'all cleaned', 10000);
    expect(chans.every((c) => !c.up)).toBe(true);
    expect(h.ticker.size).toBe(0);
    expect(h.clock.pendingTimers()).toBe(1); // only the ticker's own next tick
    expect(h.adapter.counters()).toMatchObject({ callsStarted: 100, callsEnded: 100, hangupsByCaller: 50, hangupsByAgent: 50 });
  }, 30000);

  it('with media.tickSlots 4 the legs spread over the four sub-ticks, each keeping its own', async () => {
    h = await makeHarness({ playback: 'unicast' }, { greetingFrames: 3, tickSlots: 4 });
    const chans = Array.from({ length: 8 }, () => h!.fs.placeCall());
    await waitFor(() => h!.factory.created.length === 8 && h!.factory.created.every((a) => a.started), '8 started');
    await waitFor(() => chans.every((c) => c.unicast !== null), 'unicast bound');
    // Where in the 20 ms period each leg's tick hands its frame to the agent.
    const phases = new Map<string, Set<number>>();
    for (const a of h.factory.created) {
      const push = a.pushInbound.bind(a);
      a.pushInbound = (frame) => {
        const set = phases.get(a.id) ?? new Set<number>();
        set.add(h!.clock.now() % 20);
        phases.set(a.id, set);
        push(frame);
      };
    }
    for (let i = 0; i < 5; i++) await h.step();
    expect(phases.size).toBe(8);
    for (const set of phases.values()) expect(set.size).toBe(1); // one sub-tick for life
    const perPhase = new Map<number, number>();
    for (const set of phases.values()) for (const p of set) perPhase.set(p, (perPhase.get(p) ?? 0) + 1);
    expect([...perPhase.entries()].sort((x, y) => x[0] - y[0])).toEqual([[0, 2], [5, 2], [10, 2], [15, 2]]);
    chans.forEach((c) => c.hangup());
    await waitFor(() => h!.adapter.counters().activeCalls === 0, 'all cleaned');
    expect(h.ticker.size).toBe(0);
  });
});
