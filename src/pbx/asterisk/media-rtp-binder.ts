/**
 * Default MediaBinder: src/media's RtpMediaSession (RtpEndpoint + JitterBuffer + Pacer + G.711 on
 * the shared Ticker), one per call.
 *
 * ExternalMedia needs our port before Asterisk's UNICASTRTP address exists (`external_host`), so the
 * session binds its socket first (a port from the shared pool, kept from then on: no window in which
 * another process could take it) and is attached to the call and to Asterisk's address once the
 * ExternalMedia channel answers.
 */
import type pino from 'pino';
import type { CallSession } from '../../agent/call-port.ts';
import { BridgeError, errorMessage } from '../../errors.ts';
import type { PortPool } from '../../media/port-pool.ts';
import { RtpMediaSession } from '../../media/rtp-media-session.ts';
import type { Ticker } from '../../media/ticker.ts';
import type { CallMediaBinding, MediaBinder, RtpRemote } from './media-binding.ts';

export interface RtpBinderOptions {
  readonly pool: PortPool;
  readonly ticker: Ticker;
  readonly bindAddress: string;
  readonly jitterBufferMs: number;
  readonly jitterAdaptive?: boolean;
  /** media.vad.energyGateDbfs (see RtpMediaSessionOptions.speechGateDbfs). */
  readonly speechGateDbfs?: number;
  readonly logger: pino.Logger;
}

/** RTP totals across this binder's calls (live and closed), for the metrics endpoint. */
export interface RtpTotals {
  packetsIn: number;
  packetsOut: number;
  /** Malformed, oversize, dropped by the kernel, unknown payload type, duplicate, jitter-buffer overflow. */
  dropped: number;
  late: number;
  wrongSource: number;
}

export type RtpMediaBinder = MediaBinder & { totals(): RtpTotals };

function addCounters(into: RtpTotals, c: ReturnType<RtpMediaSession['counters']>): void {
  into.packetsIn += c.packetsIn;
  into.packetsOut += c.packetsOut;
  into.late += c.late;
  into.wrongSource += c.wrongSource;
  into.dropped += c.unknownPayload + c.oversize + c.kernelDrops + c.duplicate + c.overflow;
  for (const n of Object.values(c.malformed)) into.dropped += n;
}

export function rtpMediaBinder(opts: RtpBinderOptions): RtpMediaBinder {
  const live = new Set<RtpMediaSession>();
  const closed: RtpTotals = { packetsIn: 0, packetsOut: 0, dropped: 0, late: 0, wrongSource: 0 };
  const bind: MediaBinder = async ({ codec, logger }) => {
    let media: RtpMediaSession;
    try {
      media = await RtpMediaSession.open({
        ticker: opts.ticker,
        pool: opts.pool,
        bindAddress: opts.bindAddress,
        codec,
        jitterBufferMs: opts.jitterBufferMs,
        jitterAdaptive: opts.jitterAdaptive,
        speechGateDbfs: opts.speechGateDbfs,
        logger,
      });
    } catch (err) {
      if (err instanceof BridgeError) throw err; // RTP_NO_PORT names the range
      throw new BridgeError('RTP_NO_PORT', `cannot open RTP on ${opts.bindAddress}: ${errorMessage(err)}`, {}, { cause: err });
    }
    live.add(media);
    const binding: CallMediaBinding = {
      localAddress: media.localAddress,
      localPort: media.localPort,
      async attach(session: CallSession, remote: RtpRemote) {
        if (media.isClosed) throw new BridgeError('INTERNAL', 'media binding already closed', {});
        media.attach(session, remote);
      },
      close: async () => {
        await media.close();
        if (live.delete(media)) addCounters(closed, media.counters());
      },
    };
    return binding;
  };
  return Object.assign(bind, {
    totals(): RtpTotals {
      const t = { ...closed };
      for (const m of live) addCounters(t, m.counters());
      return t;
    },
  });
}
