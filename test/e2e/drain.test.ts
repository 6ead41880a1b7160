/**
 * SIGTERM drain at daemon level, with the real agent: one call in progress on Asterisk; the drain
 * starts (what SIGTERM runs); calls arriving meanwhile on Asterisk and on FreeSWITCH are handed back
 * to the dialplan with AI_BRIDGE_REFUSED=draining and nothing set up for them; the active call is
 * ended with reason 'shutdown' when the drain time is up, handed back too, and its record is on
 * disk by the time drain() resolves.
 */
import { describe, expect, it } from 'vitest';
import { DRAIN_VALUE, DRAIN_VARIABLE } from '../../src/ops/drain.ts';
import { FakeAri } from '../helpers/fake-ari.ts';
import { FakeFreeswitch } from '../helpers/fake-freeswitch.ts';
import { readRecords, startTestDaemon, waitFor, closeAfterEach } from './helpers.ts';

const closing = closeAfterEach();

describe('e2e: drain (SIGTERM) with the real agent', () => {
  it('refuses new calls on both PBXs, ends the active one with shutdown, and its record is written', async () => {
    const fake = closing(await new FakeAri().start());
    const fs = closing(await FakeFreeswitch.start());
    fs.startRealtime();
    const rig = await startTestDaemon({
      asterisk: {
        url: fake.url,
        username: 'aibridge',
        password: 'test-secret',
        overLimit: { action: 'handback', target: { context: 'ai-fallback', extension: 's', priority: 1 } },
      },
      freeswitch: { port: fs.port, password: fs.password, unicast: { freeswitchPortMin: 38060, freeswitchPortMax: 38079 }, handback: { extension: '9000', context: 'agents' } },
      media: { rtpPortMin: 38040, rtpPortMax: 38059 },
    });
    closing(rig);
    const { daemon } = rig;
    await daemon.freeswitch!.ready();

    const first = fake.startCall({ callerNumber: '5550001111' });
    await waitFor(() => (fake.rtpFor(first.id)?.received.length ?? 0) >= 10, 'first call greeting', 15_000);
    expect(daemon.activeCalls()).toBe(1);

    const t0 = Date.now();
    const draining = daemon.drainer.drain({ drainSeconds: 1 });
    expect(daemon.drainer.draining).toBe(true);

    // A new Asterisk caller during the drain: back to the dialplan, variable set, nothing created.
    const second = fake.startCall({ callerNumber: '5550002222' });
    await waitFor(() => fake.channels.get(second.id)?.continuedTo !== undefined, 'Asterisk hand-back', 5000);
    expect(fake.channels.get(second.id)!.vars.get(DRAIN_VARIABLE)).toBe(DRAIN_VALUE);
    expect(fake.channels.get(second.id)!.continuedTo).toEqual({ context: 'ai-fallback', extension: 's', priority: 1 });
    expect(fake.bridges.size).toBe(1);
    expect(fake.unicastChannels()).toHaveLength(1);

    // A new FreeSWITCH call during the drain: variable set, transferred to freeswitch.handback, not killed.
    const fsCall = fs.placeCall({ callerNumber: '15550003333' });
    await waitFor(() => fsCall.transferredTo !== null, 'FreeSWITCH hand-back', 5000);
    expect(fsCall.transferredTo).toBe('9000 XML agents');
    expect(fsCall.vars[DRAIN_VARIABLE]).toBe(DRAIN_VALUE);
    expect(fsCall.up).toBe(true);
    expect(fs.commands.some((c) => c.startsWith('api uuid_kill') || c.startsWith('sendmsg'))).toBe(false);
    expect(daemon.activeCalls()).toBe(1);

    const summary = await draining;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(summary).toMatchObject({ finishedDuringDrain: 0, endedByShutdown: 1, stuck: 0 });
    expect(summary.writes).toMatchObject({ failed: 0, timedOut: 0 });
    expect(summary.writes.awaited).toBeGreaterThanOrEqual(1);

    // The record is on disk now (drain waited for it), not eventually.
    const records = readRecords(rig.recordsDir);
    expect(records).toHaveLength(1);
    expect(records[0]!.record.endReason).toBe('shutdown');
    expect(records[0]!.record.pbx).toBe('asterisk');
    expect(records[0]!.wav).not.toBeNull();

    // The shut-down caller went back to the dialplan (a human), and nothing of ours is left.
    await waitFor(
      () =>
        fake.unicastChannels().length === 0 &&
        fake.bridges.size === 0 &&
        fake.channels.get(first.id)?.continuedTo !== undefined &&
        daemon.asterisk!.counters().activeCalls === 0,
      'Asterisk cleanup',
      5000,
    );
    expect(fake.channels.get(first.id)?.vars.get('AI_BRIDGE_STATUS')).toBe('SHUTDOWN');
    expect(fake.channels.get(first.id)?.continuedTo).toEqual({ context: 'ai-fallback', extension: 's', priority: 1 });
    expect(daemon.activeCalls()).toBe(0);
  }, 60_000);
});
