import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { isBridgeError } from '../../src/errors.ts';
import { PortPool } from '../../src/media/port-pool.ts';
import { RtpEndpoint } from '../../src/media/rtp-endpoint.ts';
import { parseRtp, writeRtp, type RtpPacket } from '../../src/media/rtp-packet.ts';

const HOST = '127.0.0.1';
// A per-process range so parallel test runs rarely collide (collisions are retried anyway).
const BASE = 42000 + (process.pid % 400) * 40;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function udpClient(): Promise<dgram.Socket & { received: Buffer[] }> {
  const s = dgram.createSocket('udp4') as dgram.Socket & { received: Buffer[] };
  s.received = [];
  s.on('message', (m) => s.received.push(m));
  await new Promise<void>((r) => s.bind(0, HOST, r));
  cleanup.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

function rtp(seq: number, pt = 0, len = 160): Buffer {
  const out = Buffer.alloc(12 + len);
  writeRtp({ payloadType: pt, sequence: seq, timestamp: seq * 160, ssrc: 7 }, new Uint8Array(len).fill(0x55), out);
  return out;
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

async function open(pool: PortPool, extra: Partial<Parameters<typeof RtpEndpoint.open>[0]> = {}) {
  const got: RtpPacket[] = [];
  const dtmf: RtpPacket[] = [];
  const ep = await RtpEndpoint.open({
    pool,
    bindAddress: HOST,
    onPacket: (p) => got.push(p),
    onDtmf: (p) => dtmf.push(p),
    ...extra,
  });
  cleanup.push(() => ep.close());
  return { ep, got, dtmf };
}

function sendTo(s: dgram.Socket, port: number, buf: Uint8Array): void {
  s.send(buf, port, HOST);
}

describe('RtpEndpoint over loopback UDP', () => {
  it('latches the first source, and sends back to it from the same port', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const { ep, got } = await open(pool);
    const a = await udpClient();
    sendTo(a, ep.localPort, rtp(100));
    await waitFor(() => got.length === 1, 'first packet');
    expect(got[0].sequence).toBe(100);
    expect(got[0].payload.length).toBe(160);
    expect(ep.source).toEqual({ address: HOST, port: a.address().port });
    ep.send(rtp(5));
    await waitFor(() => a.received.length === 1, 'reply');
    const reply = parseRtp(a.received[0]);
    expect(isBridgeError(reply)).toBe(false);
    expect((reply as RtpPacket).sequence).toBe(5);
    expect(ep.counters.packetsOut).toBe(1);
  });

  it('drops and counts packets from another source once latched', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const { ep, got } = await open(pool);
    const a = await udpClient();
    const b = await udpClient();
    sendTo(a, ep.localPort, rtp(1));
    await waitFor(() => got.length === 1, 'latch');
    sendTo(b, ep.localPort, rtp(2));
    sendTo(b, ep.localPort, rtp(3));
    sendTo(a, ep.localPort, rtp(4));
    await waitFor(() => ep.counters.packetsIn === 4, 'all datagrams');
    expect(got.map((p) => p.sequence)).toEqual([1, 4]);
    expect(ep.counters.wrongSource).toBe(2);
  });

  it('sends to the configured remote before any packet arrives (Asterisk sends nothing in silence)', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const a = await udpClient();
    const { ep } = await open(pool, { remote: { address: HOST, port: a.address().port } });
    ep.send(rtp(9));
    await waitFor(() => a.received.length === 1, 'packet at remote');
    expect(a.received[0].equals(rtp(9))).toBe(true);
  });

  it('pinPeer accepts only the configured remote, even as first packet', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const a = await udpClient();
    const b = await udpClient();
    const { ep, got } = await open(pool, { remote: { address: HOST, port: a.address().port }, pinPeer: true });
    sendTo(b, ep.localPort, rtp(1));
    sendTo(a, ep.localPort, rtp(2));
    await waitFor(() => ep.counters.packetsIn === 2, 'both datagrams');
    expect(got.map((p) => p.sequence)).toEqual([2]);
    expect(ep.counters.wrongSource).toBe(1);
  });

  it('pinPeer without a remote trusts nobody until setRemote names the peer', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const a = await udpClient();
    const { ep, got } = await open(pool, { pinPeer: true });
    sendTo(a, ep.localPort, rtp(1));
    await waitFor(() => ep.counters.packetsIn === 1, 'first datagram');
    expect(ep.counters.wrongSource).toBe(1);
    ep.setRemote({ address: HOST, port: a.address().port });
    sendTo(a, ep.localPort, rtp(2));
    await waitFor(() => got.length === 1, 'accepted packet');
    expect(got[0].sequence).toBe(2);
    ep.send(rtp(3));
    await waitFor(() => a.received.length === 1, 'reply to the named peer');
  });

  it('setRemote after binding redirects sending (ExternalMedia: port first, remote later)', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const a = await udpClient();
    const b = await udpClient();
    const { ep } = await open(pool, { remote: { address: HOST, port: a.address().port } });
    ep.send(rtp(1));
    ep.setRemote({ address: HOST, port: b.address().port });
    ep.send(rtp(2));
    await waitFor(() => a.received.length === 1 && b.received.length === 1, 'one packet each');
    expect(b.received[0].readUInt16BE(2)).toBe(2);
  });

  it('malformed datagrams are counted by error code, never thrown, and do not latch', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const { ep, got } = await open(pool);
    const bad = await udpClient();
    const good = await udpClient();
    const badVersion = rtp(1);
    badVersion[0] = 0x40;
    const badPadding = rtp(2);
    badPadding[0] |= 0x20;
    badPadding[badPadding.length - 1] = 255;
    const badExt = rtp(3);
    badExt[0] |= 0x10;
    badExt[14] = 0xff;
    sendTo(bad, ep.localPort, Buffer.from([1, 2, 3]));
    sendTo(bad, ep.localPort, badVersion);
    sendTo(bad, ep.localPort, badPadding);
    sendTo(bad, ep.localPort, badExt);
    await waitFor(() => ep.counters.packetsIn === 4, 'bad datagrams');
    sendTo(good, ep.localPort, rtp(10));
    await waitFor(() => got.length === 1, 'good packet');
    expect(ep.counters.malformed).toEqual({ RTP_TRUNCATED: 1, RTP_BAD_VERSION: 1, RTP_BAD_PADDING: 1, RTP_BAD_EXTENSION: 1 });
    expect(ep.source?.port).toBe(good.address().port);
  });

  it('unknown payload types are counted and dropped; telephone-event goes to onDtmf', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const { ep, got, dtmf } = await open(pool, { codec: 'ulaw' });
    const a = await udpClient();
    sendTo(a, ep.localPort, rtp(1, 18)); // G.729
    sendTo(a, ep.localPort, rtp(2, 8)); // PCMA while we negotiated PCMU
    sendTo(a, ep.localPort, rtp(3, 101, 4));
    sendTo(a, ep.localPort, rtp(4, 0));
    await waitFor(() => ep.counters.packetsIn === 4, 'datagrams');
    expect(ep.counters.unknownPayload).toBe(2);
    expect(got.map((p) => p.sequence)).toEqual([4]);
    expect(dtmf.map((p) => p.sequence)).toEqual([3]);
  });

  it('alaw endpoints accept PT 8', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const { ep, got } = await open(pool, { codec: 'alaw' });
    const a = await udpClient();
    sendTo(a, ep.localPort, rtp(1, 0));
    sendTo(a, ep.localPort, rtp(2, 8));
    await waitFor(() => ep.counters.packetsIn === 2, 'datagrams');
    expect(got.map((p) => p.sequence)).toEqual([2]);
  });

  it('a throwing packet handler is counted and the socket keeps working', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    let n = 0;
    const ep = await RtpEndpoint.open({
      pool,
      bindAddress: HOST,
      onPacket: () => {
        if (n++ === 0) throw new Error('bug');
      },
    });
    cleanup.push(() => ep.close());
    const a = await udpClient();
    sendTo(a, ep.localPort, rtp(1));
    sendTo(a, ep.localPort, rtp(2));
    await waitFor(() => n === 2, 'both handled');
    expect(ep.counters.handlerErrors).toBe(1);
  });

  it('send with no known peer is counted, not thrown', async () => {
    const pool = new PortPool(BASE, BASE + 9);
    const { ep } = await open(pool);
    ep.send(rtp(1));
    expect(ep.counters.noPeer).toBe(1);
  });

  it('close() releases the port (idempotent); exhaustion is RTP_NO_PORT', async () => {
    const pool = new PortPool(BASE + 10, BASE + 13); // two ports
    const a = await open(pool);
    const b = await open(pool);
    expect(pool.inUse).toBe(2);
    await expect(open(pool)).rejects.toMatchObject({ code: 'RTP_NO_PORT' });
    expect(pool.inUse).toBe(2);
    await a.ep.close();
    await a.ep.close();
    expect(pool.inUse).toBe(1);
    const c = await open(pool);
    expect(c.ep.localPort).toBe(a.ep.localPort);
    await b.ep.close();
    await c.ep.close();
    expect(pool.inUse).toBe(0);
  });

  it('skips a port another process holds (EADDRINUSE) and binds the next one', async () => {
    const pool = new PortPool(BASE + 20, BASE + 23);
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((r) => squatter.bind(BASE + 20, HOST, r));
    cleanup.push(() => new Promise<void>((r) => squatter.close(() => r())));
    const { ep } = await open(pool);
    expect(ep.localPort).toBe(BASE + 22);
    expect(pool.isInUse(BASE + 20)).toBe(false);
  });

  it('two endpoints at once: garbage and a broken handler on one never touch the other', async () => {
    const pool = new PortPool(BASE + 30, BASE + 39);
    const victim = await open(pool);
    const healthy = await open(pool);
    const attacker = await udpClient();
    const caller = await udpClient();
    for (let i = 0; i < 20; i++) sendTo(attacker, victim.ep.localPort, Buffer.from([0xff, i]));
    for (let i = 0; i < 10; i++) sendTo(caller, healthy.ep.localPort, rtp(i));
    await waitFor(() => victim.ep.counters.packetsIn === 20 && healthy.got.length === 10, 'both streams');
    expect(healthy.got.map((p) => p.sequence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(healthy.ep.counters.malformed.RTP_TRUNCATED).toBe(0);
    expect(healthy.ep.counters.wrongSource).toBe(0);
    expect(victim.ep.counters.malformed.RTP_TRUNCATED).toBe(20);
    expect(victim.got).toHaveLength(0);
  });
});
