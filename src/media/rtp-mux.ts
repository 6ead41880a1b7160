/**
 * One UDP socket for every call's RTP (media.rtpSharedPort), instead of one socket per call.
 *
 * Every ExternalMedia channel is pointed at the same host:port, and each call is told apart by where
 * its packets come from: Asterisk sends a channel's RTP from that channel's own
 * UNICASTRTP_LOCAL_ADDRESS:UNICASTRTP_LOCAL_PORT (the recorded Asterisk 20 call shows it), which it
 * tells us before the first packet. We send from the socket Asterisk sends to, so strictrtp sees one
 * stable source per channel, as with a socket per call.
 *
 * Why: with a socket per call, the event loop wakes for each socket that has a datagram, and reads
 * one or two per wake-up; on one socket it reads dozens per wake-up. In the load benchmark's
 * microbenchmark that cut the daemon side's socket CPU by about a quarter at 500-1,000 calls. It
 * also needs one firewall port and one file descriptor instead of a thousand.
 *
 * The cost is one receive buffer for all calls: at 1,000 calls 50,000 datagrams a second arrive, and
 * the kernel's default buffer (~208 KiB, a few hundred datagrams) holds only a few milliseconds of
 * them while the event loop is busy. The socket asks for `recvBufferBytes` (4 MiB by default); the
 * kernel caps it at net.core.rmem_max, and `ai-bridge doctor` says when that is too small.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import pino from 'pino';
import { BridgeError, errorMessage } from '../errors.ts';
import { ipLiteralLookup } from './ip-lookup.ts';
import type { RtpPeer } from './rtp-endpoint.ts';

export const DEFAULT_MUX_RECV_BUFFER = 4 * 1024 * 1024;

export type RtpMuxReceiver = (msg: Buffer, rinfo: dgram.RemoteInfo) => void;

export interface RtpMuxOptions {
  readonly bindAddress: string;
  readonly port: number;
  /** SO_RCVBUF asked for; the kernel caps it at net.core.rmem_max. */
  readonly recvBufferBytes?: number;
  readonly logger?: pino.Logger;
}

export interface RtpMuxCounters {
  packetsIn: number;
  /** Datagrams from a source no live call was told about (dropped). */
  unknownSource: number;
  /** A source routed again while still routed to another call (Asterisk reused a port): the newer call wins. */
  routesReplaced: number;
  /** A receiver threw (a bug downstream; caught so the other calls keep receiving). */
  handlerErrors: number;
  socketErrors: number;
}

interface Route {
  readonly address: string;
  readonly port: number;
  readonly receiver: RtpMuxReceiver;
  next: Route | null;
  linked: boolean;
}

export class RtpMux {
  readonly localAddress: string;
  readonly localPort: number;
  readonly counters: RtpMuxCounters = { packetsIn: 0, unknownSource: 0, routesReplaced: 0, handlerErrors: 0, socketErrors: 0 };
  private readonly socket: dgram.Socket;
  private readonly log: pino.Logger;
  /** By source port, then address: a lookup per datagram without building a key string. */
  private readonly byPort = new Map<number, Route>();
  private routeCount = 0;
  private closing: Promise<void> | null = null;

  static async open(opts: RtpMuxOptions): Promise<RtpMux> {
    const socket = dgram.createSocket({ type: isIPv6(opts.bindAddress) ? 'udp6' : 'udp4', reuseAddr: false, lookup: ipLiteralLookup() });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port: opts.port, address: opts.bindAddress, exclusive: true }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      socket.close();
      throw new BridgeError('RTP_NO_PORT', `cannot bind the shared RTP socket on ${opts.bindAddress}:${opts.port}: ${errorMessage(err)}`, {
        bindAddress: opts.bindAddress,
        port: opts.port,
      }, { cause: err });
    }
    return new RtpMux(socket, opts);
  }

  private constructor(socket: dgram.Socket, opts: RtpMuxOptions) {
    this.socket = socket;
    this.localAddress = opts.bindAddress;
    this.localPort = socket.address().port;
    this.log = opts.logger ?? pino({ level: 'silent' });
    try {
      socket.setRecvBufferSize(opts.recvBufferBytes ?? DEFAULT_MUX_RECV_BUFFER);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot enlarge the shared RTP socket receive buffer');
    }
    socket.on('message', this.onMessage);
    socket.on('error', this.onError);
  }

  /** The receive buffer the kernel granted (Linux reports twice the usable size). */
  get recvBufferBytes(): number {
    try {
      return this.socket.getRecvBufferSize();
    } catch {
      return 0;
    }
  }

  get routes(): number {
    return this.routeCount;
  }

  get isClosed(): boolean {
    return this.closing !== null;
  }

  /**
   * Deliver datagrams from `source` to `receiver` until the returned function is called
   * (idempotent). A source already routed is taken over: Asterisk only reuses a local port once
   * the channel that had it is gone, so the call still holding it is the stale one.
   */
  route(source: RtpPeer, receiver: RtpMuxReceiver): () => void {
    if (this.closing) throw new BridgeError('INTERNAL', 'RtpMux.route after close', { port: source.port });
    const head = this.byPort.get(source.port) ?? null;
    let r = head;
    while (r !== null && r.address !== source.address) r = r.next;
    if (r !== null) {
      this.counters.routesReplaced++;
      this.log.warn({ source: `${source.address}:${source.port}` }, 'RTP source re-routed to a new call (the previous call had not released it)');
      this.unlink(r);
    }
    const route: Route = { address: source.address, port: source.port, receiver, next: this.byPort.get(source.port) ?? null, linked: true };
    this.byPort.set(source.port, route);
    this.routeCount++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.unlink(route);
    };
  }

  /** Send from the shared port (the address every channel was told to use). */
  send(buf: Uint8Array, port: number, address: string): void {
    this.socket.send(buf, port, address);
  }

  /** Close the socket. Routes still registered simply stop receiving. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.socket.off('message', this.onMessage);
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    for (const head of this.byPort.values()) for (let r: Route | null = head; r !== null; r = r.next) r.linked = false;
    this.byPort.clear();
    this.routeCount = 0;
    return this.closing;
  }

  private unlink(route: Route): void {
    if (!route.linked) return; // already replaced, or the mux closed
    route.linked = false;
    let head = this.byPort.get(route.port)!;
    if (head === route) {
      if (route.next === null) this.byPort.delete(route.port);
      else this.byPort.set(route.port, route.next);
    } else {
      while (head.next !== route) head = head.next!;
      head.next = route.next;
    }
    this.routeCount--;
  }

  // Bound once (not per packet).
  private readonly onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    this.counters.packetsIn++;
    let r = this.byPort.get(rinfo.port) ?? null;
    while (r !== null && r.address !== rinfo.address) r = r.next;
    if (r === null) {
      if (this.counters.unknownSource++ % 1000 === 0) {
        this.log.debug({ source: `${rinfo.address}:${rinfo.port}`, unknownSource: this.counters.unknownSource }, 'RTP from a source no call expects');
      }
      return;
    }
    try {
      r.receiver(msg, rinfo);
    } catch (err) {
      if (this.counters.handlerErrors++ % 1000 === 0) this.log.error({ err: errorMessage(err) }, 'RTP receiver threw');
    }
  };

  private readonly onError = (err: Error): void => {
    if (this.counters.socketErrors++ % 1000 === 0) this.log.warn({ err: errorMessage(err) }, 'shared RTP socket error');
  };
}
