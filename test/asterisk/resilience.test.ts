import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/media/clock.ts';
import { isBridgeError } from '../../src/errors.ts';
import { FakeAri } from '../helpers/fake-ari.ts';
import { ToneSessionFactory } from '../helpers/fake-ari-session.ts';
import { NO_LEAKS, leakReport, rig, waitFor, type Rig } from './helpers.ts';

let r: Rig | null = null;
afterEach(async () => {
  await r?.close();
  r = null;
});

async function running(n = 1): Promise<void> {
  await waitFor(() => r!.factory.sessions.filter((s) => s.started).length >= n && r!.adapter.snapshot().activeCalls >= n, `${n} running call(s)`);
}

describe('ARI adapter: failures stay contained', () => {
  it('refuses Asterisk 13 at connect, clearly', async () => {
    const fake = await new FakeAri({ version: '13.29.2-vici' }).start();
    r = await rig({ fake });
    const err = await r.adapter.start().catch((e: unknown) => e);
    expect(isBridgeError(err, 'PBX_VERSION')).toBe(true);
    expect((err as Error).message).toMatch(/13\.29\.2.*16\.6/);
    expect(r.adapter.state).toBe('failed');
  });

  it('refuses wrong credentials without crashing and without printing the password', async () => {
    r = await rig({ config: { password: 'not-the-secret-XYZ' } });
    const err = await r.adapter.start().catch((e: unknown) => e);
    expect(isBridgeError(err, 'PBX_AUTH')).toBe(true);
    expect(JSON.stringify({ m: (err as Error).message, c: (err as { context?: unknown }).context })).not.toContain('not-the-secret-XYZ');
    expect(r.fake.counters.authFailures).toBeGreaterThan(0);
  });

  it('keeps retrying while Asterisk is down and connects when it comes up', async () => {
    const fake = new FakeAri();
    // Reserve a port, then stop listening on it: nothing answers there.
    await fake.start();
    const port = fake.port;
    await fake.close();
    const late = new FakeAri();
    r = await rig({ fake: late, config: { url: `http://127.0.0.1:${port}`, reconnect: { initialMs: 20, maxMs: 100 } } });
    const started = r.adapter.start();
    await waitFor(() => r!.adapter.state === 'connecting', 'connecting');
    await new Promise((res) => setTimeout(res, 150));
    await late.start(port);
    await started;
    expect(r.adapter.state).toBe('connected');
  });

  it('survives a malformed frame, an untyped frame and an unknown event type', async () => {
    r = await rig();
    await r.adapter.start();
    r.fake.sendRaw('{not json');
    r.fake.sendRaw(JSON.stringify({ no: 'type' }));
    r.fake.sendRaw(JSON.stringify({ type: 'ChannelFromTheFuture', channel: { id: 'x' } }));
    r.fake.sendRaw(JSON.stringify({ type: 'StasisStart', channel: 'not an object' }));
    const caller = r.fake.startCall({ callerNumber: '5550001111' });
    await running();
    r.fake.dtmf(caller.id, '7');
    await waitFor(() => r!.factory.sessions[0].digits.length === 1, 'dtmf after bad frames');
    const snap = r.adapter.snapshot();
    expect(snap.eventsMalformed).toBe(2);
    expect(snap.eventsUnknown).toBe(1);
    expect(r.adapter.state).toBe('connected');
  });

  it('reconnects the event stream mid-call and the call carries on', async () => {
    r = await rig();
    await r.adapter.start();
    const caller = r.fake.startCall({ callerNumber: '5550001111' });
    await running();
    const before = r.fake.counters.wsConnections;
    r.fake.dropEvents();
    await waitFor(() => r!.fake.counters.wsConnections > before && r!.fake.connectedClients === 1, 'reconnect');
    await waitFor(() => r!.adapter.state === 'connected', 'connected again');
    r.fake.dtmf(caller.id, '3');
    await waitFor(() => r!.factory.sessions[0].digits.includes('3'), 'dtmf after reconnect');
    expect(r.factory.sessions[0].ended).toBeNull();
    r.fake.hangup(caller.id);
    await waitFor(() => leakReport(r!).activeCalls === 0, 'cleanup');
    expect(leakReport(r)).toEqual(NO_LEAKS);
  });

  it('cleans up a call whose hang-up happened while the event stream was down', async () => {
    r = await rig();
    await r.adapter.start();
    const gone = r.fake.startCall({ callerNumber: '5550001111' });
    const stays = r.fake.startCall({ callerNumber: '5550002222' });
    await running(2);
    r.fake.rejectEvents = true;
    r.fake.dropEvents();
    await waitFor(() => r!.adapter.state === 'reconnecting', 'reconnecting');
    r.fake.hangup(gone.id); // nobody hears these events
    await new Promise((res) => setTimeout(res, 60));
    r.fake.rejectEvents = false;
    await waitFor(() => r!.adapter.snapshot().activeCalls === 1, 'reconciled');
    const ended = r.factory.byChannel(gone.id)!;
    expect(ended.ended?.reason).toBe('caller-hangup');
    expect(r.factory.byChannel(stays.id)!.ended).toBeNull();
    expect(r.fake.unicastChannels()).toHaveLength(1);
    expect(r.fake.bridges.size).toBe(1);
    r.fake.hangup(stays.id);
    await waitFor(() => leakReport(r!).activeCalls === 0, 'cleanup');
    expect(leakReport(r)).toEqual(NO_LEAKS);
  });

  it('a REST error in one call hands that caller back to the dialplan and leaves the other call alone', async () => {
    r = await rig();
    await r.adapter.start();
    const good = r.fake.startCall({ callerNumber: '5550001111' });
    await running();
    r.fake.failNext('POST', /\/channels\/externalMedia/, 400, 'external_host must be host:port');
    const bad = r.fake.startCall({ callerNumber: '5550002222' });
    await waitFor(() => r!.fake.channels.get(bad.id)?.continuedTo !== undefined, 'hand-back');
    expect(r.fake.channels.get(bad.id)?.vars.get('AI_BRIDGE_STATUS')).toBe('ERROR');
    await waitFor(() => r!.adapter.snapshot().activeCalls === 1, 'bad call removed');
    const snap = r.adapter.snapshot();
    expect(snap.setupFailures).toBe(1);
    expect(snap.restErrors).toBeGreaterThanOrEqual(1);
    expect(r.fake.bridges.size).toBe(1); // the failed call's bridge was deleted
    r.fake.dtmf(good.id, '9');
    await waitFor(() => r!.factory.byChannel(good.id)!.digits.includes('9'), 'good call still fine');
    r.fake.hangup(good.id);
    await waitFor(() => leakReport(r!).activeCalls === 0, 'cleanup');
    expect(leakReport(r)).toEqual(NO_LEAKS);
  });

  it('tolerates 404/409 answers during tear-down (already gone is the goal)', async () => {
    r = await rig();
    await r.adapter.start();
    const caller = r.fake.startCall({ callerNumber: '5550001111' });
    await running();
    r.fake.failNext('DELETE', /\/bridges\//, 404, 'Bridge not found');
    r.fake.hangup(caller.id);
    await waitFor(() => r!.adapter.snapshot().activeCalls === 0, 'cleanup');
    expect(r.fake.unicastChannels()).toHaveLength(0);
    // The bridge the fake pretended was gone is still there: the next sweep removes it.
    expect(r.fake.bridges.size).toBe(1);
    expect(await r.adapter.sweepOrphans()).toBe(1);
    expect(r.fake.bridges.size).toBe(0);
  });

  it('over the call limit: the caller goes back to the dialplan with a reason, no media is set up', async () => {
    r = await rig({ config: { maxCalls: 1, overLimit: { action: 'handback', target: { context: 'ai-fallback', extension: 's', priority: 1 } } } });
    await r.adapter.start();
    r.fake.startCall({ callerNumber: '5550001111' });
    await running();
    const extra = r.fake.startCall({ callerNumber: '5550002222' });
    await waitFor(() => r!.fake.channels.get(extra.id)?.continuedTo !== undefined, 'hand-back');
    expect(r.fake.channels.get(extra.id)!.continuedTo).toEqual({ context: 'ai-fallback', extension: 's', priority: 1 });
    expect(r.fake.channels.get(extra.id)!.vars.get('AI_BRIDGE_STATUS')).toBe('OVER_LIMIT');
    expect(r.fake.unicastChannels()).toHaveLength(1);
    expect(r.adapter.snapshot().rejectedOverLimit).toBe(1);
  });

  it('over the call limit with a message: plays it, then hands back', async () => {
    r = await rig({ config: { maxCalls: 1, overLimit: { action: 'message', sound: 'sound:all-circuits-busy-now' } } });
    await r.adapter.start();
    r.fake.startCall({ callerNumber: '5550001111' });
    await running();
    const extra = r.fake.startCall({ callerNumber: '5550002222', state: 'Ring' });
    await waitFor(() => r!.fake.channels.get(extra.id)?.continuedTo !== undefined, 'hand-back');
    const order = r.fake.requests.filter((q) => q.path.includes(extra.id)).map((q) => q.path.split('?')[0].split('/').pop());
    expect(order).toEqual(['variable', 'answer', 'play', 'continue']);
    expect(r.fake.events.some((e) => e.type === 'PlaybackFinished')).toBe(true);
  });

  it('ends a call at its maximum duration and hangs the caller up', async () => {
    const clock = new ManualClock();
    r = await rig({ clock, maxCallSeconds: 30 });
    await r.adapter.start();
    const caller = r.fake.startCall({ callerNumber: '5550001111' });
    await running();
    expect(r.adapter.snapshot().timersActive).toBe(1);
    clock.advance(29_000);
    expect(r.factory.sessions[0].ended).toBeNull();
    clock.advance(1_000);
    await waitFor(() => !r!.fake.channels.has(caller.id) && r!.adapter.snapshot().activeCalls === 0, 'max duration end');
    expect(r.factory.sessions[0].ended?.reason).toBe('max-duration');
    expect(leakReport(r)).toEqual(NO_LEAKS);
  });

  it('a caller who hangs up during set-up leaves nothing behind', async () => {
    r = await rig({ factory: new ToneSessionFactory({ startDelayMs: 150 }) });
    await r.adapter.start();
    const caller = r.fake.startCall({ callerNumber: '5550001111' });
    await waitFor(() => r!.factory.sessions.length === 1, 'session created');
    r.fake.hangup(caller.id);
    await waitFor(() => r!.adapter.snapshot().activeCalls === 0, 'cleanup');
    await new Promise((res) => setTimeout(res, 200));
    expect(leakReport(r)).toEqual(NO_LEAKS);
    expect(r.factory.sessions[0].ended?.reason).toBe('caller-hangup');
  });

  it('on start, removes ExternalMedia channels and bridges a previous run left behind', async () => {
    const fake = await new FakeAri().start();
    r = await rig({ fake });
    // Leftovers of a crashed run: created straight through the fake's REST API.
    const auth = { authorization: 'Basic ' + Buffer.from('aibridge:test-secret').toString('base64') };
    await fetch(`${fake.url}/ari/bridges/aibridge-br-old?type=mixing`, { method: 'POST', headers: auth });
    await fetch(`${fake.url}/ari/channels/externalMedia?app=ai-agent&external_host=127.0.0.1:9&format=ulaw&channelId=aibridge-em-old`, { method: 'POST', headers: auth });
    expect(fake.unicastChannels()).toHaveLength(1);
    await r.adapter.start();
    await waitFor(() => fake.unicastChannels().length === 0 && fake.bridges.size === 0, 'orphans removed');
    expect(r.adapter.snapshot().orphansCleaned).toBe(2);
  });
});
