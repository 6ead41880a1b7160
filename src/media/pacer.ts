/**
 * Outbound RTP for one call: driven by the shared Ticker, each tick sends exactly one 20 ms packet
 * or none. Sequence numbers are continuous; the timestamp advances 160 per tick whether or not a
 * packet goes out, so the far end sees silence as a timestamp jump (RFC 3551 section 4.1) and the
 * first packet after it carries the marker bit.
 *
 * Packets are written into a small ring of preallocated buffers. `send` receives a view that stays
 * untouched for the next PACKET_RING - 1 packets. That matters: dgram.send on an unconnected
 * socket only reads the bytes a tick later (after its address lookup), so a pacer that reused one
 * buffer would send the last packet N times when the Ticker runs missed ticks back to back. The
 * ring (16) is larger than the Ticker's catch-up bound (10). `send` must not keep the view longer
 * than that (copy if it must).
 */
import { randomInt } from 'node:crypto';
import { BridgeError } from '../errors.ts';
import { FRAME_SAMPLES } from './audio-frame.ts';
import { buildTelephoneEvents, DEFAULT_DTMF_PAYLOAD_TYPE } from './dtmf.ts';
import { RTP_HEADER_BYTES, writeRtpFixedHeader } from './rtp-packet.ts';

export const PACKET_RING = 16;
/** Largest payload a tick may carry (a 20 ms G.711 frame is 160 bytes; room for 40 ms). */
const MAX_PAYLOAD = 320;

export interface PacerOptions {
  /** 0 = PCMU, 8 = PCMA. */
  readonly payloadType: number;
  readonly send: (packet: Buffer) => void;
  readonly ssrc?: number;
  readonly initialSeq?: number;
  readonly initialTimestamp?: number;
  readonly dtmfPayloadType?: number;
}

export interface PacerCounters {
  packets: number;
  bytes: number;
  /** Ticks with nothing to send (timestamp still advanced). */
  silentTicks: number;
  talkSpurts: number;
  dtmfPackets: number;
  /** Digits abandoned by flush(). */
  dtmfFlushed: number;
  sendErrors: number;
}

export class Pacer {
  readonly ssrc: number;
  readonly payloadType: number;
  readonly dtmfPayloadType: number;
  readonly counters: PacerCounters = {
    packets: 0,
    bytes: 0,
    silentTicks: 0,
    talkSpurts: 0,
    dtmfPackets: 0,
    dtmfFlushed: 0,
    sendErrors: 0,
  };

  private seq: number;
  private ts: number;
  private inSpurt = false;
  private readonly ring: Buffer[] = [];
  /** Cached views of each ring slot at the last packet length (almost always 172): no per-packet Buffer object. */
  private readonly views: Buffer[] = [];
  private ringIndex = 0;
  private readonly sendFn: (packet: Buffer) => void;

  // DTMF queue: payloads of the digit in progress, then digits waiting their turn.
  private dtmfPayloads: Uint8Array[] | null = null;
  private dtmfIndex = 0;
  private dtmfTimestamp = 0;
  private readonly dtmfQueue: { digit: string; durationMs: number }[] = [];

  constructor(opts: PacerOptions) {
    this.payloadType = opts.payloadType;
    this.dtmfPayloadType = opts.dtmfPayloadType ?? DEFAULT_DTMF_PAYLOAD_TYPE;
    this.sendFn = opts.send;
    // Random starting points (RFC 3550 section 5.1) make known-plaintext and stale-packet confusion harder.
    this.ssrc = (opts.ssrc ?? randomInt(0, 2 ** 32 - 1)) >>> 0;
    this.seq = (opts.initialSeq ?? randomInt(0, 65536)) & 0xffff;
    this.ts = (opts.initialTimestamp ?? randomInt(0, 2 ** 32 - 1)) >>> 0;
    const slab = Buffer.alloc(PACKET_RING * (RTP_HEADER_BYTES + MAX_PAYLOAD));
    for (let i = 0; i < PACKET_RING; i++) {
      this.ring.push(slab.subarray(i * (RTP_HEADER_BYTES + MAX_PAYLOAD), (i + 1) * (RTP_HEADER_BYTES + MAX_PAYLOAD)));
      this.views.push(this.ring[i].subarray(0, RTP_HEADER_BYTES + FRAME_SAMPLES));
    }
  }

  /** Sequence number the next packet will carry. */
  get nextSequence(): number {
    return this.seq;
  }

  /** RTP timestamp of the current tick's media. */
  get timestamp(): number {
    return this.ts;
  }

  /** True while a digit is being sent or waits to be sent. */
  get dtmfPending(): boolean {
    return this.dtmfPayloads !== null || this.dtmfQueue.length > 0;
  }

  /**
   * Called once per 20 ms tick. `frame` is the encoded G.711 payload (160 bytes) or null for
   * silence. While a digit is being sent the audio frame is replaced by the telephone-event packet
   * (RFC 4733 section 2.5.1.3: the sender stops audio during the event).
   */
  tick(frame: Uint8Array | null): void {
    if (this.dtmfPayloads === null && this.dtmfQueue.length > 0) this.startNextDigit();
    if (this.dtmfPayloads !== null) {
      const payload = this.dtmfPayloads[this.dtmfIndex];
      this.emit(this.dtmfIndex === 0, this.dtmfPayloadType, this.dtmfTimestamp, payload);
      this.counters.dtmfPackets++;
      if (++this.dtmfIndex >= this.dtmfPayloads.length) {
        this.dtmfPayloads = null;
        this.inSpurt = false; // audio after a digit starts a new talk-spurt
      }
    } else if (frame !== null) {
      if (frame.length > MAX_PAYLOAD) {
        throw new BridgeError('AUDIO_BAD_FRAME', `outbound frame of ${frame.length} bytes exceeds ${MAX_PAYLOAD}`, {
          length: frame.length,
        });
      }
      const marker = !this.inSpurt;
      if (marker) this.counters.talkSpurts++;
      this.inSpurt = true;
      this.emit(marker, this.payloadType, this.ts, frame);
    } else {
      this.inSpurt = false;
      this.counters.silentTicks++;
    }
    this.ts = (this.ts + FRAME_SAMPLES) >>> 0;
  }

  /** Queue a digit (RFC 4733); it goes out on the following ticks, replacing audio. */
  sendDtmf(digit: string, durationMs = 100): void {
    buildTelephoneEvents(digit, durationMs); // validate now so the caller gets the error, not tick()
    this.dtmfQueue.push({ digit, durationMs });
  }

  /** Barge-in: drop the digit in progress and queued digits; the next audio packet starts a talk-spurt. */
  flush(): void {
    if (this.dtmfPayloads !== null) this.counters.dtmfFlushed++;
    this.counters.dtmfFlushed += this.dtmfQueue.length;
    this.dtmfPayloads = null;
    this.dtmfQueue.length = 0;
    this.inSpurt = false;
  }

  private startNextDigit(): void {
    const next = this.dtmfQueue.shift()!;
    this.dtmfPayloads = buildTelephoneEvents(next.digit, next.durationMs);
    this.dtmfIndex = 0;
    this.dtmfTimestamp = this.ts;
  }

  private emit(marker: boolean, payloadType: number, timestamp: number, payload: Uint8Array): void {
    const slot = this.ringIndex;
    const buf = this.ring[slot];
    this.ringIndex = (slot + 1) % PACKET_RING;
    writeRtpFixedHeader(buf, marker, payloadType, this.seq, timestamp, this.ssrc);
    buf.set(payload, RTP_HEADER_BYTES);
    this.seq = (this.seq + 1) & 0xffff;
    const len = RTP_HEADER_BYTES + payload.length;
    this.counters.packets++;
    this.counters.bytes += len;
    try {
      let view = this.views[slot];
      if (view.length !== len) view = this.views[slot] = buf.subarray(0, len);
      this.sendFn(view);
    } catch {
      // A failing transport must not break pacing (sequence/timestamp already advanced, as on loss).
      this.counters.sendErrors++;
    }
  }
}
