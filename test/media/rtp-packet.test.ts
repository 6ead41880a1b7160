import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/errors.ts';
import { parseRtp, rtpPacketSize, writeRtp, writeRtpFixedHeader, type RtpPacket } from '../../src/media/rtp-packet.ts';

interface FixturePacket {
  t: number;
  from: string;
  hex: string;
}
const fixture = JSON.parse(
  readFileSync(new URL('../../../shared/fixtures/asterisk20-externalmedia-call.json', import.meta.url), 'utf8'),
) as { rtp_first_60: FixturePacket[] };

function ok(v: RtpPacket | BridgeError): RtpPacket {
  if (v instanceof BridgeError) throw new Error(`unexpected ${v.code}: ${v.message}`);
  return v;
}

function err(v: RtpPacket | BridgeError): BridgeError {
  if (!(v instanceof BridgeError)) throw new Error('expected a BridgeError, got a packet');
  return v;
}

describe('parseRtp on real Asterisk 20 ExternalMedia packets', () => {
  const packets = fixture.rtp_first_60.map((p) => ok(parseRtp(Buffer.from(p.hex, 'hex'))));

  it('parses all 60 as plain version-2 PCMU with 160-byte payloads', () => {
    expect(packets).toHaveLength(60);
    for (const p of packets) {
      expect(p.version).toBe(2);
      expect(p.padding).toBe(false);
      expect(p.extension).toBeUndefined();
      expect(p.csrcs).toEqual([]);
      expect(p.payloadType).toBe(0);
      expect(p.payload.length).toBe(160);
    }
  });

  it('one SSRC, continuous sequence, timestamp from 160 in steps of 160, no marker on the first packet', () => {
    const first = packets[0];
    expect(first.ssrc).toBe(0x1497dece);
    expect(first.sequence).toBe(47313);
    expect(first.timestamp).toBe(160);
    expect(first.marker).toBe(false);
    for (let i = 1; i < packets.length; i++) {
      expect(packets[i].ssrc).toBe(first.ssrc);
      expect(packets[i].sequence).toBe((first.sequence + i) & 0xffff);
      expect(packets[i].timestamp).toBe(packets[i - 1].timestamp + 160);
      expect(packets[i].marker).toBe(false);
    }
  });

  it('payload is a view into the datagram, not a copy', () => {
    const buf = Buffer.from(fixture.rtp_first_60[0].hex, 'hex');
    const p = ok(parseRtp(buf));
    expect(p.payload.buffer).toBe(buf.buffer);
    expect(p.payload.byteOffset).toBe(buf.byteOffset + 12);
    expect(Buffer.from(p.payload).equals(buf.subarray(12))).toBe(true);
  });

  it('writeRtp reproduces the captured packets byte for byte', () => {
    const out = Buffer.alloc(1500);
    for (const raw of fixture.rtp_first_60) {
      const p = ok(parseRtp(Buffer.from(raw.hex, 'hex')));
      const n = writeRtp(p, p.payload, out);
      expect(out.subarray(0, n).toString('hex')).toBe(raw.hex);
    }
  });
});

describe('RTP build/parse round trip', () => {
  it('CSRC list, header extension, padding and marker survive', () => {
    const payload = Uint8Array.from({ length: 33 }, (_, i) => i * 7);
    const header = {
      payloadType: 8,
      sequence: 65535,
      timestamp: 0xfffffff0,
      ssrc: 0xdeadbeef,
      marker: true,
      csrcs: [1, 0xffffffff, 3],
      extension: { profile: 0xbede, data: Uint8Array.of(0x10, 0xaa, 0, 0, 1, 2, 3, 4) },
      paddingBytes: 3,
    };
    const out = new Uint8Array(200);
    const n = writeRtp(header, payload, out);
    expect(n).toBe(rtpPacketSize(header, payload.length));
    expect(n).toBe(12 + 12 + 4 + 8 + 33 + 3);
    const p = ok(parseRtp(out.subarray(0, n)));
    expect(p.marker).toBe(true);
    expect(p.padding).toBe(true);
    expect(p.payloadType).toBe(8);
    expect(p.sequence).toBe(65535);
    expect(p.timestamp).toBe(0xfffffff0);
    expect(p.ssrc).toBe(0xdeadbeef);
    expect(p.csrcs).toEqual([1, 0xffffffff, 3]);
    expect(p.extension?.profile).toBe(0xbede);
    expect(Array.from(p.extension!.data)).toEqual([0x10, 0xaa, 0, 0, 1, 2, 3, 4]);
    expect(Array.from(p.payload)).toEqual(Array.from(payload));
  });

  it('writeRtpFixedHeader matches writeRtp', () => {
    const a = new Uint8Array(12);
    const b = new Uint8Array(12);
    writeRtpFixedHeader(a, true, 101, 513, 0x80000001, 7);
    writeRtp({ payloadType: 101, sequence: 513, timestamp: 0x80000001, ssrc: 7, marker: true }, new Uint8Array(0), b);
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('refuses to write into a buffer that is too small', () => {
    expect(() => writeRtp({ payloadType: 0, sequence: 0, timestamp: 0, ssrc: 0 }, new Uint8Array(160), new Uint8Array(100))).toThrow(
      BridgeError,
    );
  });
});

describe('parseRtp rejects malformed packets with a typed error', () => {
  const good = (): Uint8Array => {
    const out = new Uint8Array(12 + 160);
    writeRtp({ payloadType: 0, sequence: 1, timestamp: 160, ssrc: 42 }, new Uint8Array(160), out);
    return out;
  };

  it('empty datagram: RTP_TRUNCATED', () => {
    expect(err(parseRtp(new Uint8Array(0))).code).toBe('RTP_TRUNCATED');
  });

  it('11-byte header: RTP_TRUNCATED', () => {
    expect(err(parseRtp(good().subarray(0, 11))).code).toBe('RTP_TRUNCATED');
  });

  it('CSRC count larger than the packet: RTP_TRUNCATED', () => {
    const b = good().subarray(0, 20);
    b[0] = 0x80 | 3; // 3 CSRCs need 24 bytes
    const e = err(parseRtp(b));
    expect(e.code).toBe('RTP_TRUNCATED');
    expect(e.context.csrcCount).toBe(3);
  });

  it('version 1: RTP_BAD_VERSION', () => {
    const b = good();
    b[0] = 0x40;
    expect(err(parseRtp(b)).code).toBe('RTP_BAD_VERSION');
  });

  it('version 0 (e.g. a STUN message): RTP_BAD_VERSION', () => {
    const b = good();
    b[0] = 0x00;
    expect(err(parseRtp(b)).code).toBe('RTP_BAD_VERSION');
  });

  it('padding count larger than what follows the header: RTP_BAD_PADDING', () => {
    const b = good();
    b[0] |= 0x20;
    b[b.length - 1] = 200;
    const e = err(parseRtp(b));
    expect(e.code).toBe('RTP_BAD_PADDING');
    expect(e.context.padding).toBe(200);
  });

  it('padding bit with a zero count: RTP_BAD_PADDING', () => {
    const b = good();
    b[0] |= 0x20;
    b[b.length - 1] = 0;
    expect(err(parseRtp(b)).code).toBe('RTP_BAD_PADDING');
  });

  it('padding bit on a bare header (pad count would eat the header): RTP_BAD_PADDING', () => {
    const b = good().subarray(0, 12);
    b[0] |= 0x20;
    b[11] = 1;
    expect(err(parseRtp(b)).code).toBe('RTP_BAD_PADDING');
  });

  it('extension bit with no extension header: RTP_BAD_EXTENSION', () => {
    const b = good().subarray(0, 14);
    b[0] |= 0x10;
    expect(err(parseRtp(b)).code).toBe('RTP_BAD_EXTENSION');
  });

  it('extension length overrunning the packet: RTP_BAD_EXTENSION', () => {
    const b = good();
    b[0] |= 0x10;
    b[12] = 0xbe;
    b[13] = 0xde;
    b[14] = 0x01;
    b[15] = 0x00; // 256 words = 1024 bytes
    const e = err(parseRtp(b));
    expect(e.code).toBe('RTP_BAD_EXTENSION');
    expect(e.context.extensionWords).toBe(256);
  });

  it('random garbage never throws', () => {
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 0) / 0x7fffffff;
    for (let i = 0; i < 2000; i++) {
      const b = Uint8Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256));
      const r = parseRtp(b);
      if (!(r instanceof BridgeError)) expect(r.payload.length).toBeGreaterThanOrEqual(0);
    }
  });
});
