/**
 * Full-duplex audio over FreeSWITCH's built-in `unicast` (switch_ivr.c): while the channel is parked,
 * FreeSWITCH sends every frame it reads from the caller to our UDP socket and writes every datagram we
 * send straight into the channel (its unicast thread calls switch_core_session_write_frame per
 * datagram, unpaced — so we pace, one 20 ms frame per tick). Without `flags native` both directions
 * are L16 (host order = little-endian on x86/arm) at the channel's read rate; with `native` they are
 * the channel's codec payload (we accept PCMU/PCMA). CNG frames arrive as bytes of 0xFF.
 */
import dgram from 'node:dgram';
import type pino from 'pino';
import { FRAME_SAMPLES, type Pcm } from '../../media/audio-frame.ts';
import { alawDecode, alawEncode, ulawDecode, ulawEncode } from '../../media/g711.ts';
import { ipLiteralLookup } from '../../media/ip-lookup.ts';
import { Decimate2, L16Framer, readL16, writeL16 } from './l16.ts';
import type { FreeswitchCounters, OutboundTransport } from './transport.ts';

export type UnicastFormat = { kind: 'l16'; rate: 8000 | 16000 } | { kind: 'pcmu' } | { kind: 'pcma' };

export interface UnicastOptions {
  bindHost: string;
  /** FreeSWITCH's side: only datagrams from here are accepted. */
  peerHost: string;
  peerPort: number;
  format: UnicastFormat;
  onFrame: (frame: Pcm) => void;
  /** A datagram we could not use (wrong size for the format): logged once per call, counted. */
  onMalformed: (reason: string) => void;
  counters: FreeswitchCounters;
  log: pino.Logger;
}

const RING = 4; // send buffers reused round-robin: a datagram in flight is never overwritten

export class UnicastTransport implements OutboundTransport {
  private readonly socket = dgram.createSocket({ type: 'udp4', lookup: ipLiteralLookup() });
  private readonly framer = new L16Framer();
  private readonly down: Decimate2 | null;
  private readonly up: Upsample2 | null;
  private readonly bufs: Buffer[];
  private next = 0;
  private closed = false;
  firstPacketAt: number | null = null;
  /** Latency probe: set by the leg when a talk-spurt starts. */
  spurtStartedAt: number | null = null;

  private constructor(private readonly opts: UnicastOptions) {
    const wide = opts.format.kind === 'l16' && opts.format.rate === 16000;
    this.down = wide ? new Decimate2() : null;
    this.up = wide ? new Upsample2() : null;
    const bytes = opts.format.kind === 'l16' ? FRAME_SAMPLES * 2 * (wide ? 2 : 1) : FRAME_SAMPLES;
    this.bufs = Array.from({ length: RING }, () => Buffer.alloc(bytes));
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', (err) => opts.log.warn({ err: err.message }, 'unicast socket error'));
  }

  static async open(opts: UnicastOptions): Promise<UnicastTransport> {
    const t = new UnicastTransport(opts);
    await new Promise<void>((resolve, reject) => {
      t.socket.once('error', reject);
      t.socket.bind(0, opts.bindHost, () => {
        t.socket.off('error', reject);
        resolve();
      });
    });
    return t;
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    if (rinfo.address !== this.opts.peerHost || rinfo.port !== this.opts.peerPort) {
      this.opts.counters.udpForeign++;
      return;
    }
    if (this.firstPacketAt === null) this.firstPacketAt = performance.now();
    const f = this.opts.format;
    if (f.kind === 'l16') {
      if (msg.length % 2 !== 0 || msg.length > 8192) {
        this.opts.onMalformed(`unicast datagram of ${msg.length} bytes is not L16`);
        return;
      }
      if (this.down) {
        const narrow = this.down.process(readL16(msg));
        this.framer.push(new Uint8Array(narrow.buffer, narrow.byteOffset, narrow.byteLength), this.opts.onFrame);
      } else {
        this.framer.push(msg, this.opts.onFrame);
      }
      return;
    }
    if (msg.length > 4096) {
      this.opts.onMalformed(`unicast datagram of ${msg.length} bytes is too large`);
      return;
    }
    // FreeSWITCH fills CNG frames with decoded_bytes_per_packet of 0xFF (320 for 8 kHz): 40 ms of
    // G.711 silence — taken as-is, the playout buffer trims any excess.
    const pcm = f.kind === 'pcmu' ? ulawDecode(msg) : alawDecode(msg);
    this.framer.push(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength), this.opts.onFrame);
  }

  sendFrame(frame: Pcm | null): void {
    if (this.closed || !frame) return;
    const buf = this.bufs[this.next]!;
    this.next = (this.next + 1) % RING;
    const f = this.opts.format;
    if (f.kind === 'l16') {
      writeL16(this.up ? this.up.process(frame) : frame, buf);
    } else if (f.kind === 'pcmu') {
      ulawEncode(frame, buf);
    } else {
      alawEncode(frame, buf);
    }
    this.socket.send(buf, 0, buf.length, this.opts.peerPort, this.opts.peerHost);
  }

  /** Nothing is queued on FreeSWITCH's side: it plays what we send as we send it. */
  flush(): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

/** 8 kHz -> 16 kHz: zero-stuff then the same half-band low-pass (gain 2). */
class Upsample2 {
  private static readonly TAPS = [-0.0110, 0, 0.0612, 0, -0.1540, 0, 0.6038, 1, 0.6038, 0, -0.1540, 0, 0.0612, 0, -0.0110];
  private readonly hist = new Float64Array(Upsample2.TAPS.length);
  private pos = 0;
  private readonly out = new Int16Array(FRAME_SAMPLES * 2);

  process(input: Int16Array): Int16Array {
    const taps = Upsample2.TAPS;
    const len = taps.length;
    for (let i = 0; i < input.length * 2; i++) {
      this.hist[this.pos] = i % 2 === 0 ? input[i >> 1]! : 0;
      this.pos = (this.pos + 1) % len;
      let acc = 0;
      for (let k = 0; k < len; k++) acc += taps[k]! * this.hist[(this.pos + k) % len]!;
      this.out[i] = acc > 32767 ? 32767 : acc < -32768 ? -32768 : Math.round(acc);
    }
    return this.out;
  }
}
