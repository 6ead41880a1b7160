import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/errors.ts';
import { parseTelephoneEvent, type TelephoneEvent } from '../../src/media/dtmf.ts';
import { Pacer } from '../../src/media/pacer.ts';
import { parseRtp, type RtpPacket } from '../../src/media/rtp-packet.ts';

function collect(opts: Partial<ConstructorParameters<typeof Pacer>[0]> = {}): { pacer: Pacer; sent: RtpPacket[] } {
  const sent: RtpPacket[] = [];
  const pacer = new Pacer({
    payloadType: 0,
    ssrc: 0x11223344,
    initialSeq: 1000,
    initialTimestamp: 5000,
    ...opts,
    send: (b) => {
      const p = parseRtp(Buffer.from(b)); // copy: the pacer reuses its buffers
      if (p instanceof BridgeError) throw p;
      sent.push(p);
    },
  });
  return { pacer, sent };
}

const frame = (fill: number): Uint8Array => new Uint8Array(160).fill(fill);

describe('Pacer', () => {
  it('continuous sequence, timestamps advance across silence, marker on each talk-spurt start', () => {
    const { pacer, sent } = collect();
    const plan = [1, 1, 1, null, null, null, 1, 1, null, 1];
    for (const f of plan) pacer.tick(f === null ? null : frame(0x55));
    expect(sent.map((p) => p.sequence)).toEqual([1000, 1001, 1002, 1003, 1004, 1005]);
    expect(sent.map((p) => p.timestamp)).toEqual([5000, 5160, 5320, 5000 + 6 * 160, 5000 + 7 * 160, 5000 + 9 * 160]);
    expect(sent.map((p) => p.marker)).toEqual([true, false, false, true, false, true]);
    expect(sent.every((p) => p.ssrc === 0x11223344 && p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    expect(pacer.counters).toMatchObject({ packets: 6, silentTicks: 4, talkSpurts: 3 });
    expect(pacer.timestamp).toBe(5000 + 10 * 160);
  });

  it('carries the payload bytes exactly and uses the configured payload type', () => {
    const { pacer, sent } = collect({ payloadType: 8 });
    const f = Uint8Array.from({ length: 160 }, (_, i) => i);
    pacer.tick(f);
    expect(sent[0].payloadType).toBe(8);
    expect(Array.from(sent[0].payload)).toEqual(Array.from(f));
  });

  it('sequence wraps 65535 -> 0 and timestamp wraps 2^32 -> 0', () => {
    const { pacer, sent } = collect({ initialSeq: 65534, initialTimestamp: 2 ** 32 - 320 });
    for (let i = 0; i < 4; i++) pacer.tick(frame(1));
    expect(sent.map((p) => p.sequence)).toEqual([65534, 65535, 0, 1]);
    expect(sent.map((p) => p.timestamp)).toEqual([2 ** 32 - 320, 2 ** 32 - 160, 0, 160]);
  });

  it('random SSRC/sequence/timestamp by default', () => {
    const a = collect({ ssrc: undefined, initialSeq: undefined, initialTimestamp: undefined });
    const b = collect({ ssrc: undefined, initialSeq: undefined, initialTimestamp: undefined });
    a.pacer.tick(frame(1));
    b.pacer.tick(frame(1));
    const pa = a.sent[0];
    const pb = b.sent[0];
    // Three independent random fields all colliding has probability ~2^-80.
    expect(pa.ssrc === pb.ssrc && pa.sequence === pb.sequence && pa.timestamp === pb.timestamp).toBe(false);
  });

  it('DTMF replaces audio: one event per tick with the start timestamp, end sent 3 times, seq continuous', () => {
    const { pacer, sent } = collect();
    pacer.tick(frame(1)); // ts 5000
    pacer.sendDtmf('5', 60); // 3 packets + 2 extra end repeats
    for (let i = 0; i < 7; i++) pacer.tick(frame(2));
    const dtmf = sent.filter((p) => p.payloadType === 101);
    expect(dtmf).toHaveLength(5);
    expect(dtmf.every((p) => p.timestamp === 5160)).toBe(true);
    expect(dtmf.map((p) => p.marker)).toEqual([true, false, false, false, false]);
    const events = dtmf.map((p) => parseTelephoneEvent(p.payload) as TelephoneEvent);
    expect(events.map((e) => [e.event, e.end, e.duration])).toEqual([
      [5, false, 160],
      [5, false, 320],
      [5, true, 480],
      [5, true, 480],
      [5, true, 480],
    ]);
    const after = sent.slice(6);
    expect(after.map((p) => [p.payloadType, p.marker, p.timestamp])).toEqual([
      [0, true, 5000 + 6 * 160],
      [0, false, 5000 + 7 * 160],
    ]);
    expect(sent.map((p) => p.sequence)).toEqual([1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007]);
  });

  it('flush() drops a digit in progress at once; the next audio packet carries the marker', () => {
    const { pacer, sent } = collect();
    pacer.sendDtmf('1', 200);
    pacer.sendDtmf('2', 200);
    pacer.tick(null);
    pacer.tick(null);
    expect(pacer.dtmfPending).toBe(true);
    pacer.flush();
    expect(pacer.dtmfPending).toBe(false);
    pacer.tick(frame(3));
    expect(sent).toHaveLength(3);
    expect(sent[2]).toMatchObject({ payloadType: 0, marker: true, timestamp: 5000 + 2 * 160, sequence: 1002 });
    expect(pacer.counters.dtmfFlushed).toBe(2);
  });

  it('flush() mid talk-spurt restarts the spurt (marker on the next packet)', () => {
    const { pacer, sent } = collect();
    pacer.tick(frame(1));
    pacer.tick(frame(1));
    pacer.flush();
    pacer.tick(frame(1));
    expect(sent.map((p) => p.marker)).toEqual([true, false, true]);
  });

  it('rejects an invalid digit at sendDtmf, not later', () => {
    const { pacer } = collect();
    expect(() => pacer.sendDtmf('x')).toThrow(BridgeError);
    expect(pacer.dtmfPending).toBe(false);
  });

  it('a throwing transport is counted and pacing continues', () => {
    let n = 0;
    const pacer = new Pacer({
      payloadType: 0,
      initialSeq: 0,
      send: () => {
        if (n++ === 0) throw new Error('EHOSTUNREACH');
      },
    });
    pacer.tick(frame(1));
    pacer.tick(frame(1));
    expect(pacer.counters.sendErrors).toBe(1);
    expect(pacer.counters.packets).toBe(2);
    expect(pacer.nextSequence).toBe(2);
  });

  it('a packet view stays intact for the next 15 packets (dgram reads it a tick later)', () => {
    const views: Buffer[] = [];
    const pacer = new Pacer({ payloadType: 0, initialSeq: 0, send: (b) => views.push(b) });
    for (let i = 0; i < 16; i++) pacer.tick(frame(i));
    views.forEach((v, i) => {
      expect(v.readUInt16BE(2)).toBe(i);
      expect(v[12]).toBe(i);
    });
  });

  it('reuses its packet buffers (no per-packet allocation)', () => {
    const seen = new Set<ArrayBufferLike>();
    const pacer = new Pacer({ payloadType: 0, send: (b) => seen.add(b.buffer) });
    for (let i = 0; i < 50; i++) pacer.tick(frame(i));
    expect(seen.size).toBe(1);
  });
});
