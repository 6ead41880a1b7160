/**
 * UDP for the media plane without node:dgram's per-datagram cost (Linux, IPv4; native/rtp-io).
 *
 * node:dgram runs a JS callback with a fresh Buffer and rinfo object for every datagram received,
 * and builds a SendWrap for every datagram sent. At 1,000 calls that is 100,000 times a second,
 * and it cost more of the daemon's core than the kernel's own work: on the bench's UDP floor,
 * 1,000 sockets each way took 42-43 % of a core per side through dgram, 25-26 % through this.
 *
 * Sockets stay one per call (a flood at one call fills that call's queue only), but nothing reads
 * them between ticks: the Ticker calls poll() as each sub-tick wakes, which reads every socket
 * with datagrams waiting (epoll + recvmmsg) in one native call, and endBurst() sends the packets
 * its send phase held in one native call. Arrival times are the kernel's (SO_TIMESTAMPNS), so a
 * packet read a few ms after it came is still timed when it came: the jitter buffer's delay
 * estimate and the end-of-turn clock see the network, not our polling.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { isIPv4 } from 'node:net';
import { constants as osConstants } from 'node:os';
import type pino from 'pino';
import { BridgeError, errorMessage } from '../errors.ts';
import type { Clock } from './clock.ts';
import type { TickIo } from './ticker.ts';

/** The addon's functions (native/rtp-io/rtp_io.c). System-call failures come back as -errno. */
interface RtpIoAddon {
  open(address: number, port: number): number;
  localPort(fd: number): number;
  close(fd: number): number;
  pollerCreate(): number;
  pollerAdd(poller: number, fd: number, id: number): number;
  sendTo(fd: number, bytes: Uint8Array, address: number, port: number): number;
  sendBatch(count: number, to: Int32Array, data: Uint8Array, errors: Int32Array): number;
  receive(poller: number, data: Uint8Array, meta: Int32Array): number;
}

const ADDON_PATH = fileURLToPath(new URL('../../native/rtp-io/build/Release/rtp_io.node', import.meta.url));
const META = 7; // per datagram: id, offset, length (-1 oversize), source IPv4, source port, age µs, kernel drops
const SLOT_BYTES = 2048; // the addon's receive slot
/** Datagrams one poll reads at most (the rest wait in the kernel for the next sub-tick). */
const MAX_READ = 4096;
const MAX_BURST = 4096;
const MAX_AGE_MS = 5000;

let loaded: RtpIoAddon | Error | null = null;

/** The addon, or the reason it cannot be used here (not built, not Linux). Loaded once. */
export function loadRtpIo(): RtpIoAddon | Error {
  if (loaded === null) {
    try {
      if (process.platform !== 'linux') throw new Error(`it is Linux-only (this is ${process.platform})`);
      loaded = createRequire(import.meta.url)(ADDON_PATH) as RtpIoAddon;
    } catch (err) {
      loaded = new Error(`native RTP I/O unavailable: ${errorMessage(err)} (build it with \`npm ci\`, which runs node-gyp)`);
    }
  }
  return loaded;
}

export type RtpIoMode = 'auto' | 'native' | 'dgram';

/**
 * What `media.rtpIo` gets on this build: batched I/O, node:dgram (asked for, or `fallback` says why
 * 'auto' could not have the addon), or nothing (`error`: 'native' without the addon). The daemon
 * (batchedUdpFor) and the doctor (checkRtpIo) both decide by this.
 */
export type RtpIoChoice = { io: 'batched' } | { io: 'dgram'; fallback: string | null } | { io: 'none'; error: string };

export function chooseRtpIo(mode: RtpIoMode, load: () => unknown = loadRtpIo): RtpIoChoice {
  if (mode === 'dgram') return { io: 'dgram', fallback: null };
  const addon = load();
  if (!(addon instanceof Error)) return { io: 'batched' };
  if (mode === 'native') return { io: 'none', error: `media.rtpIo is "native" but the ${addon.message}` };
  return { io: 'dgram', fallback: addon.message };
}

/**
 * The Ticker's socket I/O for `media.rtpIo`: null means node:dgram ('dgram', or 'auto' without
 * the addon, which is logged). 'native' without the addon is a configuration error.
 */
export function batchedUdpFor(mode: RtpIoMode, clock: Clock, logger?: pino.Logger): BatchedUdp | null {
  const choice = chooseRtpIo(mode);
  if (choice.io === 'none') throw new BridgeError('CONFIG_INVALID', choice.error, { key: 'media.rtpIo' });
  if (choice.io === 'batched') return new BatchedUdp(clock);
  if (choice.fallback !== null) logger?.warn({ reason: choice.fallback }, 'media.rtpIo auto: using node:dgram sockets');
  return null;
}

/** What a socket's owner is told. Neither may throw (the poll loop serves every call). */
export interface DatagramSink {
  /** `msg` is a copy owned by the receiver. */
  onDatagram(msg: Buffer, address: string, port: number, arrivalMs: number): void;
  /** A datagram larger than the addon's slot (2,048 bytes): not RTP we can play, dropped. */
  onOversize(): void;
  /**
   * The kernel has dropped this many datagrams in all on this socket (its receive queue was full:
   * nothing read it for too long, or a flood). Told when a datagram read after a drop shows it.
   */
  onKernelDrops(total: number): void;
  onSendError(err: NodeJS.ErrnoException): void;
}

export function ipv4ToNumber(address: string): number {
  if (!isIPv4(address)) throw new BridgeError('CONFIG_INVALID', `not an IPv4 address: ${address}`, { address });
  const p = address.split('.');
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}

function numberToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, no]) => [no, name]));

function errnoError(errno: number, syscall: string, detail: string): NodeJS.ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code} ${detail}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

/** One call's socket. */
export class BatchedSocket {
  /** Datagrams the kernel dropped on this socket so far (as last reported). */
  kernelDrops = 0;
  private closed = false;

  constructor(
    private readonly io: BatchedUdp,
    readonly fd: number,
    readonly id: number,
    readonly localPort: number,
    readonly sink: DatagramSink,
  ) {}

  /** Send to an IPv4 literal: queued while the Ticker's burst is being built, else at once. */
  send(buf: Uint8Array, port: number, address: string): void {
    if (this.closed) return;
    this.io.send(this, buf, port, address);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.io.release(this);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

export class BatchedUdp implements TickIo {
  readonly counters = { polls: 0, pollErrors: 0, datagramsIn: 0, bursts: 0, datagramsOut: 0, sendErrors: 0, sinkErrors: 0 };
  private readonly addon: RtpIoAddon;
  private readonly poller: number;
  private readonly sockets = new Map<number, BatchedSocket>();
  private nextId = 1;
  private readonly inData = new Uint8Array(MAX_READ * SLOT_BYTES);
  private readonly inMeta = new Int32Array(MAX_READ * META);
  private readonly outTo = new Int32Array(MAX_BURST * 5);
  private readonly outData = new Uint8Array(MAX_BURST * SLOT_BYTES);
  private readonly outErrors = new Int32Array(MAX_BURST);
  private readonly outOwners: Array<BatchedSocket | null> = new Array<BatchedSocket | null>(MAX_BURST).fill(null);
  private outCount = 0;
  private outBytes = 0;
  private bursting = false;
  // The last peer address either way: one or two peers in practice, so no per-packet string work.
  private lastInNumber = -1;
  private lastInString = '';
  private lastOutString = '';
  private lastOutNumber = 0;
  private closedAll = false;

  /** Throws when the addon cannot be loaded (see loadRtpIo). */
  constructor(private readonly clock: Clock) {
    const addon = loadRtpIo();
    if (addon instanceof Error) throw new BridgeError('CONFIG_INVALID', addon.message, {});
    this.addon = addon;
    const poller = addon.pollerCreate();
    if (poller < 0) throw errnoError(-poller, 'epoll_create1', '');
    this.poller = poller;
  }

  /** Sockets open now. */
  get size(): number {
    return this.sockets.size;
  }

  /**
   * Bind a socket on `address:port` (IPv4 literal; port 0 = any). Fails like dgram's bind, with an
   * errno `code` (EADDRINUSE, EACCES, EADDRNOTAVAIL), so a port pool can try the next port.
   */
  bind(address: string, port: number, sink: DatagramSink): BatchedSocket {
    if (this.closedAll) throw new BridgeError('INTERNAL', 'BatchedUdp used after close', {});
    const fd = this.addon.open(ipv4ToNumber(address), port);
    if (fd < 0) throw errnoError(-fd, 'bind', `${address}:${port}`);
    const bound = port === 0 ? this.addon.localPort(fd) : port;
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    const added = bound < 0 ? bound : this.addon.pollerAdd(this.poller, fd, id);
    if (added < 0) {
      this.addon.close(fd);
      throw errnoError(-added, bound < 0 ? 'getsockname' : 'epoll_ctl', `${address}:${port}`);
    }
    const socket = new BatchedSocket(this, fd, id, bound, sink);
    this.sockets.set(id, socket);
    return socket;
  }

  /** Read every socket with datagrams waiting and hand each to its owner (the Ticker, as a sub-tick wakes). */
  poll(): void {
    if (this.closedAll || this.sockets.size === 0) return;
    this.counters.polls++;
    const n = this.addon.receive(this.poller, this.inData, this.inMeta);
    if (n < 0) this.counters.pollErrors++; // -errno: epoll itself failed; the next poll tries again
    if (n <= 0) return;
    this.counters.datagramsIn += n;
    const now = this.clock.now();
    const meta = this.inMeta;
    // One copy of the poll's datagrams (packed in arrival order), each handed out as a view of it:
    // the jitter buffer keeps payloads across ticks, and one allocation per poll costs far less
    // than one per datagram. A slab lives as long as a payload in it.
    let end = 0;
    for (let i = n - 1; i >= 0 && end === 0; i--) if (meta[i * META + 2] >= 0) end = meta[i * META + 1] + meta[i * META + 2];
    const slab = Buffer.allocUnsafeSlow(end);
    slab.set(this.inData.subarray(0, end));
    for (let i = 0; i < n; i++) {
      const m = i * META;
      const socket = this.sockets.get(meta[m]);
      if (socket === undefined) continue; // closed since the kernel queued it
      if (meta[m + 6] !== socket.kernelDrops) {
        socket.kernelDrops = meta[m + 6];
        socket.sink.onKernelDrops(meta[m + 6]);
      }
      const len = meta[m + 2];
      if (len < 0) {
        socket.sink.onOversize();
        continue;
      }
      const addr = meta[m + 3] >>> 0;
      if (addr !== this.lastInNumber) {
        this.lastInNumber = addr;
        this.lastInString = numberToIpv4(addr);
      }
      const msg = slab.subarray(meta[m + 1], meta[m + 1] + len);
      // A step of the wall clock (the kernel stamps CLOCK_REALTIME) must not date a packet minutes
      // back: no datagram waits in a queue for longer than a stalled loop, a few seconds at most.
      const ageMs = Math.min(meta[m + 5] / 1000, MAX_AGE_MS);
      try {
        socket.sink.onDatagram(msg, this.lastInString, meta[m + 4], now - ageMs);
      } catch {
        this.counters.sinkErrors++; // (a sink must not throw; if one does, the other calls' datagrams still go out)
      }
    }
  }

  /** The Ticker's burst starts: sends are queued until endBurst(). */
  beginBurst(): void {
    this.bursting = true;
  }

  /** Send the queued packets in one native call. */
  endBurst(): void {
    this.bursting = false;
    this.flush();
  }

  send(socket: BatchedSocket, buf: Uint8Array, port: number, address: string): void {
    if (address !== this.lastOutString) {
      this.lastOutNumber = ipv4ToNumber(address); // a host name throws: the endpoint counts a send error
      this.lastOutString = address;
    }
    if (!this.bursting || buf.length > SLOT_BYTES) {
      const r = this.addon.sendTo(socket.fd, buf, this.lastOutNumber, port);
      if (r < 0) this.sendFailed(socket, -r, address, port);
      return;
    }
    if (this.outCount === MAX_BURST) this.flush();
    const k = this.outCount++;
    const t = k * 5;
    this.outTo[t] = socket.fd;
    this.outTo[t + 1] = this.lastOutNumber | 0;
    this.outTo[t + 2] = port;
    this.outTo[t + 3] = this.outBytes;
    this.outTo[t + 4] = buf.length;
    this.outData.set(buf, this.outBytes);
    this.outBytes += buf.length;
    this.outOwners[k] = socket;
  }

  /** Close every socket (shutdown). */
  close(): void {
    for (const s of [...this.sockets.values()]) s.close();
    this.flush();
    this.addon.close(this.poller);
    this.closedAll = true;
  }

  release(socket: BatchedSocket): void {
    // Its queued packets go first: a hang-up during the burst still sends the packet already built.
    if (this.outCount > 0) this.flush();
    this.sockets.delete(socket.id);
    this.addon.close(socket.fd);
  }

  private flush(): void {
    const count = this.outCount;
    if (count === 0) return;
    this.outCount = 0;
    this.outBytes = 0;
    this.counters.bursts++;
    this.counters.datagramsOut += count;
    const failed = this.addon.sendBatch(count, this.outTo, this.outData, this.outErrors);
    for (let k = 0; k < count && failed > 0; k++) {
      const errno = this.outErrors[k];
      const owner = this.outOwners[k];
      if (errno !== 0 && owner !== null) {
        const t = k * 5;
        this.sendFailed(owner, errno, numberToIpv4(this.outTo[t + 1] >>> 0), this.outTo[t + 2]);
      }
    }
    this.outOwners.fill(null, 0, count);
  }

  private sendFailed(socket: BatchedSocket, errno: number, address: string, port: number): void {
    this.counters.sendErrors++;
    socket.sink.onSendError(errnoError(errno, 'sendto', `${address}:${port}`));
  }
}
