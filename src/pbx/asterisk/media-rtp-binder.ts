/**
 * Default MediaBinder: src/media's RtpMediaSession (RtpEndpoint + JitterBuffer + Pacer + G.711 on
 * the shared Ticker), one per call.
 *
 * ExternalMedia needs our port before it exists (`external_host`), and the session needs Asterisk's
 * UNICASTRTP address (only known after) at open. So the port is reserved in the shared pool first
 * (checked bindable with a probe socket), named to Asterisk, and the RtpMediaSession is opened on
 * exactly that port (a one-port pool) once the remote is known. Asterisk sends nothing before it
 * hears something, so no packet is lost in between in practice. (An RtpEndpoint that takes its
 * remote later would remove the gap; see the report on issue #3.)
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type pino from 'pino';
import type { CallSession } from '../../agent/call-port.ts';
import { BridgeError, errorMessage } from '../../errors.ts';
import { PortPool } from '../../media/port-pool.ts';
import { RtpMediaSession } from '../../media/rtp-media-session.ts';
import type { Ticker } from '../../media/ticker.ts';
import type { CallMediaBinding, MediaBinder, RtpRemote } from './media-binding.ts';

export interface RtpBinderOptions {
  readonly pool: PortPool;
  readonly ticker: Ticker;
  readonly bindAddress: string;
  readonly jitterBufferMs: number;
  readonly jitterAdaptive?: boolean;
  readonly logger: pino.Logger;
}

async function probe(address: string, port: number): Promise<boolean> {
  const sock = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, address, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    await new Promise<void>((resolve) => {
      try {
        sock.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

export function rtpMediaBinder(opts: RtpBinderOptions): MediaBinder {
  return async ({ codec, logger }) => {
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = opts.pool.acquire(); // RTP_NO_PORT when the range is exhausted
      if (await probe(opts.bindAddress, port)) break;
      opts.pool.release(port); // held by another process: next one (bounded)
      if (attempt >= Math.min(20, opts.pool.size)) {
        throw new BridgeError('RTP_NO_PORT', `no bindable RTP port on ${opts.bindAddress} after ${attempt + 1} tries`, { bindAddress: opts.bindAddress });
      }
    }
    let media: RtpMediaSession | null = null;
    let closed = false;
    const binding: CallMediaBinding = {
      localAddress: opts.bindAddress,
      localPort: port,
      async attach(session: CallSession, remote: RtpRemote) {
        if (closed) throw new BridgeError('INTERNAL', 'media binding already closed', {});
        try {
          media = await RtpMediaSession.open({
            call: session,
            ticker: opts.ticker,
            pool: new PortPool(port, port),
            bindAddress: opts.bindAddress,
            remote,
            codec,
            jitterBufferMs: opts.jitterBufferMs,
            jitterAdaptive: opts.jitterAdaptive,
            logger,
          });
        } catch (err) {
          throw new BridgeError('RTP_NO_PORT', `cannot open RTP on ${opts.bindAddress}:${port}: ${errorMessage(err)}`, { port }, { cause: err });
        }
        if (closed) await media.close();
      },
      async close() {
        if (closed) return;
        closed = true;
        try {
          await media?.close();
        } finally {
          opts.pool.release(port);
        }
      },
    };
    return binding;
  };
}
