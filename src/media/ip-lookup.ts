/**
 * A dgram `lookup` that answers IP literals synchronously. Node's default (dns.lookup) defers even
 * "127.0.0.1" to the next tick, so every unconnected send() costs an isIP check, a nextTick and a
 * closure before the datagram goes out: at 50 packets a second per call that was ~4 % of the
 * daemon's samples at 300 calls in the load benchmark. Host names still go to dns.lookup.
 * (A connected socket skips the lookup too, but the kernel would then drop packets from other
 * sources before we can count them as wrong-source.)
 */
import dns from 'node:dns';
import { isIP } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

export function ipLiteralLookup(): (host: string, options: dns.LookupOneOptions, callback: LookupCallback) => void {
  // One peer per socket in practice: remember the last literal so the check is a string compare.
  let lastHost = '';
  let lastFamily = 0;
  return (host, options, callback) => {
    if (host === lastHost) {
      callback(null, host, lastFamily);
      return;
    }
    const f = isIP(host);
    if (f !== 0) {
      lastHost = host;
      lastFamily = f;
      callback(null, host, f);
      return;
    }
    dns.lookup(host, options, callback);
  };
}
