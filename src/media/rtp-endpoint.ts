/**
 * One call's UDP socket: receives and sends RTP on the same port (Asterisk's strictrtp drops the
 * first packets from a source port it has not seen, so one socket per call for both directions).
 *
 * Where to send is known from the start (Asterisk's UNICASTRTP_LOCAL_ADDRESS/PORT): Asterisk sends
 * nothing while nothing is heard, so waiting for an inbound packet to learn the peer would leave
 * the caller in silence. Inbound, the first valid RTP source is latched (or the configured remote
 * when pinned) and packets from anywhere else are dropped and counted. Nothing that arrives on the
 * socket can throw out of the handler: bad datagrams become counters.
 *
 * The socket is a node:dgram one that reads itself, or, given the Ticker's BatchedUdp, one the
 * ticks read and write in batches (the same checks and counters either way).
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import pino from 'pino';
import { BridgeError, errorMessage, type BridgeErrorCode } from '../errors.ts';
import { systemClock, type Clock } from './clock.ts';
import { DEFAULT_DTMF_PAYLOAD_TYPE } from './dtmf.ts';
import type { BatchedSocket, BatchedUdp, DatagramSink } from './batched-udp.ts';
import { ipLiteralLookup } from './ip-lookup.ts';
import { G711_PAYLOAD_TYPE, type G711Codec } from './g711.ts';
import type { PortPool } from './port-pool.ts';
import { parseRtp, type RtpPacket } from './rtp-packet.ts';

export interface RtpPeer {
  readonly address: string;
  readonly port: number;
}

export interface RtpEndpointOptions {
  readonly pool: PortPool;
  readonly bindAddress: string;
  /** Where to send from the first packet on (Asterisk: UNICASTRTP_LOCAL_ADDRESS:UNICASTRTP_LOCAL_PORT). */
  readonly remote?: RtpPeer;
  /** Accept packets only from `remote` (no latching to another source). Requires `remote` (or setRemote later). */
  readonly pinPeer?: boolean;
  /** Audio payload type accepted: 0 for ulaw (default), 8 for alaw. */
  readonly codec?: G711Codec;
  readonly dtmfPayloadType?: number;
  /** Audio packet, in arrival order. The payload views bytes no other packet shares (keep it as long as needed). */
  readonly onPacket: (pkt: RtpPacket, arrivalMs: number) => void;
  /** RFC 4733 telephone-event packet (repeats included; see DtmfReceiver). */
  readonly onDtmf?: (pkt: RtpPacket, arrivalMs: number) => void;
  readonly clock?: Clock;
  /**
   * Read and send through the Ticker's batched UDP (IPv4 bind addresses; see BatchedUdp) instead of
   * a node:dgram socket that reads itself. Its clock should be this endpoint's.
   */
  readonly udp?: BatchedUdp | null;
  readonly logger?: pino.Logger;
}

export type RtpMalformedCode = Extract<
  BridgeErrorCode,
  'RTP_TRUNCATED' | 'RTP_BAD_VERSION' | 'RTP_BAD_PADDING' | 'RTP_BAD_EXTENSION'
>;

export interface RtpEndpointCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  malformed: Record<RtpMalformedCode, number>;
  /** Datagrams too big for the batched reader's slot (2,048 bytes): dropped, not RTP we play. */
  oversize: number;
  /** Datagrams the kernel dropped on a full receive queue (batched UDP reports it; dgram cannot). */
  kernelDrops: number;
  /** Datagrams from a source other than the latched/pinned peer. */
  wrongSource: number;
  /** Valid RTP with a payload type that is neither our codec nor telephone-event. */
  unknownPayload: number;
  dtmfPackets: number;
  /** send() before any destination was known. */
  noPeer: number;
  sendErrors: number;
  /** onPacket/onDtmf threw (a bug downstream; caught so the socket keeps working). */
  handlerErrors: number;
}

export class RtpEndpoint {
  readonly localAddress: string;
  readonly localPort: number;
  readonly counters: RtpEndpointCounters = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    malformed: { RTP_TRUNCATED: 0, RTP_BAD_VERSION: 0, RTP_BAD_PADDING: 0, RTP_BAD_EXTENSION: 0 },
    oversize: 0,
    kernelDrops: 0,
    wrongSource: 0,
    unknownPayload: 0,
    dtmfPackets: 0,
    noPeer: 0,
    sendErrors: 0,
    handlerErrors: 0,
  };

  /** Exactly one of the two. */
  private readonly socket: dgram.Socket | null;
  private readonly batched: BatchedSocket | null;
  private readonly pool: PortPool;
  private readonly clock: Clock;
  private readonly log: pino.Logger;
  private readonly audioPt: number;
  private readonly dtmfPt: number;
  private readonly onPacket: RtpEndpointOptions['onPacket'];
  private readonly onDtmf: RtpEndpointOptions['onDtmf'];
  private pinned: boolean;
  /** Inbound source accepted (latched or pinned); null until the first valid packet. */
  private srcAddress: string | null = null;
  private srcPort = 0;
  /** Send destination. */
  private dstAddress: string | null = null;
  private dstPort = 0;
  private closed = false;
  private closing: Promise<void> | null = null;

  /** Bind a socket on the next free port of the pool (skipping ports another process holds). */
  static async open(opts: RtpEndpointOptions): Promise<RtpEndpoint> {
    const v6 = isIPv6(opts.bindAddress);
    const batched = opts.udp != null && !v6; // batched UDP is IPv4 only
    const type = v6 ? 'udp6' : 'udp4';
    const attempts = opts.pool.size;
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      const port = opts.pool.acquire(); // throws RTP_NO_PORT when the pool is exhausted
      try {
        if (batched) return new RtpEndpoint(null, port, opts);
        const socket = dgram.createSocket({ type, reuseAddr: false, lookup: ipLiteralLookup() });
        try {
          await bind(socket, port, opts.bindAddress);
        } catch (err) {
          socket.close();
          throw err;
        }
        return new RtpEndpoint(socket, port, opts);
      } catch (err) {
        lastError = err;
        opts.pool.release(port);
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' && code !== 'EACCES') {
          throw new BridgeError('RTP_NO_PORT', `cannot bind RTP socket on ${opts.bindAddress}:${port}: ${errorMessage(err)}`, {
            bindAddress: opts.bindAddress,
            port,
          }, { cause: err });
        }
      }
    }
    throw new BridgeError('RTP_NO_PORT', `no bindable RTP port in ${opts.pool.min}-${opts.pool.max} on ${opts.bindAddress}`, {
      bindAddress: opts.bindAddress,
      attempts,
    }, { cause: lastError });
  }

  /** With no dgram socket, binds on opts.udp (throws its bind error). */
  private constructor(socket: dgram.Socket | null, port: number, opts: RtpEndpointOptions) {
    this.socket = socket;
    this.localPort = port;
    this.localAddress = opts.bindAddress;
    this.pool = opts.pool;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.audioPt = G711_PAYLOAD_TYPE[opts.codec ?? 'ulaw'];
    this.dtmfPt = opts.dtmfPayloadType ?? DEFAULT_DTMF_PAYLOAD_TYPE;
    this.onPacket = opts.onPacket;
    this.onDtmf = opts.onDtmf;
    this.pinned = opts.pinPeer ?? false;
    if (opts.remote) {
      this.dstAddress = opts.remote.address;
      this.dstPort = opts.remote.port;
      if (this.pinned) {
        this.srcAddress = opts.remote.address;
        this.srcPort = opts.remote.port;
      }
    }
    if (socket !== null) {
      this.batched = null;
      socket.on('message', this.handleMessage);
      socket.on('error', this.handleError);
    } else {
      // opts.udp is set whenever no socket is passed (see open)
      this.batched = (opts.udp as BatchedUdp).bind(opts.bindAddress, port, this.sink);
    }
  }

  /** Where packets are sent (the latched source once there is one, unless pinned). */
  get peer(): RtpPeer | null {
    return this.dstAddress === null ? null : { address: this.dstAddress, port: this.dstPort };
  }

  /** The inbound source accepted, once latched (or the pinned remote). */
  get source(): RtpPeer | null {
    return this.srcAddress === null ? null : { address: this.srcAddress, port: this.srcPort };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Name the peer after binding (ExternalMedia: our port goes to Asterisk first, its
   * UNICASTRTP address comes back after). Sending goes there from now on; with `pin`, inbound is
   * accepted only from it (a source latched earlier is replaced).
   */
  setRemote(remote: RtpPeer, opts: { pin?: boolean } = {}): void {
    this.dstAddress = remote.address;
    this.dstPort = remote.port;
    if (opts.pin ?? this.pinned) {
      this.pinned = true;
      this.srcAddress = remote.address;
      this.srcPort = remote.port;
    }
  }

  /** Send one datagram to the peer. Node copies the bytes to the kernel before the next tick reuses them. */
  send(buf: Uint8Array): void {
    if (this.closed) return;
    if (this.dstAddress === null) {
      this.counters.noPeer++;
      return;
    }
    this.counters.packetsOut++;
    this.counters.bytesOut += buf.length;
    try {
      if (this.batched !== null) this.batched.send(buf, this.dstPort, this.dstAddress);
      else this.socket?.send(buf, this.dstPort, this.dstAddress);
    } catch (err) {
      this.counters.sendErrors++;
      this.log.debug({ err: errorMessage(err) }, 'rtp send failed');
    }
  }

  /** Stop receiving, close the socket, return the port to the pool. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    if (this.batched !== null) {
      this.batched.close();
      this.pool.release(this.localPort);
      this.closing = Promise.resolve();
      return this.closing;
    }
    const socket = this.socket as dgram.Socket;
    this.closing = new Promise<void>((resolve) => {
      socket.off('message', this.handleMessage);
      try {
        socket.close(() => {
          this.pool.release(this.localPort);
          resolve();
        });
      } catch {
        this.pool.release(this.localPort);
        resolve();
      }
    });
    return this.closing;
  }

  // Bound once per endpoint (not per packet).
  private readonly handleMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    this.receive(msg, rinfo.address, rinfo.port, this.clock.now());
  };

  private readonly sink: DatagramSink = {
    onDatagram: (msg, address, port, arrivalMs) => this.receive(msg, address, port, arrivalMs),
    onOversize: () => {
      if (!this.closed) this.counters.oversize++;
    },
    onKernelDrops: (total) => {
      this.counters.kernelDrops = total;
    },
    onSendError: (err) => this.handleError(err),
  };

  private receive(msg: Buffer, address: string, port: number, arrivalMs: number): void {
    if (this.closed) return;
    const c = this.counters;
    c.packetsIn++;
    c.bytesIn += msg.length;
    const latched = this.srcAddress !== null;
    if (latched ? port !== this.srcPort || address !== this.srcAddress : this.pinned) {
      // (Pinned but no remote named yet: nothing is trusted until setRemote.)
      c.wrongSource++;
      return;
    }
    const pkt = parseRtp(msg);
    if (pkt instanceof BridgeError) {
      c.malformed[pkt.code as RtpMalformedCode]++;
      return;
    }
    const pt = pkt.payloadType;
    if (pt !== this.audioPt && pt !== this.dtmfPt) {
      c.unknownPayload++;
      return;
    }
    if (!latched) {
      // Symmetric RTP: the first valid source becomes both the only accepted source and where we send.
      this.srcAddress = address;
      this.srcPort = port;
      this.dstAddress = address;
      this.dstPort = port;
    }
    try {
      if (pt === this.audioPt) this.onPacket(pkt, arrivalMs);
      else {
        c.dtmfPackets++;
        this.onDtmf?.(pkt, arrivalMs);
      }
    } catch (err) {
      if (c.handlerErrors++ % 1000 === 0) this.log.error({ err }, 'rtp packet handler threw');
    }
  }

  private readonly handleError = (err: Error): void => {
    // Send failures surface here for unconnected UDP sockets; never fatal for the call.
    if (this.counters.sendErrors++ % 1000 === 0) this.log.warn({ err: errorMessage(err) }, 'rtp socket error');
  };
}

function bind(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind({ port, address, exclusive: true });
  });
}
