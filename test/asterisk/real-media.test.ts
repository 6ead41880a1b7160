import { afterEach, describe, expect, it } from 'vitest';
import { ulawDecode } from '../../src/media/g711.ts';
import { NO_LEAKS, leakReport, rig, rms, ulawTone, waitFor, type Rig } from './helpers.ts';

let r: Rig | null = null;
afterEach(async () => {
  await r?.close();
  r = null;
});

describe('ARI adapter on the real media plane (RtpMediaSession)', () => {
  it('greeting out, caller audio in, DTMF, hang-up clean-up', async () => {
    r = await rig({ realMedia: true });
    await r.adapter.start();
    const caller = r.fake.startCall({ callerName: 'V1241705010000012345', callerNumber: '5551234567' });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session');
    const s = r.factory.sessions[0];
    const um = r.fake.rtpFor(caller.id)!;
    await waitFor(() => um.received.length >= 20, 'greeting RTP');
    const em = r.fake.unicastChannels()[0];
    expect(um.received[0].from).toBe(`127.0.0.1:${em.external!.port}`);
    expect(um.received.slice(0, 20).every((p) => p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    expect(rms([ulawDecode(new Uint8Array(um.receivedPayload()))])).toBeGreaterThan(3000);

    const before = s.inbound.length;
    await um.play(ulawTone(25));
    await waitFor(() => rms(s.inbound.slice(before)) > 1500, 'caller audio through the jitter buffer');
    r.fake.dtmf(caller.id, '4');
    await waitFor(() => s.digits.includes('4'), 'dtmf');

    r.fake.hangup(caller.id);
    await waitFor(() => leakReport(r!).activeCalls === 0, 'cleanup');
    expect(leakReport(r)).toEqual(NO_LEAKS);
  });

  it('20 calls at once on real sockets, all cleaned up', async () => {
    r = await rig({ realMedia: true });
    await r.adapter.start();
    const callers = Array.from({ length: 20 }, (_, i) => r!.fake.startCall({ callerNumber: `55500000${String(i).padStart(2, '0')}` }));
    await waitFor(() => callers.every((c) => (r!.fake.rtpFor(c.id)?.received.length ?? 0) >= 5), 'greetings', 20_000);
    const ports = new Set(r.fake.unicastChannels().map((c) => c.external!.port));
    expect(ports.size).toBe(20);
    callers.forEach((c) => r!.fake.hangup(c.id));
    await waitFor(() => leakReport(r!).activeCalls === 0, 'cleanup', 20_000);
    expect(leakReport(r)).toEqual(NO_LEAKS);
  });
});

describe('startAsteriskAdapter entry', () => {
  it('starts from the app config with the default RtpMediaSession binder and reports counters', async () => {
    const { startAsteriskAdapter } = await import('../../src/pbx/asterisk/index.ts');
    const { FakeAri } = await import('../helpers/fake-ari.ts');
    const { ToneSessionFactory } = await import('../helpers/fake-ari-session.ts');
    const { PortPool } = await import('../../src/media/port-pool.ts');
    const { Ticker } = await import('../../src/media/ticker.ts');
    const { configSchema } = await import('../../src/config/schema.ts');
    const fake = await new FakeAri().start();
    const ticker = new Ticker();
    ticker.start();
    const portPool = new PortPool(47000 + (process.pid % 50) * 20, 47019 + (process.pid % 50) * 20);
    const config = configSchema.parse({ asterisk: { url: fake.url, username: 'aibridge', password: 'test-secret' } });
    const factory = new ToneSessionFactory();
    const handle = await startAsteriskAdapter(config, { callFactory: factory, ticker, portPool });
    try {
      expect(handle.state).toBe('connected');
      const caller = fake.startCall({ callerNumber: '5551234567' });
      await waitFor(() => (fake.rtpFor(caller.id)?.received.length ?? 0) >= 3, 'greeting');
      expect(handle.counters().activeCalls).toBe(1);
      fake.hangup(caller.id);
      await waitFor(() => handle.counters().activeCalls === 0 && portPool.inUse === 0, 'cleanup');
      expect(handle.counters().channelsDeleted).toBe(1);
    } finally {
      await handle.close();
      ticker.stop();
      await fake.close();
    }
    expect(handle.state).toBe('closed');
  });
});
