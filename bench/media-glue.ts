/**
 * One benchmark call's media: an RTP socket from the port pool, jitter buffer, codec and pacer on the
 * shared Ticker, driving a CallSession. INTERIM: src/media/rtp-media-session.ts (which does exactly
 * this for the daemon) was not written yet when the bench was; this file wires the same real parts
 * the same way so the bench runs, and is to be replaced by that class once it exists.
 */
import { FRAME_SAMPLES } from '../src/media/audio-frame.ts';
import type { CallSession } from '../src/agent/call-port.ts';
import { JitterBuffer } from '../src/media/jitter-buffer.ts';
import { Pacer } from '../src/media/pacer.ts';
import type { PortPool } from '../src/media/port-pool.ts';
import { RtpEndpoint } from '../src/media/rtp-endpoint.ts';
import type { Ticker } from '../src/media/ticker.ts';
import { ulawDecode, ulawEncode } from '../src/media/g711.ts';
import type { EncodedFrame } from '../src/providers/types.ts';

export interface BenchMedia {
  readonly localPort: number;
  /** Flat numeric counters (summed over calls by the bench). */
  counters(): Record<string, number>;
  close(): Promise<void>;
}

export async function openBenchMedia(opts: {
  pool: PortPool;
  ticker: Ticker;
  call: CallSession;
  jitterBufferMs: number;
}): Promise<BenchMedia> {
  const jb = new JitterBuffer({ codec: 'ulaw', depthMs: opts.jitterBufferMs });
  const endpoint = await RtpEndpoint.open({
    pool: opts.pool,
    bindAddress: '127.0.0.1',
    onPacket: (pkt, arrivalMs) => jb.push(pkt, arrivalMs),
  });
  const pacer = new Pacer({ payloadType: 0, send: (b) => endpoint.send(b) });
  const pcm = new Int16Array(FRAME_SAMPLES);
  const outPayload = new Uint8Array(FRAME_SAMPLES);
  const encoded: { codec: 'ulaw'; payload: Uint8Array } = { codec: 'ulaw', payload: new Uint8Array(0) };
  const call = opts.call;
  const unsubscribe = opts.ticker.add((_n, nowMs) => {
    const f = jb.pop(nowMs);
    ulawDecode(f.payload, pcm);
    encoded.payload = f.payload;
    call.pushInbound(pcm, encoded as EncodedFrame);
    const out = call.pullOutbound();
    pacer.tick(out ? ulawEncode(out, outPayload) : null);
  });
  return {
    localPort: endpoint.localPort,
    counters() {
      const e = endpoint.counters;
      const j = jb.counters;
      return {
        packetsIn: e.packetsIn,
        packetsOut: e.packetsOut,
        malformed: Object.values(e.malformed).reduce((a, b) => a + b, 0),
        wrongSource: e.wrongSource,
        unknownPayload: e.unknownPayload,
        handlerErrors: e.handlerErrors,
        sendErrors: e.sendErrors + pacer.counters.sendErrors,
        jbReceived: j.received,
        jbPlayed: j.played,
        jbLate: j.late,
        jbOverflow: j.overflow,
        jbDuplicate: j.duplicate,
        jbLost: j.lost,
        jbConcealed: j.concealed,
        jbResyncs: j.resyncs,
      };
    },
    async close() {
      unsubscribe();
      await endpoint.close();
    },
  };
}
