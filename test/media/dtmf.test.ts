import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/errors.ts';
import {
  buildTelephoneEvents,
  digitToEvent,
  DtmfReceiver,
  eventToDigit,
  parseTelephoneEvent,
  type TelephoneEvent,
} from '../../src/media/dtmf.ts';
import type { RtpPacket } from '../../src/media/rtp-packet.ts';

function pkt(payload: Uint8Array, timestamp: number, sequence: number, ssrc = 1, marker = false): RtpPacket {
  return { version: 2, padding: false, marker, payloadType: 101, sequence, timestamp, ssrc, csrcs: [], payload };
}

function ev(v: TelephoneEvent | BridgeError): TelephoneEvent {
  if (v instanceof BridgeError) throw v;
  return v;
}

/** Packets as a sender emits them for one digit: growing duration, end packet three times. */
function senderPackets(digit: string, ts: number, seq0: number, durationMs = 100): RtpPacket[] {
  return buildTelephoneEvents(digit, durationMs).map((p, i) => pkt(p, ts, (seq0 + i) & 0xffff, 1, i === 0));
}

describe('parseTelephoneEvent', () => {
  it('decodes event, end bit, volume and duration (RFC 4733 figure 1)', () => {
    const e = ev(parseTelephoneEvent(Uint8Array.of(11, 0x80 | 10, 0x03, 0x20)));
    expect(e).toEqual({ event: 11, end: true, volume: 10, duration: 800 });
    const s = ev(parseTelephoneEvent(Uint8Array.of(5, 0x07, 0x00, 0xa0)));
    expect(s).toEqual({ event: 5, end: false, volume: 7, duration: 160 });
  });
  it('a payload shorter than 4 bytes is DTMF_MALFORMED', () => {
    const r = parseTelephoneEvent(Uint8Array.of(1, 2, 3));
    expect(r).toBeInstanceOf(BridgeError);
    expect((r as BridgeError).code).toBe('DTMF_MALFORMED');
  });
});

describe('digit mapping', () => {
  it('maps all 16 digits both ways and rejects others', () => {
    const digits = '0123456789*#ABCD';
    for (let i = 0; i < 16; i++) {
      expect(eventToDigit(i)).toBe(digits[i]);
      expect(digitToEvent(digits[i])).toBe(i);
    }
    expect(eventToDigit(16)).toBeNull();
    expect(digitToEvent('a')).toBe(12);
    expect(() => digitToEvent('x')).toThrow(BridgeError);
    expect(() => digitToEvent('12')).toThrow(BridgeError);
  });
});

describe('buildTelephoneEvents', () => {
  it('100 ms: 5 packets of growing duration, the end one sent 3 times', () => {
    const ps = buildTelephoneEvents('7', 100).map((p) => ev(parseTelephoneEvent(p)));
    expect(ps.map((p) => p.duration)).toEqual([160, 320, 480, 640, 800, 800, 800]);
    expect(ps.map((p) => p.end)).toEqual([false, false, false, false, true, true, true]);
    expect(new Set(ps.map((p) => p.event))).toEqual(new Set([7]));
  });
  it('clamps very short durations to 40 ms', () => {
    expect(buildTelephoneEvents('#', 5)).toHaveLength(2 + 2);
  });
  it('rejects a non-digit', () => {
    expect(() => buildTelephoneEvents('Z')).toThrow(BridgeError);
  });
});

describe('DtmfReceiver', () => {
  it('reports each digit once despite repeats and the three end packets', () => {
    const rx = new DtmfReceiver();
    const got: string[] = [];
    for (const p of [...senderPackets('1', 8000, 10), ...senderPackets('#', 9600, 17), ...senderPackets('1', 11200, 24)]) {
      const d = rx.push(p);
      if (d) got.push(d);
    }
    expect(got).toEqual(['1', '#', '1']);
    expect(rx.counters.digits).toBe(3);
    expect(rx.counters.packets).toBe(21);
  });

  it('reports a digit whose end packets were all lost', () => {
    const rx = new DtmfReceiver();
    const first = senderPackets('5', 1000, 1).slice(0, 2);
    const second = senderPackets('6', 3000, 3);
    const got = [...first, ...second].map((p) => rx.push(p)).filter(Boolean);
    expect(got).toEqual(['5', '6']);
  });

  it('reports a digit whose first packets were lost (only the end packets arrive)', () => {
    const rx = new DtmfReceiver();
    const got = senderPackets('9', 500, 1).slice(4).map((p) => rx.push(p)).filter(Boolean);
    expect(got).toEqual(['9']);
  });

  it('a straggler from an earlier event does not re-trigger it', () => {
    const rx = new DtmfReceiver();
    const a = senderPackets('2', 1000, 1);
    const b = senderPackets('3', 2000, 8);
    const got = [a[0], b[0], a[6], b[6]].map((p) => rx.push(p)).filter(Boolean);
    expect(got).toEqual(['2', '3']);
    expect(rx.counters.ignored).toBe(1);
  });

  it('handles the RTP timestamp wrapping past 2^32', () => {
    const rx = new DtmfReceiver();
    const a = senderPackets('4', 0xffffff00, 1);
    const b = senderPackets('8', 0x00000200, 8);
    expect([...a, ...b].map((p) => rx.push(p)).filter(Boolean)).toEqual(['4', '8']);
  });

  it('a new SSRC starts afresh even with an older timestamp', () => {
    const rx = new DtmfReceiver();
    rx.push(senderPackets('1', 5000, 1)[0]);
    const other = pkt(buildTelephoneEvents('2')[0], 100, 1, 2);
    expect(rx.push(other)).toBe('2');
  });

  it('counts a malformed payload and reports nothing', () => {
    const rx = new DtmfReceiver();
    expect(rx.push(pkt(Uint8Array.of(1, 2), 100, 1))).toBeNull();
    expect(rx.counters.malformed).toBe(1);
  });

  it('ignores non-digit events (flash)', () => {
    const rx = new DtmfReceiver();
    expect(rx.push(pkt(Uint8Array.of(16, 0x0a, 0, 160), 100, 1))).toBeNull();
    expect(rx.counters.ignored).toBe(1);
  });
});
