/**
 * Default MediaBinder: src/media's RtpMediaSession (RtpEndpoint + JitterBuffer + Pacer + G.711 on
 * the shared Ticker) per call. Placeholder until src/media/rtp-media-session.ts lands.
 */
import type pino from 'pino';
import { BridgeError } from '../../errors.ts';
import type { PortPool } from '../../media/port-pool.ts';
import type { Ticker } from '../../media/ticker.ts';
import type { MediaBinder } from './media-binding.ts';

export interface RtpBinderOptions {
  readonly pool: PortPool;
  readonly ticker: Ticker;
  readonly bindAddress: string;
  readonly jitterBufferMs: number;
  readonly logger: pino.Logger;
}

export function rtpMediaBinder(_opts: RtpBinderOptions): MediaBinder {
  return async () => {
    throw new BridgeError('INTERNAL', 'RtpMediaSession is not available yet: pass deps.media', {});
  };
}
