/**
 * Drain admission at the adapters: a call refused by `admit()` (the daemon draining) goes back to the
 * dialplan with the refusal variable set, before anything is created for it — on Asterisk no bridge,
 * no ExternalMedia, no port, no CallSession; on FreeSWITCH a uuid_transfer to freeswitch.handback,
 * never a uuid_kill. Both through the real client libraries (ari-client, modesl) against the fakes.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { asteriskSchema } from '../../src/config/asterisk.ts';
import { freeswitchSchema } from '../../src/config/freeswitch.ts';
import { PortPool } from '../../src/media/port-pool.ts';
import { Ticker } from '../../src/media/ticker.ts';
import { CallDrainer, DRAIN_VALUE, DRAIN_VARIABLE } from '../../src/ops/drain.ts';
import { AsteriskAdapter } from '../../src/pbx/asterisk/adapter.ts';
import { startFreeswitchAdapter, type FreeswitchAdapter } from '../../src/pbx/freeswitch/index.ts';
import { systemClock } from '../../src/media/clock.ts';
import { FakeAri } from '../helpers/fake-ari.ts';
import { testMediaBinder } from '../helpers/fake-ari-media.ts';
import { ToneSessionFactory } from '../helpers/fake-ari-session.ts';
import { FakeFreeswitch } from '../helpers/fake-freeswitch.ts';
import { ToneEchoFactory } from '../helpers/fake-freeswitch-agent.ts';
import { waitFor } from './helpers.ts';

const silent = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('Asterisk: admission refused while draining', () => {
  async function setup() {
    const fake = await new FakeAri().start();
    const ticker = new Ticker();
    ticker.start();
    const pool = new PortPool(38150, 38169);
    const media = { open: 0 };
    const factory = new ToneSessionFactory();
    const drainer = new CallDrainer(systemClock, silent);
    const adapter = new AsteriskAdapter({
      config: asteriskSchema.parse({
        url: fake.url,
        username: 'aibridge',
        password: 'test-secret',
        reconnect: { initialMs: 20, maxMs: 200 },
        overLimit: { action: 'handback', target: { context: 'ai-fallback', extension: 's', priority: 1 } },
      })!,
      maxCallSeconds: 600,
      callFactory: factory,
      media: testMediaBinder(pool, ticker, media),
      logger: silent,
      admit: () => drainer.admit(),
    });
    cleanups.push(async () => {
      await adapter.close();
      ticker.stop();
      await fake.close();
    });
    await adapter.start();
    return { fake, adapter, factory, drainer, pool, media };
  }

  it('hands the caller back with the refusal variable before creating anything', async () => {
    const { fake, adapter, factory, drainer, pool, media } = await setup();
    // One call admitted before the drain, so the drain has something to wait for.
    const first = fake.startCall({ callerNumber: '5550001111' });
    await waitFor(() => factory.sessions[0]?.started === true, 'first call running');
    drainer.track(factory.sessions[0]!);
    const draining = drainer.drain({ drainSeconds: 30, endGraceMs: 1000 });
    expect(drainer.draining).toBe(true);

    const requestsBefore = fake.requests.length;
    const second = fake.startCall({ callerNumber: '5550002222', state: 'Ring' });
    await waitFor(() => fake.channels.get(second.id)?.continuedTo !== undefined, 'hand-back of the refused call');
    const ch = fake.channels.get(second.id)!;
    expect(ch.continuedTo).toEqual({ context: 'ai-fallback', extension: 's', priority: 1 });
    expect(ch.vars.get(DRAIN_VARIABLE)).toBe(DRAIN_VALUE);
    expect(ch.vars.get('AI_BRIDGE_STATUS')).toBe('SHUTDOWN');
    // Only variables + continue on the refused caller: no answer, bridge, ExternalMedia.
    const after = fake.requests.slice(requestsBefore).map((q) => `${q.method} ${q.path.split('?')[0]}`);
    expect(after.every((p) => p.includes(second.id))).toBe(true);
    expect(after.map((p) => p.split('/').pop())).toEqual(['variable', 'variable', 'continue']);
    expect(fake.bridges.size).toBe(1); // the first call's only
    expect(fake.unicastChannels()).toHaveLength(1);
    expect(factory.sessions).toHaveLength(1);
    expect(pool.inUse).toBe(1);
    expect(media.open).toBe(1);
    expect(adapter.snapshot()).toMatchObject({ rejectedAdmission: 1, setupFailures: 0, activeCalls: 1 });

    // The admitted call finishes on its own during the drain; everything is released.
    fake.hangup(first.id);
    const summary = await draining;
    expect(summary).toMatchObject({ finishedDuringDrain: 1, endedByShutdown: 0, stuck: 0 });
    await waitFor(() => adapter.snapshot().activeCalls === 0 && fake.bridges.size === 0 && pool.inUse === 0, 'cleanup');
  });

  it('admits normally when not draining, and a throwing admit() never costs the caller', async () => {
    const fake = await new FakeAri().start();
    const ticker = new Ticker();
    ticker.start();
    const pool = new PortPool(38170, 38179);
    const factory = new ToneSessionFactory();
    const adapter = new AsteriskAdapter({
      config: asteriskSchema.parse({ url: fake.url, username: 'aibridge', password: 'test-secret' })!,
      maxCallSeconds: 600,
      callFactory: factory,
      media: testMediaBinder(pool, ticker),
      logger: silent,
      admit: () => {
        throw new Error('broken check');
      },
    });
    cleanups.push(async () => {
      await adapter.close();
      ticker.stop();
      await fake.close();
    });
    await adapter.start();
    const c = fake.startCall({ callerNumber: '5550003333' });
    await waitFor(() => factory.sessions[0]?.started === true, 'call admitted');
    expect(fake.channels.get(c.id)?.continuedTo).toBeUndefined();
    fake.hangup(c.id);
    await waitFor(() => adapter.snapshot().activeCalls === 0 && pool.inUse === 0, 'cleanup');
  });
});

describe('FreeSWITCH: admission refused while draining', () => {
  async function setup(playback: 'unicast' | 'stream-audio', handback?: { extension: string; context: string }) {
    const fs = await FakeFreeswitch.start();
    const ticker = new Ticker();
    ticker.start();
    const factory = new ToneEchoFactory(10);
    const drainer = new CallDrainer(systemClock, silent);
    const cfg = freeswitchSchema.parse({
      port: fs.port,
      password: fs.password,
      playback,
      ws: { port: 0, secret: 'test-secret-0123456789abcdef' },
      unicast: { freeswitchPortMin: 38180, freeswitchPortMax: 38199 },
      ...(handback ? { handback } : {}),
    })!;
    const adapter: FreeswitchAdapter = await startFreeswitchAdapter(
      { freeswitch: cfg, transfers: {} },
      { callFactory: factory, ticker, logger: silent, admit: () => drainer.admit() },
    );
    cleanups.push(async () => {
      await adapter.close();
      ticker.stop();
      await fs.close();
    });
    await adapter.ready();
    return { fs, adapter, factory, drainer };
  }

  for (const playback of ['unicast', 'stream-audio'] as const) {
    it(`${playback}: the refused call gets the variable and is transferred to the hand-back target, not killed`, async () => {
      const { fs, adapter, factory, drainer } = await setup(playback, { extension: '9999', context: 'operators' });
      const draining = drainer.drain({ drainSeconds: 0 });
      await draining;
      const ch = fs.placeCall({ callerNumber: '15550004444' });
      await waitFor(() => ch.transferredTo !== null, 'transfer');
      expect(ch.transferredTo).toBe('9999 XML operators');
      expect(ch.vars[DRAIN_VARIABLE]).toBe(DRAIN_VALUE);
      expect(ch.vars.ai_bridge).toBe('false');
      expect(ch.up).toBe(true);
      // Give any duplicate ANSWER/PARK handling a chance to misbehave.
      await new Promise((r) => setTimeout(r, 100));
      const mine = fs.commands.filter((c) => c.includes(ch.uuid));
      expect(mine).toEqual([
        `api uuid_setvar ${ch.uuid} ${DRAIN_VARIABLE} ${DRAIN_VALUE}`,
        `api uuid_setvar ${ch.uuid} ai_bridge false`,
        `api uuid_transfer ${ch.uuid} 9999 XML operators`,
      ]);
      expect(fs.commands.some((c) => c.startsWith('api uuid_kill'))).toBe(false);
      expect(factory.created).toHaveLength(0);
      expect(adapter.counters()).toMatchObject({ activeCalls: 0, callsStarted: 0, callsHandedBack: 1 });
    });
  }

  it('default hand-back target is ai_bridge_handback in context default', async () => {
    const { fs, drainer } = await setup('unicast');
    await drainer.drain({ drainSeconds: 0 });
    const ch = fs.placeCall();
    await waitFor(() => ch.transferredTo !== null, 'transfer');
    expect(ch.transferredTo).toBe('ai_bridge_handback XML default');
  });
});
