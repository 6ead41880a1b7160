/**
 * The floor under the load benchmark: what this machine spends to move the datagrams of N calls
 * and nothing else. Two processes (the daemon side and the caller side of the bench) each own N
 * sockets that exchange one 20 ms RTP-sized datagram per socket per tick, both ways, with no media
 * work at all. Their CPU is what N calls cost before a jitter buffer, VAD or agent runs, and their
 * tick wake-up jitter is what the platform's timers give before any work is done: the load
 * benchmark cannot do better than either.
 */
import { loadRtpIo } from '../src/media/batched-udp.ts';
import { forkTs, nextMessage, reap, sleep } from './children.ts';
import { round as roundOrNull } from './stats.ts';

const round = (v: number, digits = 2): number => roundOrNull(v, digits) ?? 0;

export interface UdpFloorResult {
  sockets: number;
  /** How the daemon side's sockets were read and written (media.rtpIo); the caller side is node:dgram. */
  daemonIo: 'dgram' | 'batched';
  /** CPU of one side (its N sockets sending and receiving 50 datagrams/s each), % of one core. */
  sideCpuPct: number[];
  /** Both sides together, scaled to 1,000 calls: cores needed to move the datagrams alone. */
  coresPer1000Calls: number;
  /** Datagrams per second one side sent and received. */
  datagramsPerSecond: number;
  /** CPU per datagram sent+received (µs, both sides averaged). */
  usPerDatagram: number;
  delivered: number;
  tickWakeP99Ms: number[];
  eventLoopP99Ms: number[];
}

interface PeerResult {
  type: 'result';
  windowMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  sent: number;
  received: number;
  tickWakeP99Ms: number | null;
  eventLoopP99Ms: number;
}

export async function measureUdpFloor(o: { sockets: number; seconds: number; warmupS?: number; daemonIo?: 'dgram' | 'batched' }): Promise<UdpFloorResult> {
  const daemonIo = o.daemonIo ?? 'dgram';
  const a = forkTs('udp-floor-peer.ts');
  const b = forkTs('udp-floor-peer.ts');
  try {
    a.send({ type: 'open', sockets: o.sockets, io: daemonIo });
    b.send({ type: 'open', sockets: o.sockets });
    const ra = await nextMessage<{ type: 'ready'; ports: number[] }>(a, 'ready', 60_000);
    const rb = await nextMessage<{ type: 'ready'; ports: number[] }>(b, 'ready', 60_000);
    a.send({ type: 'peer', ports: rb.ports });
    await sleep(7); // the two sides tick at different phases, like two independent clocks
    b.send({ type: 'peer', ports: ra.ports });
    await sleep((o.warmupS ?? 2) * 1000);
    a.send({ type: 'measure' });
    b.send({ type: 'measure' });
    await sleep(o.seconds * 1000);
    const pa = nextMessage<PeerResult>(a, 'result', 30_000);
    const pb = nextMessage<PeerResult>(b, 'result', 30_000);
    a.send({ type: 'stop' });
    b.send({ type: 'stop' });
    const [x, y] = await Promise.all([pa, pb]);
    const cpu = (r: PeerResult): number => ((r.cpuUserMs + r.cpuSystemMs) / r.windowMs) * 100;
    const perSecond = (x.sent / x.windowMs) * 1000;
    const totalCpuMs = x.cpuUserMs + x.cpuSystemMs + y.cpuUserMs + y.cpuSystemMs;
    const datagrams = x.sent + y.sent;
    return {
      sockets: o.sockets,
      daemonIo,
      sideCpuPct: [round(cpu(x), 1), round(cpu(y), 1)],
      coresPer1000Calls: round(((cpu(x) + cpu(y)) / 100) * (1000 / o.sockets), 2),
      datagramsPerSecond: Math.round(perSecond),
      // each datagram is sent once and received once: the pair's CPU per datagram
      usPerDatagram: round((totalCpuMs * 1000) / datagrams, 2),
      delivered: round((x.received + y.received) / Math.max(1, x.sent + y.sent), 4),
      tickWakeP99Ms: [round(x.tickWakeP99Ms ?? 0), round(y.tickWakeP99Ms ?? 0)],
      eventLoopP99Ms: [round(x.eventLoopP99Ms, 2), round(y.eventLoopP99Ms, 2)],
    };
  } finally {
    await Promise.all([reap(a), reap(b)]);
  }
}

/** The floor with both sides on node:dgram, then (when the addon is built) with the daemon side batched. */
export async function measureUdpFloors(o: { sockets: number; seconds: number }): Promise<{ dgram: UdpFloorResult; batched: UdpFloorResult | null }> {
  const dgram = await measureUdpFloor(o);
  const batched = loadRtpIo() instanceof Error ? null : await measureUdpFloor({ ...o, daemonIo: 'batched' });
  return { dgram, batched };
}
