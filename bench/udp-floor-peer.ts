/**
 * One side of the UDP floor measurement (see udp-floor.ts): N sockets on 127.0.0.1, each sending one
 * 172-byte datagram (an RTP packet of 20 ms PCMU) every 20 ms to its peer socket in the other process
 * and counting what it receives; nothing else. Sends the daemon's way: the shared Ticker, unconnected
 * sockets with the IP-literal lookup, send order fixed per tick. With `io: 'batched'` (the daemon
 * side's media.rtpIo) the sockets are BatchedUdp's instead: read by the ticks, sent in the ticks'
 * bursts, spread over the daemon's four sub-ticks.
 */
import dgram from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ipLiteralLookup } from '../src/media/ip-lookup.ts';
import { BatchedUdp, type BatchedSocket } from '../src/media/batched-udp.ts';
import { systemClock } from '../src/media/clock.ts';
import { Ticker, type DeferredSend } from '../src/media/ticker.ts';
import { sendLastToParent } from './children.ts';
import { Histogram } from './stats.ts';

type ToPeer = { type: 'open'; sockets: number; io?: 'dgram' | 'batched' } | { type: 'peer'; ports: number[] } | { type: 'measure' } | { type: 'stop' };

const socks: dgram.Socket[] = [];
const batchedSocks: BatchedSocket[] = [];
let udp: BatchedUdp | null = null;
let ticker = new Ticker();
const SLOTS = 4;
const loop = monitorEventLoopDelay({ resolution: 1 });
const wake = new Histogram(0.01, 200);
let peerPorts: number[] = [];
let received = 0;
let sent = 0;
let measuring = false;
let cpuStart = process.cpuUsage();
let windowStart = 0;
let lastTick = 0;
const payload = Buffer.alloc(172, 0xff);

/** How late this period's tick woke (its first sub-tick's), against the 20 ms grid. */
function noteWake(): void {
  const now = performance.now();
  if (measuring && lastTick > 0) wake.add(Math.abs(now - lastTick - 20));
  lastTick = now;
}

process.on('message', (msg: ToPeer) => {
  void (async () => {
    if (msg.type === 'open') {
      if (msg.io === 'batched') {
        udp = new BatchedUdp(systemClock);
        ticker = new Ticker(systemClock, { io: udp, slots: SLOTS, leadMs: 3 });
        const sink = {
          onDatagram: () => {
            if (measuring) received++;
          },
          onOversize: () => {},
          onKernelDrops: () => {},
          onSendError: () => {},
        };
        for (let i = 0; i < msg.sockets; i++) batchedSocks.push(udp.bind('127.0.0.1', 0, sink));
        process.send?.({ type: 'ready', ports: batchedSocks.map((s) => s.localPort) });
        return;
      }
      for (let i = 0; i < msg.sockets; i++) {
        const s = dgram.createSocket({ type: 'udp4', lookup: ipLiteralLookup() });
        s.on('message', () => {
          if (measuring) received++;
        });
        s.on('error', () => {});
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
        socks.push(s);
      }
      process.send?.({ type: 'ready', ports: socks.map((s) => s.address().port) });
    } else if (msg.type === 'peer') {
      peerPorts = msg.ports;
      if (udp !== null) {
        // As the daemon does: each socket at its own sub-tick, its packet held in the send phase and
        // sent in the sub-tick's burst at the instant.
        for (let k = 0; k < SLOTS; k++) {
          const burst: DeferredSend = {
            flushSend: () => {
              for (let i = k; i < batchedSocks.length; i += SLOTS) batchedSocks[i].send(payload, peerPorts[i], '127.0.0.1');
            },
          };
          ticker.add(() => {
            if (k === 0) noteWake();
            ticker.defer(burst);
            if (measuring) sent += Math.ceil((batchedSocks.length - k) / SLOTS);
          }, 'send', k);
        }
        ticker.start();
        return;
      }
      ticker.add(() => {
        noteWake();
        for (let i = 0; i < socks.length; i++) socks[i].send(payload, peerPorts[i], '127.0.0.1');
        if (measuring) sent += socks.length;
      });
      ticker.start();
    } else if (msg.type === 'measure') {
      measuring = true;
      cpuStart = process.cpuUsage();
      windowStart = performance.now();
      loop.enable();
    } else if (msg.type === 'stop') {
      const windowMs = performance.now() - windowStart;
      const cpu = process.cpuUsage(cpuStart);
      measuring = false;
      ticker.stop();
      loop.disable();
      for (const s of socks) s.close();
      udp?.close();
      sendLastToParent({
        type: 'result',
        windowMs,
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
        sent,
        received,
        tickWakeP99Ms: wake.summary().p99,
        eventLoopP99Ms: loop.percentile(99) / 1e6,
      });
    }
  })();
});
