/**
 * The daemon side of the load benchmark, in its own process so its CPU, RSS and event loop are
 * measured alone: N real agent Calls (real VAD, jitter buffer, pacer, shared Ticker), each with its
 * own RTP socket on 127.0.0.1, with zero-latency providers. Driven by the orchestrator over IPC.
 */
import dgram from 'node:dgram';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import pino from 'pino';
import { Call, type VoiceDetector } from '../src/agent/call.ts';
import { AudioCache } from '../src/agent/audio-cache.ts';
import { benchConfig, type BenchMediaOptions } from './bench-config.ts';
import { sendLastToParent } from './children.ts';
import type { Config } from '../src/config/schema.ts';
import { systemClock } from '../src/media/clock.ts';
import { PortPool } from '../src/media/port-pool.ts';
import { BatchedUdp, batchedUdpFor } from '../src/media/batched-udp.ts';
import { Ticker } from '../src/media/ticker.ts';
import { mediaLoadSource, OverloadGuard } from '../src/ops/overload.ts';
import { loadBenchAudio } from './audio.ts';
import { openBenchMedia, type BenchMedia } from './media-glue.ts';
import { SPURT_GAP_MS, type DaemonResult, type FromDaemon, type TimelineSecond, type ToDaemon } from './protocol.ts';
import { BenchBrain, InstantStt, InstantTts } from './providers.ts';
import { Histogram } from './stats.ts';

const MiB = 1024 * 1024;

function send(msg: FromDaemon): void {
  process.send?.(msg);
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function rssMiB(): number {
  gc();
  return process.memoryUsage().rss / MiB;
}

/** The real WebRTC VAD (src/media/vad.ts). */
const vadKind = 'webrtc';
async function vadFactory(cfg: Config): Promise<() => Promise<VoiceDetector>> {
  const { createVad } = await import('../src/media/vad.ts');
  return () => createVad(cfg.media.vad);
}

interface Live {
  call: Call;
  media: BenchMedia;
  /** A ramp's call the guard admitted. */
  started?: boolean;
}

async function main(): Promise<void> {
  const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const slots = arg('tick-slots');
  const cfg = benchConfig({
    ...(slots ? { tickSlots: Number(slots) } : {}),
    ...(arg('rtp-io') ? { rtpIo: arg('rtp-io') as BenchMediaOptions['rtpIo'] } : {}),
  });
  const audio = loadBenchAudio();
  const logger = pino({ level: 'silent' });
  const stt = new InstantStt();
  const tts = new InstantTts(audio.agentGreeting, audio.agentReply);
  const greetingCache = new AudioCache();
  const createVad = await vadFactory(cfg);
  const udp = batchedUdpFor(cfg.media.rtpIo, systemClock);
  const ticker = new Ticker(systemClock, { leadMs: cfg.media.tickLeadMs, slots: cfg.media.tickSlots, io: udp });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  // The daemon's overload admission, watching only: how it judges each step with its defaults.
  const load = mediaLoadSource(ticker);
  const guardCpuPct = arg('guard-cpu-pct');
  const guard = new OverloadGuard(systemClock, load, guardCpuPct ? { ...cfg.ops.overload, cpuPct: Number(guardCpuPct) } : cfg.ops.overload);
  let guardAtWindow = { ...guard.counters };
  const live: Live[] = [];
  const endReasons: Record<string, number> = {};
  let callsEnded = 0;
  let rssBaseline = rssMiB();
  let rssSetup = 0;
  let windowStart = 0;
  let cpuStart = process.cpuUsage();
  let mediaAtWindow: Record<string, number> = {};
  let tickerAtWindow = { ...ticker.counters };
  let calls = 0;
  let ramp: { ratePerS: number } | null = null;
  let measuring = false;
  let tickInStart = 0;
  // Every packet's send time at the socket call (sendto runs in it: on loopback the caller's
  // socket has it then), per socket: |interval - 20 ms| between consecutive packets of a
  // talk-spurt, the first packet of a spurt (marker bit) excluded as at the caller.
  const sendJitter = new Histogram(0.01, 200);
  // (key: the socket; byte1: the RTP header's second byte, whose top bit is the marker)
  const lastSend = new WeakMap<object, number>();
  const noteSend = (key: object, byte1: number, now: number): void => {
    const last = lastSend.get(key);
    if (measuring && last !== undefined && (byte1 & 0x80) === 0 && now - last < SPURT_GAP_MS) sendJitter.add(Math.abs(now - last - 20));
    lastSend.set(key, now);
  };
  const send0 = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    noteSend(this, (args[0] as Uint8Array)[1], performance.now());
    return (send0 as (...a: unknown[]) => void).apply(this, args);
  } as typeof send0;
  // The same for batched UDP (media.rtpIo): a burst's packets leave in one native call, timed at
  // that call; a packet sent outside a burst at its send(). (Its private fields, read by name: a
  // measurement hook in the daemon's hot path would cost every call.)
  type BatchedInternals = { bursting: boolean; outCount: number; outTo: Int32Array; outData: Uint8Array; outOwners: Array<object | null> };
  const batchedProto = BatchedUdp.prototype as unknown as Record<'flush' | 'send', (...a: unknown[]) => void>;
  const flush0 = batchedProto.flush;
  batchedProto.flush = function (this: BatchedInternals, ...args: unknown[]) {
    const now = performance.now();
    for (let k = 0; k < this.outCount; k++) {
      const owner = this.outOwners[k];
      if (owner !== null) noteSend(owner, this.outData[this.outTo[k * 5 + 3] + 1], now);
    }
    return flush0.apply(this, args);
  };
  const batchedSend0 = batchedProto.send;
  batchedProto.send = function (this: BatchedInternals, ...args: unknown[]) {
    if (!this.bursting) noteSend(args[0] as object, (args[1] as Uint8Array)[1], performance.now());
    return batchedSend0.apply(this, args);
  };
  // GC pauses in the window: tells a self-inflicted event-loop stall from CPU taken by other processes
  const gcPause = { count: 0, totalMs: 0, maxMs: 0 };
  new PerformanceObserver((list) => {
    if (!measuring) return;
    for (const e of list.getEntries()) {
      gcPause.count++;
      gcPause.totalMs += e.duration;
      if (e.duration > gcPause.maxMs) gcPause.maxMs = e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const tickWork = new Histogram(0.01, 200);
  // The window second by second (see TimelineSecond).
  const timeline: TimelineSecond[] = [];
  const loopSecond = monitorEventLoopDelay({ resolution: 1 });
  let second = { cpu: process.cpuUsage(), ticker: { ...ticker.counters }, packetsIn: 0, packetsOut: 0 };
  const startSecond = (): void => {
    const m = sumMedia();
    second = { cpu: process.cpuUsage(), ticker: { ...ticker.counters }, packetsIn: m.packetsIn ?? 0, packetsOut: m.packetsOut ?? 0 };
    loopSecond.reset();
  };
  const endSecond = (): void => {
    const cpu = process.cpuUsage(second.cpu);
    const m = sumMedia();
    const packets = { packetsIn: m.packetsIn ?? 0, packetsOut: m.packetsOut ?? 0 };
    const t = ticker.counters;
    timeline.push({
      cpuPct: Math.round((cpu.user + cpu.system) / 1000) / 10,
      sysPct: Math.round(cpu.system / 1000) / 10,
      lateTicks: t.lateTicks - second.ticker.lateTicks,
      skippedTicks: t.skippedTicks - second.ticker.skippedTicks,
      loopP99Ms: Math.round(loopSecond.percentile(99) / 1e4) / 100,
      packetsIn: packets.packetsIn - second.packetsIn,
      packetsOut: packets.packetsOut - second.packetsOut,
    });
    startSecond();
  };
  let secondTimer: NodeJS.Timeout | null = null;

  const sumMedia = (): Record<string, number> => {
    const s: Record<string, number> = {};
    for (const l of live) for (const [k, v] of Object.entries(l.media.counters())) s[k] = (s[k] ?? 0) + v;
    return s;
  };

  process.on('message', (msg: ToDaemon) => {
    void (async () => {
      try {
        if (msg.type === 'open') {
          calls = msg.calls;
          ramp = msg.ramp ?? null;
          rssBaseline = rssMiB();
          const pool = new PortPool(msg.portMin, msg.portMax);
          ticker.add(() => {
            tickInStart = performance.now();
          }, 'send');
          for (let i = 0; i < msg.calls; i++) {
            const call = new Call(`bench-${i}`, { pbx: 'sim', fields: {} }, {
              agent: cfg.agent,
              vad: cfg.media.vad,
              transfers: cfg.transfers,
              clock: systemClock,
              logger,
              brain: new BenchBrain(),
              stt,
              tts,
              createVad,
              greetingCache,
            });
            call.on('ended', (rec) => {
              callsEnded++;
              const r = rec.endReason ?? 'unknown';
              endReasons[r] = (endReasons[r] ?? 0) + 1;
            });
            // A ramp's calls get their media now (port bound) and are attached only if admitted.
            const media = await openBenchMedia({ pool, ticker, call: ramp ? undefined : call, jitterBufferMs: cfg.media.jitterBufferMs, jitterAdaptive: cfg.media.jitterAdaptive, speechGateDbfs: cfg.media.vad.energyGateDbfs });
            live.push({ call, media });
          }
          ticker.add(() => {
            // a tick's whole media work: every send, every call's inbound frame, the promise jobs, the outbound phase
            if (measuring) tickWork.add(performance.now() - tickInStart);
          }, 'outbound');
          rssSetup = rssMiB();
          // Media runs from before the first caller packet: the jitter buffers are drained from the
          // start instead of filling up (and overflowing) while the calls are being started.
          ticker.start();
          send({ type: 'ready', ports: live.map((l) => l.media.localPort), rssSetupMiB: rssSetup });
        } else if (msg.type === 'start' && ramp) {
          // A dialer's calls, one by one, each asking the daemon's overload guard as the adapters do.
          const gapMs = 1000 / ramp.ratePerS;
          guard.start();
          const starting: Promise<void>[] = [];
          let refused = 0;
          for (let i = 0; i < live.length; i++) {
            await new Promise((r) => setTimeout(r, gapMs));
            const l = live[i];
            if (!guard.admit().ok) {
              refused++;
              await l.media.close(); // its port goes back; the Call was never started
              continue;
            }
            l.media.attach(l.call);
            l.started = true;
            starting.push(l.call.start());
            send({ type: 'admitted', indices: [i] });
          }
          await Promise.all(starting);
          send({ type: 'ramped', admitted: live.length - refused, refused });
        } else if (msg.type === 'start') {
          // Calls are answered over time, not all in one instant: a dialer ramps up. 25 calls every
          // 50 ms (1,000 calls in 2 s) keeps the start-up work from stalling the running calls.
          const starting: Promise<void>[] = [];
          for (let i = 0; i < live.length; i += 25) {
            for (const l of live.slice(i, i + 25)) starting.push(l.call.start());
            await new Promise((r) => setTimeout(r, 50));
          }
          await Promise.all(starting);
        } else if (msg.type === 'measure') {
          windowStart = performance.now();
          cpuStart = process.cpuUsage();
          mediaAtWindow = sumMedia();
          tickerAtWindow = { ...ticker.counters };
          for (const l of live) {
            l.call.record.metrics.turnLatencyMs.length = 0;
            l.call.record.metrics.bargeInStopMs.length = 0;
          }
          loop.enable();
          loop.reset();
          loopSecond.enable();
          startSecond();
          secondTimer = setInterval(endSecond, 1000);
          measuring = true;
          guardAtWindow = { ...guard.counters };
          guard.start(); // (a ramp's is running already)
        } else if (msg.type === 'stop') {
          const windowMs = performance.now() - windowStart;
          const cpu = process.cpuUsage(cpuStart);
          loop.disable();
          if (secondTimer) clearInterval(secondTimer);
          loopSecond.disable();
          measuring = false;
          const mediaNow = sumMedia();
          const media: Record<string, number> = {};
          for (const [k, v] of Object.entries(mediaNow)) media[k] = v - (mediaAtWindow[k] ?? 0);
          for (const [k, v] of Object.entries(mediaNow)) media[`total_${k}`] = v;
          const t = ticker.counters;
          const callTurnLatencyMs = live.flatMap((l) => l.call.record.metrics.turnLatencyMs);
          const callBargeInStopMs = live.flatMap((l) => l.call.record.metrics.bargeInStopMs);
          const rssLive = rssMiB();
          const heapUsedMiB = process.memoryUsage().heapUsed / MiB;
          guard.stop();
          load.close();
          ticker.stop();
          for (const l of live) l.call.end('shutdown');
          await Promise.all(live.map((l) => l.media.close()));
          udp?.close();
          await new Promise((r) => setTimeout(r, 50));
          const result: DaemonResult = {
            calls,
            vad: vadKind,
            opened: live.length,
            admitted: ramp ? live.filter((l) => l.started).length : live.length,
            windowMs,
            cpuUserMs: cpu.user / 1000,
            cpuSystemMs: cpu.system / 1000,
            rssBaselineMiB: rssBaseline,
            rssSetupMiB: rssSetup,
            rssLiveMiB: rssLive,
            heapUsedMiB,
            eventLoopP50Ms: loop.percentile(50) / 1e6,
            eventLoopP99Ms: loop.percentile(99) / 1e6,
            eventLoopMaxMs: loop.max / 1e6,
            media,
            sendJitter: sendJitter.toSparse(),
            gcPause,
            tickWork: tickWork.toSparse(),
            timeline,
            ticker: {
              ticks: t.ticks - tickerAtWindow.ticks,
              lateTicks: t.lateTicks - tickerAtWindow.lateTicks,
              skippedTicks: t.skippedTicks - tickerAtWindow.skippedTicks,
              errors: t.errors - tickerAtWindow.errors,
            },
            overload: {
              windows: guard.counters.windows - guardAtWindow.windows,
              badWindows: guard.counters.badWindows - guardAtWindow.badWindows,
              overloads: guard.counters.overloads - guardAtWindow.overloads,
              overloadedWindows: guard.counters.overloadedWindows - guardAtWindow.overloadedWindows,
              refusingAtEnd: guard.overloaded,
            },
            callTurnLatencyMs,
            callBargeInStopMs,
            callsEnded,
            endReasons,
            activeHandlesAfterClose: (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length,
          };
          sendLastToParent({ type: 'result', result } satisfies FromDaemon);
        }
      } catch (err) {
        send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    })();
  });
}

void main();
