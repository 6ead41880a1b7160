/**
 * Seeded generator of random and mutated RTP datagrams: pure random bytes, valid headers with random
 * fields, bit-flipped and truncated PCMU packets, hostile CSRC counts / extension lengths / padding
 * counts, garbage RFC 4733 telephone-events, and well-formed packets with hostile sequence numbers,
 * timestamps and SSRCs. Same seed, same packets.
 */
import { writeRtpFixedHeader } from '../src/media/rtp-packet.ts';

export const FUZZ_KINDS = [
  'random-bytes',
  'random-header',
  'bit-flip',
  'truncated',
  'csrc-count',
  'extension',
  'padding',
  'telephone-event',
  'sequence-chaos',
  'oversized',
] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

export interface FuzzPacket {
  kind: FuzzKind;
  data: Buffer;
}

export class RtpFuzzer {
  private seq = 0;
  private ts = 0;

  constructor(private readonly rnd: () => number) {}

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private randomBytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A well-formed PCMU packet (payload random µ-law). */
  private valid(payloadLen = 160, pt = 0): Buffer {
    const b = Buffer.allocUnsafe(12 + payloadLen);
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + 160) >>> 0;
    writeRtpFixedHeader(b, this.rnd() < 0.05, pt, this.seq, this.ts, 0x5eed);
    for (let i = 12; i < b.length; i++) b[i] = this.int(256);
    return b;
  }

  next(): FuzzPacket {
    const kind = FUZZ_KINDS[this.int(FUZZ_KINDS.length)];
    return { kind, data: this.make(kind) };
  }

  make(kind: FuzzKind): Buffer {
    switch (kind) {
      case 'random-bytes':
        return this.randomBytes(this.int(300));
      case 'random-header': {
        const b = this.randomBytes(12 + this.int(400));
        b[0] = 0x80 | (b[0] & 0x3f); // version 2, random P/X/CC
        return b;
      }
      case 'bit-flip': {
        const b = this.valid();
        const flips = 1 + this.int(8);
        for (let i = 0; i < flips; i++) {
          const bit = this.int(b.length * 8);
          b[bit >> 3] ^= 1 << (bit & 7);
        }
        return b;
      }
      case 'truncated':
        return this.valid().subarray(0, this.int(172));
      case 'csrc-count': {
        const b = this.valid(this.int(200));
        b[0] = (b[0] & 0xf0) | (1 + this.int(15));
        return b;
      }
      case 'extension': {
        const b = this.valid(this.int(200));
        b[0] |= 0x10;
        if (b.length >= 16) {
          b.writeUInt16BE(this.rnd() < 0.5 ? 0xbede : this.int(65536), 12);
          b.writeUInt16BE(this.rnd() < 0.3 ? 0xffff : this.int(64), 14);
        }
        return b;
      }
      case 'padding': {
        const b = this.valid(this.int(200));
        b[0] |= 0x20;
        b[b.length - 1] = this.rnd() < 0.3 ? 0 : this.int(256);
        return b;
      }
      case 'telephone-event': {
        const b = this.valid(this.int(12), 101);
        if (b.length >= 16) {
          b[12] = this.rnd() < 0.7 ? this.int(17) : this.int(256); // event
          b[13] = (this.rnd() < 0.5 ? 0x80 : 0) | this.int(64); // E bit, volume
          b.writeUInt16BE(this.int(65536), 14); // duration
        }
        return b;
      }
      case 'sequence-chaos': {
        const b = this.valid(this.rnd() < 0.8 ? 160 : this.int(400));
        const r = this.rnd();
        if (r < 0.25) b.writeUInt16BE(this.int(65536), 2); // sequence jump
        else if (r < 0.5) b.writeUInt32BE(this.int(2 ** 32), 4); // timestamp jump
        else if (r < 0.7) b.writeUInt32BE(this.int(2 ** 32), 8); // SSRC change
        else if (r < 0.85) b.writeUInt16BE((this.seq - this.int(50)) & 0xffff, 2); // old / duplicate
        return b;
      }
      case 'oversized':
        return this.valid(1200 + this.int(2800));
    }
  }
}
