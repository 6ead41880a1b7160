import { afterEach, describe, expect, it } from 'vitest';
import { NO_LEAKS, leakReport, rig, waitFor, type Rig } from './helpers.ts';

let r: Rig | null = null;
afterEach(async () => {
  await r?.close();
  r = null;
});

describe('ARI adapter: many calls at once', () => {
  it('100 concurrent calls get their own ports, all hear their greeting, and all clean up', async () => {
    r = await rig({ realMedia: true, config: { maxCalls: 150, requestTimeoutMs: 15_000 } });
    await r.adapter.start();
    const callers = Array.from({ length: 100 }, (_, i) =>
      r!.fake.startCall({ callerName: `V12417050100000${String(10000 + i).padStart(5, '0')}`, callerNumber: `555000${String(i).padStart(4, '0')}` }),
    );
    await waitFor(() => r!.factory.sessions.filter((s) => s.started).length === 100, '100 sessions', 30_000);
    expect(r.adapter.snapshot().activeCalls).toBe(100);
    expect(r.fake.unicastChannels()).toHaveLength(100);
    expect(r.fake.bridges.size).toBe(100);

    // Unique RTP ports, each the external_host of exactly one ExternalMedia channel.
    const hosts = r.fake.unicastChannels().map((c) => `${c.external!.host}:${c.external!.port}`);
    expect(new Set(hosts).size).toBe(100);
    expect(r.pool.inUse).toBe(100);

    // Every call's greeting reaches its own UnicastRTP side, from its own port.
    await waitFor(() => callers.every((c) => (r!.fake.rtpFor(c.id)?.received.length ?? 0) >= 5), 'greeting on every call', 30_000);
    for (const c of callers) {
      const um = r.fake.rtpFor(c.id)!;
      const em = r.fake.unicastChannels().find((x) => x.rtp === um)!;
      expect(um.received[0].from).toBe(`127.0.0.1:${em.external!.port}`);
    }
    // Lead ids reached the right calls.
    const leads = r.factory.sessions.map((s) => s.context.leadId).sort((a, b) => a! - b!);
    expect(leads[0]).toBe(10000);
    expect(leads[99]).toBe(10099);

    // Half hang up, half are ended by the agent.
    callers.forEach((c, i) => {
      if (i % 2 === 0) r!.fake.hangup(c.id);
      else r!.factory.byChannel(c.id)!.act({ type: 'hangup', reason: 'done' });
    });
    await waitFor(() => leakReport(r!).activeCalls === 0 && r!.fake.unicastChannels().length === 0 && r!.fake.bridges.size === 0, 'all cleaned', 30_000);
    expect(leakReport(r)).toEqual(NO_LEAKS);
    expect(r.fake.channels.size).toBe(0);
    const snap = r.adapter.snapshot();
    expect(snap.channelsCreated).toBe(100);
    expect(snap.bridgesCreated).toBe(100);
    expect(snap.setupFailures).toBe(0);
    expect(r.factory.sessions.filter((s) => s.ended?.reason === 'caller-hangup')).toHaveLength(50);
    expect(r.factory.sessions.filter((s) => s.ended?.reason === 'agent-hangup')).toHaveLength(50);
  });
});
