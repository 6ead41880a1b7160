import pino from 'pino';
import { PortPool } from '../../src/media/port-pool.ts';
import { Ticker } from '../../src/media/ticker.ts';
import { asteriskSchema, type AsteriskConfigInput } from '../../src/config/asterisk.ts';
import { AsteriskAdapter } from '../../src/pbx/asterisk/adapter.ts';
import type { TransferTarget } from '../../src/config/schema.ts';
import type { Clock } from '../../src/media/clock.ts';
import type { Vicidial } from '../../src/vicidial/action-sink.ts';
import { FakeAri } from '../helpers/fake-ari.ts';
import { ToneSessionFactory } from '../helpers/fake-ari-session.ts';
import { testMediaBinder } from '../helpers/fake-ari-media.ts';
import { rtpMediaBinder } from '../../src/pbx/asterisk/media-rtp-binder.ts';

/** Poll until `cond` holds; bounded in time (fails the test with `what`). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Rig {
  fake: FakeAri;
  adapter: AsteriskAdapter;
  factory: ToneSessionFactory;
  pool: PortPool;
  ticker: Ticker;
  media: { open: number };
  close(): Promise<void>;
}

let portBase = 42000 + (process.pid % 20) * 400;

export async function rig(opts: {
  config?: Partial<AsteriskConfigInput>;
  transfers?: Record<string, TransferTarget>;
  factory?: ToneSessionFactory;
  fake?: FakeAri;
  clock?: Clock;
  vicidial?: Vicidial;
  maxCallSeconds?: number;
  /** The real RtpMediaSession binder instead of the test binder. */
  realMedia?: boolean;
} = {}): Promise<Rig> {
  const fake = opts.fake ?? (await new FakeAri().start());
  const pool = new PortPool(portBase, portBase + 399);
  portBase += 0;
  const ticker = new Ticker();
  ticker.start();
  const media = { open: 0 };
  const factory = opts.factory ?? new ToneSessionFactory();
  const config = asteriskSchema.parse({
    url: fake.url,
    username: 'aibridge',
    password: 'test-secret',
    reconnect: { initialMs: 20, maxMs: 200 },
    ...opts.config,
  })!;
  const adapter = new AsteriskAdapter({
    config,
    transfers: opts.transfers,
    maxCallSeconds: opts.maxCallSeconds ?? 600,
    callFactory: factory,
    media: opts.realMedia
      ? rtpMediaBinder({ pool, ticker, bindAddress: '127.0.0.1', jitterBufferMs: 60, logger: pino({ level: 'silent' }) })
      : testMediaBinder(pool, ticker, media),
    clock: opts.clock,
    vicidial: opts.vicidial,
    logger: pino({ level: process.env.TEST_LOG ?? 'silent' }),
  });
  return {
    fake,
    adapter,
    factory,
    pool,
    ticker,
    media,
    async close() {
      await adapter.close();
      ticker.stop();
      await fake.close();
    },
  };
}

/** Nothing of ours is left anywhere: Asterisk side, sockets, ports, timers, counters balanced. */
export function leakReport(r: Rig): Record<string, number> {
  const c = r.adapter.snapshot();
  return {
    unicastChannels: r.fake.unicastChannels().length,
    bridges: r.fake.bridges.size,
    openSockets: r.media.open,
    portsInUse: r.pool.inUse,
    activeCalls: c.activeCalls,
    timers: c.timersActive,
    channelBalance: c.channelsCreated - c.channelsDeleted,
    bridgeBalance: c.bridgesCreated - c.bridgesDeleted,
    portBalance: c.portsBound - c.portsReleased,
    tickerSubscribers: r.ticker.size,
  };
}

export const NO_LEAKS = {
  unicastChannels: 0, bridges: 0, openSockets: 0, portsInUse: 0, activeCalls: 0, timers: 0,
  channelBalance: 0, bridgeBalance: 0, portBalance: 0, tickerSubscribers: 0,
};

export function ulawTone(frames: number, freq = 700): Uint8Array {
  // Encoded through the daemon's own codec would hide codec bugs; a plain G.711 mu-law encoder here.
  const out = new Uint8Array(frames * 160);
  for (let i = 0; i < out.length; i++) out[i] = muLaw(Math.round(6000 * Math.sin((2 * Math.PI * freq * i) / 8000)));
  return out;
}

function muLaw(sample: number): number {
  const BIAS = 0x84;
  let sign = 0;
  let s = sample;
  if (s < 0) {
    s = -s;
    sign = 0x80;
  }
  s = Math.min(s, 32635) + BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

export function rms(frames: Int16Array[]): number {
  let sum = 0;
  let n = 0;
  for (const f of frames) for (const v of f) {
    sum += v * v;
    n++;
  }
  return n ? Math.sqrt(sum / n) : 0;
}
