import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { ipLiteralLookup } from '../../src/media/ip-lookup.ts';

describe('ipLiteralLookup', () => {
  it('answers IP literals synchronously, v4 and v6', () => {
    const lookup = ipLiteralLookup();
    const seen: Array<[string, number]> = [];
    lookup('127.0.0.1', { family: 4 }, (err, a, f) => seen.push([err ? 'err' : a, f]));
    lookup('127.0.0.1', { family: 4 }, (err, a, f) => seen.push([err ? 'err' : a, f]));
    lookup('::1', { family: 6 }, (err, a, f) => seen.push([err ? 'err' : a, f]));
    expect(seen).toEqual([['127.0.0.1', 4], ['127.0.0.1', 4], ['::1', 6]]);
  });

  it('hands host names to dns.lookup (asynchronously)', async () => {
    const lookup = ipLiteralLookup();
    let sync = true;
    const r = await new Promise<[string, number]>((resolve, reject) => {
      lookup('localhost', { family: 4 }, (err, a, f) => (err ? reject(err) : resolve([a, f])));
      sync = false;
    });
    expect(sync).toBe(false);
    expect(r[1]).toBe(4);
  });

  it('a socket using it delivers datagrams (the dgram contract holds)', async () => {
    const rx = dgram.createSocket('udp4');
    const tx = dgram.createSocket({ type: 'udp4', lookup: ipLiteralLookup() });
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
    const got = new Promise<Buffer>((r) => rx.once('message', r));
    tx.send(Buffer.from('rtp'), rx.address().port, '127.0.0.1');
    expect((await got).toString()).toBe('rtp');
    rx.close();
    tx.close();
  });
});
