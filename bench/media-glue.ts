/**
 * One benchmark call's media: the daemon's real RtpMediaSession (its own socket from the port pool,
 * or the shared socket; jitter buffer, DTMF, G.711, pacer on the shared Ticker) driving the call,
 * with its counters flattened so the bench can sum them over all calls.
 */
import type { CallSession } from '../src/agent/call-port.ts';
import type { PortPool } from '../src/media/port-pool.ts';
import type { RtpPeer } from '../src/media/rtp-endpoint.ts';
import { RtpMediaSession } from '../src/media/rtp-media-session.ts';
import type { RtpMux } from '../src/media/rtp-mux.ts';
import type { Ticker } from '../src/media/ticker.ts';

export interface BenchMedia {
  readonly localPort: number;
  /** Drive `call`, sending to (and, on the shared socket, receiving only from) `remote`. */
  attach(call: CallSession, remote: RtpPeer): void;
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

/** Bound before the call is attached, as for ExternalMedia (our port first, the PBX's address after). */
export async function openBenchMedia(opts: {
  pool: PortPool;
  mux?: RtpMux;
  ticker: Ticker;
  jitterBufferMs: number;
  jitterAdaptive?: boolean;
}): Promise<BenchMedia> {
  const session = await RtpMediaSession.open({
    ticker: opts.ticker,
    ...(opts.mux ? { mux: opts.mux } : { pool: opts.pool }),
    bindAddress: '127.0.0.1',
    jitterBufferMs: opts.jitterBufferMs,
    jitterAdaptive: opts.jitterAdaptive,
  });
  return {
    localPort: session.localPort,
    attach: (call, remote) => session.attach(call, remote),
    counters: () => flattenCounters(session.counters()),
    close: () => session.close(),
  };
}
