/**
 * The RTP side of a fake UnicastRTP channel, as observed on Asterisk 20
 * (../shared/docs/asterisk-externalmedia.md): sends from its own UDP port to external_host; V2, no
 * padding/extension/CSRC; one random SSRC and initial sequence per call; timestamp starts at 160 and
 * steps 160, jumping by the wall-clock gap across a silence; marker clear on the call's first packet
 * and set on the first after a silence; nothing at all is sent while there is nothing to say.
 * Inbound: strict RTP — after the first source is learnt, packets from another source are dropped
 * for the first 4 while it re-learns. Header handling is written out here on purpose, independent
 * of the daemon's RTP code it is testing.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface ReceivedRtp {
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
  from: string;
}

const PACKET_MS = 20;
const SAMPLES = 160;

export class FakeUnicastRtp {
  private sock: Socket | null = null;
  localPort = 0;
  readonly ssrc = (Math.random() * 0xffffffff) >>> 0;
  private seq = Math.floor(Math.random() * 0xffff);
  private ts = 0;
  private lastSendAt = 0;
  private first = true;
  private timer: NodeJS.Timeout | null = null;
  private queue: Buffer[] = [];
  private drained: Array<() => void> = [];
  /** Packets accepted from the daemon. */
  readonly received: ReceivedRtp[] = [];
  readonly counters = { sent: 0, strictDrops: 0, malformed: 0 };
  private learnt: string | null = null;
  private candidate: string | null = null;
  private candidateCount = 0;
  closed = false;

  constructor(
    readonly remoteHost: string,
    readonly remotePort: number,
    readonly payloadType: number,
  ) {}

  bind(): Promise<number> {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', reject);
      s.on('message', (msg, rinfo) => this.onPacket(msg, rinfo));
      s.bind(0, '127.0.0.1', () => {
        this.sock = s;
        this.localPort = s.address().port;
        resolve(this.localPort);
      });
    });
  }

  /** Payload bytes of everything received so far, concatenated in arrival order. */
  receivedPayload(): Buffer {
    return Buffer.concat(this.received.map((p) => p.payload));
  }

  private onPacket(msg: Buffer, rinfo: RemoteInfo): void {
    if (msg.length < 12 || msg[0] >> 6 !== 2) {
      this.counters.malformed++;
      return;
    }
    const from = `${rinfo.address}:${rinfo.port}`;
    if (this.learnt === null) this.learnt = from;
    if (from !== this.learnt) {
      if (this.candidate !== from) {
        this.candidate = from;
        this.candidateCount = 0;
      }
      if (++this.candidateCount <= 4) {
        this.counters.strictDrops++;
        return;
      }
      this.learnt = from;
    }
    const cc = msg[0] & 0x0f;
    const ext = (msg[0] & 0x10) !== 0;
    let off = 12 + cc * 4;
    if (ext) off += 4 + msg.readUInt16BE(off + 2) * 4;
    let end = msg.length;
    if (msg[0] & 0x20) end -= msg[msg.length - 1];
    this.received.push({
      marker: (msg[1] & 0x80) !== 0,
      payloadType: msg[1] & 0x7f,
      sequence: msg.readUInt16BE(2),
      timestamp: msg.readUInt32BE(4),
      ssrc: msg.readUInt32BE(8),
      payload: Buffer.from(msg.subarray(off, end)),
      from,
    });
  }

  /**
   * Speak: G.711 bytes go out in 160-byte packets every 20 ms (the last may be shorter, as Asterisk
   * ends prompts). Resolves when the last packet is sent.
   */
  play(payload: Uint8Array): Promise<void> {
    for (let o = 0; o < payload.length; o += SAMPLES) this.queue.push(Buffer.from(payload.subarray(o, Math.min(o + SAMPLES, payload.length))));
    const done = new Promise<void>((resolve) => this.drained.push(resolve));
    if (!this.timer && !this.closed) {
      this.sendOne(true);
      this.timer = setInterval(() => this.sendOne(false), PACKET_MS);
    }
    return done;
  }

  private sendOne(talkspurtStart: boolean): void {
    const chunk = this.queue.shift();
    if (!chunk || this.closed || !this.sock) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      const d = this.drained;
      this.drained = [];
      for (const r of d) r();
      return;
    }
    const now = performance.now();
    let marker = false;
    if (this.first) {
      this.ts = SAMPLES;
      this.first = false;
    } else if (talkspurtStart) {
      // Timestamp follows the wall clock across silence; the first packet after it carries the marker.
      this.ts = (this.ts + Math.max(SAMPLES, Math.round(((now - this.lastSendAt) * 8000) / 1000))) >>> 0;
      marker = true;
    } else {
      this.ts = (this.ts + SAMPLES) >>> 0;
    }
    this.lastSendAt = now;
    this.seq = (this.seq + 1) & 0xffff;
    const pkt = Buffer.alloc(12 + chunk.length);
    pkt[0] = 0x80;
    pkt[1] = (marker ? 0x80 : 0) | this.payloadType;
    pkt.writeUInt16BE(this.seq, 2);
    pkt.writeUInt32BE(this.ts, 4);
    pkt.writeUInt32BE(this.ssrc, 8);
    chunk.copy(pkt, 12);
    this.sock.send(pkt, this.remotePort, this.remoteHost);
    this.counters.sent++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const d = this.drained;
    this.drained = [];
    for (const r of d) r();
    try {
      this.sock?.close();
    } catch {
      /* already closed */
    }
  }
}
