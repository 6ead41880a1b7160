/**
 * A minimal MediaBinder for adapter tests while src/media's RtpMediaSession is not there: one UDP
 * socket per call from the real PortPool, outbound through the real Pacer on the shared Ticker,
 * inbound parsed with the real RTP parser and decoded straight into the session (no jitter buffer:
 * loopback does not reorder). It exists to exercise call control, not media quality.
 */
import { createSocket } from 'node:dgram';
import type { CallSession } from '../../src/agent/call-port.ts';
import { decoderFor, encoderFor } from '../../src/media/g711.ts';
import { Pacer } from '../../src/media/pacer.ts';
import type { PortPool } from '../../src/media/port-pool.ts';
import { parseRtp, isRtpPacket } from '../../src/media/rtp-packet.ts';
import type { Ticker } from '../../src/media/ticker.ts';
import type { CallMediaBinding, MediaBinder, RtpRemote } from '../../src/pbx/asterisk/media-binding.ts';

export function testMediaBinder(pool: PortPool, ticker: Ticker, stats = { open: 0 }): MediaBinder {
  return async ({ codec }) => {
    let port = 0;
    let sock = createSocket('udp4');
    for (let attempt = 0; ; attempt++) {
      port = pool.acquire();
      sock = createSocket('udp4');
      try {
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind(port, '127.0.0.1', () => resolve());
        });
        break;
      } catch (err) {
        // Another test process holds it: try the next one (bounded).
        pool.release(port);
        sock.close();
        if (attempt >= 20) throw err;
      }
    }
    stats.open++;
    const encode = encoderFor(codec);
    const decode = decoderFor(codec);
    const pcmIn = new Int16Array(160);
    const encOut = new Uint8Array(160);
    let session: CallSession | null = null;
    let unsubscribe: (() => void) | null = null;
    let closed = false;
    sock.on('message', (msg) => {
      const pkt = parseRtp(msg);
      if (!session || !isRtpPacket(pkt) || pkt.payload.length === 0) return;
      const pcm = decode(pkt.payload, pcmIn.subarray(0, pkt.payload.length));
      session.pushInbound(pcm);
    });
    const binding: CallMediaBinding = {
      localAddress: '127.0.0.1',
      localPort: port,
      async attach(s: CallSession, remote: RtpRemote) {
        session = s;
        const pacer = new Pacer({
          payloadType: codec === 'alaw' ? 8 : 0,
          send: (buf) => {
            if (!closed) sock.send(buf, remote.port, remote.address);
          },
        });
        unsubscribe = ticker.add(() => {
          const frame = s.pullOutbound();
          pacer.tick(frame ? encode(frame, encOut) : null);
        });
      },
      async close() {
        if (closed) return;
        closed = true;
        unsubscribe?.();
        await new Promise<void>((resolve) => sock.close(() => resolve()));
        pool.release(port);
        stats.open--;
      },
    };
    return binding;
  };
}
