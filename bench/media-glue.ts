/**
 * One benchmark call's media: the daemon's real RtpMediaSession (socket from the port pool, jitter
 * buffer, DTMF, G.711, pacer on the shared Ticker) driving the call, with its counters flattened so
 * the bench can sum them over all calls.
 */
import type { CallSession } from '../src/agent/call-port.ts';
import type { PortPool } from '../src/media/port-pool.ts';
import { RtpMediaSession } from '../src/media/rtp-media-session.ts';
import type { Ticker } from '../src/media/ticker.ts';

export interface BenchMedia {
  readonly localPort: number;
  /** Start driving `call` (a media opened without one: a ramp's call, once admitted). */
  attach(call: CallSession): void;
  /** Flat numeric counters (summed over calls by the bench). */
  counters(): Record<string, number>;
  close(): Promise<void>;
}

export function flattenCounters(c: ReturnType<RtpMediaSession['counters']>): Record<string, number> {
  const flat: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'number') flat[k] = v;
    else for (const [k2, v2] of Object.entries(v as Record<string, number>)) flat[`${k}.${k2}`] = v2;
  }
  return flat;
}

export async function openBenchMedia(opts: {
  pool: PortPool;
  ticker: Ticker;
  /** Omitted: the session binds its port now and is attached later (attach). */
  call?: CallSession;
  jitterBufferMs: number;
  jitterAdaptive?: boolean;
  speechGateDbfs?: number;
}): Promise<BenchMedia> {
  const session = await RtpMediaSession.open({
    call: opts.call,
    ticker: opts.ticker,
    pool: opts.pool,
    bindAddress: '127.0.0.1',
    jitterBufferMs: opts.jitterBufferMs,
    jitterAdaptive: opts.jitterAdaptive,
    speechGateDbfs: opts.speechGateDbfs,
  });
  return {
    localPort: session.localPort,
    attach: (call) => session.attach(call),
    counters: () => flattenCounters(session.counters()),
    close: () => session.close(),
  };
}
