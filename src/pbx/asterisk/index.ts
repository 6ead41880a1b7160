/**
 * Entry for the daemon's `serve` command: start the ARI adapter from config.
 *
 *   const handle = await startAsteriskAdapter(config, { callFactory, logger, ticker, portPool, vicidial });
 *   handle.state; handle.counters(); await handle.close();
 *
 * Resolves after the first connection attempt settled: connected, or Asterisk not reachable yet (it
 * keeps retrying in the background; `ready` resolves when it connects). Rejects on wrong ARI
 * credentials (PBX_AUTH) or an Asterisk without ExternalMedia (PBX_VERSION).
 */
import pino from 'pino';
import type { CallFactory } from '../../agent/call-port.ts';
import type { Config } from '../../config/schema.ts';
import { BridgeError } from '../../errors.ts';
import type { Clock } from '../../media/clock.ts';
import type { PortPool } from '../../media/port-pool.ts';
import type { Ticker } from '../../media/ticker.ts';
import type { Admission } from '../../ops/drain.ts';
import type { Vicidial } from '../../vicidial/action-sink.ts';
import { AsteriskAdapter } from './adapter.ts';
import type { AdapterCounters } from './asterisk-call.ts';
import type { ConnectionState } from './ari-connection.ts';
import type { MediaBinder } from './media-binding.ts';
import { rtpMediaBinder, type RtpMediaBinder, type RtpTotals } from './media-rtp-binder.ts';

export interface AsteriskDeps {
  readonly callFactory: CallFactory;
  readonly logger?: pino.Logger;
  readonly ticker: Ticker;
  readonly portPool: PortPool;
  readonly vicidial?: Vicidial;
  /** Default: RtpMediaSession on portPool/ticker (media-rtp-binder.ts). */
  readonly media?: MediaBinder;
  readonly clock?: Clock;
  /** Asked before any set-up of a new caller; refused callers are handed back (see AsteriskAdapterOptions.admit). */
  readonly admit?: () => Admission;
}

export interface AsteriskHandle {
  readonly adapter: AsteriskAdapter;
  readonly state: ConnectionState;
  /** Resolves on the first successful connection. */
  readonly ready: Promise<void>;
  counters(): AdapterCounters;
  /** RTP totals of the default media binder (null when a custom binder was given). */
  rtpTotals(): RtpTotals | null;
  close(): Promise<void>;
}

export type AsteriskAppConfig = Pick<Config, 'asterisk' | 'transfers' | 'agent' | 'media'>;

export async function startAsteriskAdapter(config: AsteriskAppConfig, deps: AsteriskDeps): Promise<AsteriskHandle> {
  if (!config.asterisk) throw new BridgeError('CONFIG_INVALID', 'asterisk section missing: set asterisk.url, username and password', {});
  const logger = deps.logger ?? pino({ level: 'silent' });
  if (!deps.media && !config.asterisk.externalHost && (config.media.bindAddress === '0.0.0.0' || config.media.bindAddress === '::')) {
    throw new BridgeError('CONFIG_INVALID', 'media.bindAddress is a wildcard: set asterisk.externalHost to the address Asterisk should send RTP to', {});
  }
  const rtpBinder: RtpMediaBinder | null = deps.media
    ? null
    : rtpMediaBinder({ pool: deps.portPool, ticker: deps.ticker, bindAddress: config.media.bindAddress, jitterBufferMs: config.media.jitterBufferMs, jitterAdaptive: config.media.jitterAdaptive, speechGateDbfs: config.media.vad.energyGateDbfs, logger });
  const media = deps.media ?? rtpBinder!;
  const adapter = new AsteriskAdapter({
    config: config.asterisk,
    transfers: config.transfers,
    maxCallSeconds: config.agent.maxCallSeconds,
    callFactory: deps.callFactory,
    media,
    vicidial: deps.vicidial,
    clock: deps.clock,
    logger,
    admit: deps.admit,
  });
  const ready = adapter.start();
  // Fatal errors surface now; "not reachable yet" lets the daemon start and keep retrying.
  const first = await Promise.race([
    ready.then(() => 'connected' as const),
    new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), config.asterisk!.requestTimeoutMs + 500).unref()),
  ]);
  if (first === 'pending') logger.warn({ url: config.asterisk.url }, 'Asterisk ARI not reachable yet; retrying in the background');
  ready.catch(() => undefined);
  return {
    adapter,
    get state() {
      return adapter.state;
    },
    ready,
    counters: () => adapter.snapshot(),
    rtpTotals: () => rtpBinder?.totals() ?? null,
    close: () => adapter.close(),
  };
}

export { AsteriskAdapter } from './adapter.ts';
export type { AdapterCounters } from './asterisk-call.ts';
export type { MediaBinder, CallMediaBinding } from './media-binding.ts';
