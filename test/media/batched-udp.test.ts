/**
 * Batched UDP (native/rtp-io) over real loopback sockets: what it reads, sends, times and refuses,
 * and the RTP endpoint and media session on it. CI builds the addon (`npm ci`); these tests fail,
 * not skip, when it is missing, since the daemon would then run on the dgram fallback.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallSession } from '../../src/agent/call-port.ts';
import { BatchedUdp, batchedUdpFor, loadRtpIo, type DatagramSink } from '../../src/media/batched-udp.ts';
import { ManualClock, systemClock } from '../../src/media/clock.ts';
import { ulawEncode } from '../../src/media/g711.ts';
import { PortPool } from '../../src/media/port-pool.ts';
import { RtpEndpoint } from '../../src/media/rtp-endpoint.ts';
import { RtpMediaSession } from '../../src/media/rtp-media-session.ts';
import { parseRtp, writeRtp, type RtpPacket } from '../../src/media/rtp-packet.ts';
import { Ticker, type TickIo } from '../../src/media/ticker.ts';
import { CallSessionEventsStub } from '../helpers/call-session-events.ts';

const HOST = '127.0.0.1';
// Below Linux's ephemeral range (32768-60999), where no socket bound to port 0 can hold one, and
// clear of the other tests' fixed ranges.
const BASE = 31000 + (process.pid % 5) * 20;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Got {
  msg: Buffer;
  address: string;
  port: number;
  arrivalMs: number;
}

function recorder(): DatagramSink & { got: Got[]; oversize: number; kernelDrops: number; errors: NodeJS.ErrnoException[] } {
  const r = {
    got: [] as Got[],
    oversize: 0,
    kernelDrops: 0,
    errors: [] as NodeJS.ErrnoException[],
    onDatagram(msg: Buffer, address: string, port: number, arrivalMs: number) {
      r.got.push({ msg, address, port, arrivalMs });
    },
    onOversize() {
      r.oversize++;
    },
    onKernelDrops(total: number) {
      r.kernelDrops = total;
    },
    onSendError(err: NodeJS.ErrnoException) {
      r.errors.push(err);
    },
  };
  return r;
}

async function peer(): Promise<{ sock: dgram.Socket; port: number; got: Buffer[] }> {
  const sock = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, HOST, r));
  cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
  return { sock, port: sock.address().port, got };
}

function send(sock: dgram.Socket, buf: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve, reject) => sock.send(buf, port, HOST, (err) => (err ? reject(err) : resolve())));
}

function newUdp(clock = systemClock): BatchedUdp {
  const udp = new BatchedUdp(clock);
  cleanup.push(() => udp.close());
  return udp;
}

/** Poll until `cond` (datagrams on loopback are queued by the time send()'s callback runs, but be patient). */
async function pollUntil(udp: BatchedUdp, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) {
    udp.poll();
    if (!cond()) await sleep(5);
  }
}

describe('BatchedUdp', () => {
  it('is built (CI runs node-gyp through npm ci)', () => {
    const addon = loadRtpIo();
    expect(addon instanceof Error ? addon.message : 'loaded').toBe('loaded');
  });

  it('reads what every socket received in one poll, in order, with the source and copies it owns', async () => {
    const udp = newUdp();
    const a = recorder();
    const b = recorder();
    const sa = udp.bind(HOST, BASE, a);
    const sb = udp.bind(HOST, BASE + 1, b);
    expect([sa.localPort, sb.localPort, udp.size]).toEqual([BASE, BASE + 1, 2]);
    const p = await peer();
    for (let i = 0; i < 3; i++) await send(p.sock, Buffer.from([1, i]), BASE);
    await send(p.sock, Buffer.from([2, 9, 9]), BASE + 1);
    await pollUntil(udp, () => a.got.length === 3 && b.got.length === 1);
    expect(a.got.map((g) => [...g.msg])).toEqual([[1, 0], [1, 1], [1, 2]]);
    expect(b.got.map((g) => [...g.msg])).toEqual([[2, 9, 9]]);
    expect(a.got.every((g) => g.address === HOST && g.port === p.port)).toBe(true);
    // Each datagram's bytes are its own: the next poll reuses the read area, not what was handed out.
    await send(p.sock, Buffer.from([7, 7]), BASE);
    await pollUntil(udp, () => a.got.length === 4);
    expect(a.got.map((g) => [...g.msg])).toEqual([[1, 0], [1, 1], [1, 2], [7, 7]]);
    expect(udp.counters.datagramsIn).toBe(5);
  });

  it('a sink that throws costs its own datagram only: the other sockets in the same poll still get theirs', async () => {
    const udp = newUdp();
    const broken = recorder();
    broken.onDatagram = () => {
      throw new Error('a bug downstream');
    };
    const good = recorder();
    udp.bind(HOST, BASE + 17, broken);
    udp.bind(HOST, BASE + 18, good);
    const p = await peer();
    await send(p.sock, Buffer.from([1]), BASE + 17);
    await send(p.sock, Buffer.from([2]), BASE + 18);
    await sleep(20);
    udp.poll();
    expect(good.got.map((g) => [...g.msg])).toEqual([[2]]);
    expect(udp.counters.sinkErrors).toBe(1);
  });

  it('times a datagram when the kernel got it, not when it was polled', async () => {
    const udp = newUdp();
    const r = recorder();
    udp.bind(HOST, BASE + 2, r);
    const p = await peer();
    await send(p.sock, Buffer.from([1]), BASE + 2);
    const sentAt = performance.now();
    await sleep(40);
    const polledAt = performance.now();
    udp.poll();
    expect(r.got).toHaveLength(1);
    // Read at least 40 ms after it came: its arrival is stamped then, not at the poll.
    expect(r.got[0].arrivalMs).toBeLessThanOrEqual(polledAt - 35);
    expect(r.got[0].arrivalMs).toBeGreaterThan(sentAt - 40);
  });

  it('holds a burst until endBurst and sends it in one call; outside a burst it sends at once', async () => {
    const udp = newUdp();
    const s = udp.bind(HOST, BASE + 3, recorder());
    const p = await peer();
    udp.beginBurst();
    s.send(Buffer.from([1]), p.port, HOST);
    s.send(Buffer.from([2]), p.port, HOST);
    await sleep(30);
    expect(p.got).toHaveLength(0);
    udp.endBurst();
    s.send(Buffer.from([3]), p.port, HOST);
    for (let i = 0; i < 100 && p.got.length < 3; i++) await sleep(5);
    expect(p.got.map((m) => m[0])).toEqual([1, 2, 3]);
    expect(p.got.every((m) => m.length === 1)).toBe(true);
    expect(udp.counters).toMatchObject({ bursts: 1, datagramsOut: 2, sendErrors: 0 });
  });

  it('a socket closed during a burst still sends what it queued; nothing is read for it after', async () => {
    const udp = newUdp();
    const r = recorder();
    const s = udp.bind(HOST, BASE + 4, r);
    const p = await peer();
    await send(p.sock, Buffer.from([5]), BASE + 4);
    udp.beginBurst();
    s.send(Buffer.from([9]), p.port, HOST);
    s.close();
    udp.endBurst();
    for (let i = 0; i < 100 && p.got.length < 1; i++) await sleep(5);
    expect(p.got.map((m) => m[0])).toEqual([9]);
    udp.poll();
    expect(r.got).toHaveLength(0);
    expect(udp.size).toBe(0);
    s.send(Buffer.from([1]), p.port, HOST); // closed: a no-op, not an error
    expect(udp.counters.sendErrors).toBe(0);
    // The port is free again.
    const again = udp.bind(HOST, BASE + 4, recorder());
    expect(again.localPort).toBe(BASE + 4);
  });

  it('refuses a port in use and a non-IPv4 address with errors that name them', () => {
    const udp = newUdp();
    udp.bind(HOST, BASE + 5, recorder());
    expect(() => udp.bind(HOST, BASE + 5, recorder())).toThrow(expect.objectContaining({ code: 'EADDRINUSE', message: expect.stringContaining(`${HOST}:${BASE + 5}`) }));
    expect(() => udp.bind('::1', BASE + 6, recorder())).toThrow(/not an IPv4 address: ::1/);
    expect(() => udp.bind('pbx.example', BASE + 6, recorder())).toThrow(/not an IPv4 address/);
  });

  it('drops a datagram too big for a slot (counted), and the socket keeps reading', async () => {
    const udp = newUdp();
    const r = recorder();
    udp.bind(HOST, BASE + 7, r);
    const p = await peer();
    await send(p.sock, Buffer.alloc(3000, 1), BASE + 7);
    await send(p.sock, Buffer.from([4, 4]), BASE + 7);
    await pollUntil(udp, () => r.got.length === 1);
    expect(r.oversize).toBe(1);
    expect(r.got.map((g) => [...g.msg])).toEqual([[4, 4]]);
  });

  it('counts what the kernel dropped on a full receive queue, from the next datagram read', async () => {
    const udp = newUdp();
    const r = recorder();
    udp.bind(HOST, BASE + 9, r);
    const p = await peer();
    // Nothing reads between polls: far more than the default receive queue (~208 KiB) holds.
    for (let i = 0; i < 3000; i++) p.sock.send(Buffer.alloc(1000, 1), BASE + 9, HOST);
    await sleep(20);
    udp.poll(); // what the queue held: queued before the drops, so none of it tells
    const held = r.got.length;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(3000);
    expect(r.kernelDrops).toBe(0);
    // The next datagram queued carries the socket's drop count.
    await send(p.sock, Buffer.alloc(10, 2), BASE + 9);
    await pollUntil(udp, () => r.got.length > held);
    expect(r.kernelDrops).toBe(3000 - held);
  });

  it('reports a failed send to its socket with the errno, in a burst and alone', () => {
    const udp = newUdp();
    const r = recorder();
    const s = udp.bind(HOST, BASE + 8, r);
    // No SO_BROADCAST: the kernel refuses (EACCES) at once.
    s.send(Buffer.from([1]), 9, '255.255.255.255');
    udp.beginBurst();
    s.send(Buffer.from([2]), 9, '255.255.255.255');
    udp.endBurst();
    expect(r.errors.map((e) => e.code)).toEqual(['EACCES', 'EACCES']);
    expect(r.errors[0].message).toContain('255.255.255.255:9');
    expect(udp.counters.sendErrors).toBe(2);
    expect(() => s.send(Buffer.from([3]), 9, 'pbx.example')).toThrow(/not an IPv4 address/);
  });

  it('the addon rejects bad arguments with errors that say which', () => {
    const addon = loadRtpIo();
    if (addon instanceof Error) throw addon;
    expect(() => addon.sendTo(-1, new Uint8Array(1), 0, 9)).toThrow(/fd must be an integer/);
    expect(() => addon.sendTo(0, [1] as unknown as Uint8Array, 0, 9)).toThrow(/bytes must be a Uint8Array/);
    expect(() => addon.sendTo(0, new Uint8Array(1), 0, 70000)).toThrow(/port must be an integer in 1\.\.65535/);
    expect(() => addon.sendBatch(2, new Int32Array(5), new Uint8Array(4), new Int32Array(2))).toThrow(/count exceeds the batch arrays/);
    expect(() => addon.sendBatch(1, new Int32Array([0, 0, 9, 2, 4]), new Uint8Array(4), new Int32Array(1))).toThrow(/outside data/);
    expect(() => addon.receive(0, new Uint8Array(4), new Uint32Array(7) as unknown as Int32Array)).toThrow(/meta must be a Int32Array/);
    // A system call's failure is a -errno result, not a throw: the poller of a closed fd.
    expect(addon.receive(999_999, new Uint8Array(4096), new Int32Array(7))).toBeLessThan(0);
  });

  it('media.rtpIo chooses it: dgram never, native or auto when built', () => {
    expect(batchedUdpFor('dgram', systemClock)).toBeNull();
    for (const mode of ['native', 'auto'] as const) {
      const udp = batchedUdpFor(mode, systemClock);
      expect(udp).toBeInstanceOf(BatchedUdp);
      udp?.close();
    }
  });
});

/** A lead needs a clock that can wait: this one waits by moving itself. */
class WaitingClock extends ManualClock {
  constructor(private readonly onWait: () => void = () => {}) {
    super();
  }
  waitUntil(at: number): void {
    this.onWait();
    if (at > this.now()) this.advance(at - this.now());
  }
}

describe('the Ticker drives a TickIo', () => {
  it('polls as each sub-tick wakes, before its send phase, and wraps the held sends in one burst', () => {
    const order: string[] = [];
    const clock = new WaitingClock(() => order.push('wait'));
    const io: TickIo = { poll: () => order.push('poll'), beginBurst: () => order.push('begin'), endBurst: () => order.push('end') };
    const ticker = new Ticker(clock, { io, leadMs: 4, slots: 2 });
    const held = { flushSend: () => order.push('flush') };
    ticker.add(() => {
      order.push('send');
      ticker.defer(held);
    }, 'send', 0);
    ticker.add(() => order.push('inbound'), 'inbound', 0);
    ticker.start();
    clock.advance(20); // slot 1's sub-tick (no subscribers) at 10 ms, then slot 0's at 20
    ticker.stop(); // (an empty burst)
    expect(order).toEqual([
      ...['poll', 'wait', 'begin', 'end'],
      ...['poll', 'send', 'wait', 'begin', 'flush', 'end', 'inbound'],
      ...['begin', 'end'],
    ]);
  });

  it('a poll that throws is counted; the tick still runs', () => {
    const clock = new ManualClock();
    const io: TickIo = { poll: () => { throw new Error('boom'); }, beginBurst: () => {}, endBurst: () => {} };
    const ticker = new Ticker(clock, { io });
    let ran = 0;
    ticker.add(() => ran++);
    ticker.start();
    clock.advance(40);
    ticker.stop();
    expect(ran).toBe(2);
    expect(ticker.counters.errors).toBe(2);
  });
});

function rtp(seq: number, payload: Uint8Array, pt = 0): Buffer {
  const out = Buffer.alloc(12 + payload.length);
  writeRtp({ payloadType: pt, sequence: seq, timestamp: seq * 160, ssrc: 0xabc, marker: false }, payload, out);
  return out;
}

describe('RtpEndpoint on batched UDP', () => {
  it('latches the first valid source, counts the rest, and sends to it', async () => {
    const udp = newUdp();
    const pool = new PortPool(BASE + 10, BASE + 12);
    const got: RtpPacket[] = [];
    const ep = await RtpEndpoint.open({ pool, bindAddress: HOST, udp, onPacket: (pkt) => got.push(pkt) });
    cleanup.push(() => ep.close());
    const caller = await peer();
    const stranger = await peer();
    await send(caller.sock, Buffer.from([0x80]), ep.localPort); // truncated RTP
    await send(caller.sock, rtp(1, new Uint8Array(160).fill(0x55)), ep.localPort);
    await send(stranger.sock, rtp(2, new Uint8Array(160)), ep.localPort);
    await send(caller.sock, rtp(3, new Uint8Array(160), 96), ep.localPort); // unknown payload type
    await send(caller.sock, rtp(4, new Uint8Array(160).fill(0x66)), ep.localPort);
    await pollUntil(udp, () => ep.counters.packetsIn === 5);
    expect(got.map((p) => p.sequence)).toEqual([1, 4]);
    expect(got[1].payload.every((b) => b === 0x66)).toBe(true);
    expect(ep.counters).toMatchObject({ packetsIn: 5, wrongSource: 1, unknownPayload: 1, malformed: expect.objectContaining({ RTP_TRUNCATED: 1 }) });
    expect(ep.source).toEqual({ address: HOST, port: caller.port });
    ep.send(rtp(10, new Uint8Array(160)));
    for (let i = 0; i < 100 && caller.got.length < 1; i++) await sleep(5);
    expect(caller.got).toHaveLength(1);
    expect(stranger.got).toHaveLength(0);
    await ep.close();
    expect(pool.inUse).toBe(0);
  });

  it('skips a port another process holds, as with dgram', async () => {
    const udp = newUdp();
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(BASE + 13, HOST, r));
    cleanup.push(() => new Promise<void>((r) => squatter.close(() => r())));
    const pool = new PortPool(BASE + 13, BASE + 14);
    const ep = await RtpEndpoint.open({ pool, bindAddress: HOST, udp, onPacket: () => {} });
    cleanup.push(() => ep.close());
    expect(ep.localPort).toBe(BASE + 14);
  });
});

class ToneCall extends CallSessionEventsStub implements CallSession {
  readonly id = 'tone-1';
  heard = 0;
  replies = 0;
  async start(): Promise<void> {}
  pushInbound(frame: Int16Array): void {
    if (frame.some((s) => s !== 0)) this.heard++;
  }
  pullOutbound(): Int16Array | null {
    this.replies++;
    return Int16Array.from({ length: 160 }, (_, i) => Math.round(4000 * Math.sin(i / 3)));
  }
  dtmf(): void {}
}

describe('RtpMediaSession on a Ticker with batched UDP', () => {
  it('hears what the ticks read and sends its packets in the ticks bursts', async () => {
    const clock = new WaitingClock();
    const udp = newUdp(clock);
    const ticker = new Ticker(clock, { io: udp, leadMs: 3 });
    const call = new ToneCall();
    const far = await peer();
    const session = await RtpMediaSession.open({
      call,
      ticker,
      pool: new PortPool(BASE + 15, BASE + 16),
      bindAddress: HOST,
      remote: { address: HOST, port: far.port },
      jitterBufferMs: 20,
      jitterAdaptive: false,
    });
    cleanup.push(() => session.close());
    const loud = ulawEncode(Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin(i / 5))));
    for (let k = 0; k < 5; k++) await send(far.sock, rtp(100 + k, loud), session.localPort);
    // Nothing reads the socket but the ticks.
    await sleep(20);
    expect(session.counters().packetsIn).toBe(0);
    ticker.start();
    for (let t = 0; t < 10; t++) {
      clock.advance(20);
      await new Promise((r) => setImmediate(r)); // the outbound phase runs after the tick's promise jobs
    }
    ticker.stop();
    const c = session.counters();
    expect(c.packetsIn).toBe(5);
    expect(c.framesAudio).toBe(5);
    expect(call.heard).toBeGreaterThanOrEqual(5);
    expect(udp.counters.bursts).toBeGreaterThan(0);
    for (let i = 0; i < 100 && far.got.length < c.packetsOut; i++) await sleep(5);
    expect(c.packetsOut).toBeGreaterThanOrEqual(9);
    expect(far.got).toHaveLength(c.packetsOut);
    const seqs = far.got.map((m) => (parseRtp(m) as RtpPacket).sequence);
    expect(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1] + 1) & 0xffff))).toBe(true);
  });
});
