import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.ts';
import { isBridgeError } from '../../src/errors.ts';
import { PortPool } from '../../src/media/port-pool.ts';
import { RtpEndpoint } from '../../src/media/rtp-endpoint.ts';
import { RtpMux } from '../../src/media/rtp-mux.ts';
import { writeRtp, type RtpPacket } from '../../src/media/rtp-packet.ts';

const HOST = '127.0.0.1';
// Above Linux's ephemeral range (32768-60999), clear of the other tests' fixed ranges.
const PORT = 65500 + (process.pid % 8) * 3; // 65500-65525

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

type Client = dgram.Socket & { received: Array<{ msg: Buffer; from: number }>; port: number };

async function client(address = HOST): Promise<Client> {
  const s = dgram.createSocket('udp4') as Client;
  s.received = [];
  s.on('message', (msg, rinfo) => s.received.push({ msg, from: rinfo.port }));
  await new Promise<void>((r) => s.bind(0, address, r));
  s.port = s.address().port;
  cleanup.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

function rtp(seq: number, ssrc = 7): Buffer {
  const out = Buffer.alloc(172);
  writeRtp({ payloadType: 0, sequence: seq, timestamp: seq * 160, ssrc }, new Uint8Array(160).fill(0x55), out);
  return out;
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

async function openMux(port = PORT): Promise<RtpMux> {
  const mux = await RtpMux.open({ bindAddress: HOST, port });
  cleanup.push(() => mux.close());
  return mux;
}

async function endpoint(mux: RtpMux, remote?: { address: string; port: number }) {
  const got: RtpPacket[] = [];
  const ep = await RtpEndpoint.open({ mux, bindAddress: HOST, remote, onPacket: (p) => got.push(p) });
  cleanup.push(() => ep.close());
  return { ep, got };
}

describe('RtpMux: one socket for every call, routed by the source address', () => {
  it('each call gets only its own source\'s packets, and sends from the shared port', async () => {
    const mux = await openMux();
    const a = await client();
    const b = await client();
    const stranger = await client();
    const ca = await endpoint(mux, { address: HOST, port: a.port });
    const cb = await endpoint(mux, { address: HOST, port: b.port });
    expect(ca.ep.localPort).toBe(PORT);
    expect(cb.ep.localPort).toBe(PORT);
    expect(mux.routes).toBe(2);
    for (let i = 0; i < 5; i++) a.send(rtp(100 + i, 1), PORT, HOST);
    for (let i = 0; i < 3; i++) b.send(rtp(200 + i, 2), PORT, HOST);
    stranger.send(rtp(999, 3), PORT, HOST);
    await waitFor(() => ca.got.length === 5 && cb.got.length === 3 && mux.counters.unknownSource === 1, 'routed packets');
    expect(ca.got.map((p) => p.sequence)).toEqual([100, 101, 102, 103, 104]);
    expect(cb.got.map((p) => p.sequence)).toEqual([200, 201, 202]);
    expect(ca.ep.counters.wrongSource + cb.ep.counters.wrongSource).toBe(0);
    expect(mux.counters.packetsIn).toBe(9);

    ca.ep.send(rtp(1));
    cb.ep.send(rtp(2));
    await waitFor(() => a.received.length === 1 && b.received.length === 1, 'replies');
    // strictrtp sees the port it was told to send to: every reply comes from the shared port
    expect(a.received[0].from).toBe(PORT);
    expect(b.received[0].from).toBe(PORT);
    expect(stranger.received).toHaveLength(0);
  });

  it('a call bound before its peer is named receives nothing until setRemote, then only from that peer', async () => {
    const mux = await openMux();
    const asterisk = await client();
    const { ep, got } = await endpoint(mux);
    asterisk.send(rtp(1), PORT, HOST);
    await waitFor(() => mux.counters.unknownSource === 1, 'unrouted packet counted');
    expect(got).toHaveLength(0);
    ep.setRemote({ address: HOST, port: asterisk.port });
    asterisk.send(rtp(2), PORT, HOST);
    await waitFor(() => got.length === 1, 'routed packet');
    expect(got[0].sequence).toBe(2);
    // Re-pointed at another address: the old one is a stranger from then on.
    const other = await client();
    ep.setRemote({ address: HOST, port: other.port });
    asterisk.send(rtp(3), PORT, HOST);
    other.send(rtp(4), PORT, HOST);
    await waitFor(() => got.length === 2 && mux.counters.unknownSource === 2, 're-routed');
    expect(got[1].sequence).toBe(4);
    expect(mux.routes).toBe(1);
  });

  it('a closed call leaves the socket to the others; its source is unknown from then on', async () => {
    const mux = await openMux();
    const a = await client();
    const b = await client();
    const ca = await endpoint(mux, { address: HOST, port: a.port });
    const cb = await endpoint(mux, { address: HOST, port: b.port });
    await ca.ep.close();
    await ca.ep.close(); // idempotent
    expect(mux.routes).toBe(1);
    a.send(rtp(1), PORT, HOST);
    b.send(rtp(2), PORT, HOST);
    await waitFor(() => cb.got.length === 1 && mux.counters.unknownSource === 1, 'after close');
    expect(ca.got).toHaveLength(0);
    ca.ep.send(rtp(3)); // sending after close is a no-op, not an error
    expect(ca.ep.counters.packetsOut).toBe(0);
  });

  it('the same port on two addresses is two calls (two Asterisk servers)', async () => {
    const mux = await RtpMux.open({ bindAddress: '0.0.0.0', port: PORT + 1 });
    cleanup.push(() => mux.close());
    const one = await client('127.0.0.1');
    const two = await client('127.0.0.2');
    const c1 = await endpoint(mux, { address: '127.0.0.1', port: one.port });
    const c2 = await endpoint(mux, { address: '127.0.0.2', port: one.port });
    const c3 = await endpoint(mux, { address: '127.0.0.2', port: two.port });
    one.send(rtp(10), PORT + 1, HOST);
    two.send(rtp(30), PORT + 1, HOST);
    await waitFor(() => c1.got.length === 1 && c3.got.length === 1, 'both delivered');
    expect(c2.got).toHaveLength(0);
    await c2.ep.close(); // unlinks from the middle of a chain without touching its neighbours
    one.send(rtp(11), PORT + 1, HOST);
    await waitFor(() => c1.got.length === 2, 'still routed');
    expect(mux.routes).toBe(2);
  });

  it('a source routed again goes to the newer call; the stale call closing later does not unroute it', async () => {
    const mux = await openMux();
    const asterisk = await client();
    const stale = await endpoint(mux, { address: HOST, port: asterisk.port });
    const fresh = await endpoint(mux, { address: HOST, port: asterisk.port });
    expect(mux.counters.routesReplaced).toBe(1);
    await stale.ep.close();
    asterisk.send(rtp(5), PORT, HOST);
    await waitFor(() => fresh.got.length === 1, 'fresh call receives');
    expect(stale.got).toHaveLength(0);
    expect(mux.routes).toBe(1);
  });

  it('bad datagrams are the routed call\'s malformed counters; a throwing receiver does not stop the socket', async () => {
    const mux = await openMux();
    const a = await client();
    const b = await client();
    const { ep, got } = await endpoint(mux, { address: HOST, port: a.port });
    let calls = 0;
    mux.route({ address: HOST, port: b.port }, () => {
      calls++;
      throw new Error('boom');
    });
    a.send(Buffer.from([0x80, 0x00, 0x01]), PORT, HOST); // truncated
    b.send(rtp(1), PORT, HOST);
    a.send(rtp(2), PORT, HOST);
    await waitFor(() => got.length === 1 && calls === 1, 'delivery after a throw');
    expect(ep.counters.malformed.RTP_TRUNCATED).toBe(1);
    expect(mux.counters.handlerErrors).toBe(1);
  });

  it('asks the kernel for a large receive buffer (one socket holds every call\'s backlog)', async () => {
    const mux = await openMux();
    // Linux doubles what it grants; the grant is capped at net.core.rmem_max.
    expect(mux.recvBufferBytes).toBeGreaterThan(212992);
  });

  it('errors: a port in use, an endpoint given both or neither of pool and mux, a shared port inside the per-call range', async () => {
    const mux = await openMux();
    const busy = await RtpMux.open({ bindAddress: HOST, port: PORT }).catch((e: unknown) => e);
    expect(isBridgeError(busy) && busy.code).toBe('RTP_NO_PORT');
    expect((busy as Error).message).toContain(`${HOST}:${PORT}`);
    const pool = new PortPool(PORT + 2, PORT + 3);
    for (const opts of [{ pool, mux }, {}]) {
      const err = await RtpEndpoint.open({ ...opts, bindAddress: HOST, onPacket: () => {} }).catch((e: unknown) => e);
      expect(isBridgeError(err) && err.code).toBe('INTERNAL');
    }
    expect(() => validateConfig({ media: { rtpPortMin: 40000, rtpPortMax: 40999, rtpSharedPort: 40500 } })).toThrow(/rtpSharedPort/);
    expect(validateConfig({ media: { rtpSharedPort: 41990 } }).media.rtpSharedPort).toBe(41990);
    await mux.close();
    expect(() => mux.route({ address: HOST, port: 1 }, () => {})).toThrow(/after close/);
  });
});
