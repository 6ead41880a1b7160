/**
 * `ai-bridge bench`: steps of N concurrent simulated calls over real loopback UDP. For each step a
 * fresh daemon-side process (daemon-sim.ts) and a fresh caller-side process (caller-sim.ts) are
 * started, the conversation runs for a warm-up plus a measured window, and both report. Stops early
 * once a limit is clearly crossed. Writes the JSON, an SVG chart, and prints a table.
 */
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { summarizeProfile } from './profile-summary.ts';
import { dirname, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { benchConfig, benchConfigSummary, type BenchMediaOptions } from './bench-config.ts';
import { forkTs, nextMessage, reap, sleep } from './children.ts';
import type { CallerResult, DaemonResult, FromCaller, FromDaemon, TimelineSecond } from './protocol.ts';
import { Histogram, percentile, round } from './stats.ts';
import { renderChart, type Series } from './svg.ts';
import { measureUdpFloors, type UdpFloorResult } from './udp-floor.ts';

export function formatUdpFloor(f: UdpFloorResult): string {
  return [
    `  ${f.sockets} calls' datagrams alone (${f.datagramsPerSecond}/s each way): daemon-side (${f.daemonIo}) ${f.sideCpuPct[0]} % + caller-side (dgram) ${f.sideCpuPct[1]} % of a core`,
    `  = ${f.coresPer1000Calls} cores per 1,000 calls before any media work; ${f.usPerDatagram} µs CPU per datagram (send + receive), ${(f.delivered * 100).toFixed(2)} % delivered`,
    `  bare 20 ms tick wake-up jitter p99: ${f.tickWakeP99Ms.join(' / ')} ms; event-loop p99 ${f.eventLoopP99Ms.join(' / ')} ms`,
  ].join('\n');
}

export interface BenchOptions {
  steps: number[];
  durationS: number;
  warmupS: number;
  out: string;
  svg: string;
  portMin: number;
  portMax: number;
  /** media.tickSlots for the daemon side (default: the daemon's default). */
  tickSlots?: number;
  /** media.rtpIo for the daemon side (default: the daemon's default). */
  rtpIo?: BenchMediaOptions['rtpIo'];
  /** ops.overload.cpuPct for the daemon side's guard (default: the daemon's default). */
  guardCpuPct?: number;
  /**
   * Offer each step's calls one by one at this many per second, each admitted or refused by the
   * daemon's overload guard (ops.overload), instead of starting them all: how many calls the box
   * takes before the guard says no, and how those calls fare.
   */
  rampPerS?: number;
  /**
   * When a step crosses the limit, finish with one ramp at this rate: 1.3 times that step's calls
   * offered one by one through the overload guard. What the box holds when the daemon decides.
   */
  rampAfterPerS?: number;
  seed: number;
  profile: boolean;
  /** Measure the UDP floor (udp-floor.ts) with this many socket pairs first; 0 = skip. */
  floorSockets: number;
  log: (line: string) => void;
}

export const TARGETS = {
  calls: 1000,
  jitterP99Ms: 2,
  internalLoss: 0,
  addedLatencyP50Ms: 10,
  bargeInP95Ms: 120,
  rssPerIdleCallMiB: 1,
};

/** Limits that end the run early: beyond them a bigger step only measures a drowning box. */
const STOP = { eventLoopP99Ms: 50, loss: 0.01 };

export interface StepResult {
  /** Calls running in the window (a ramp: those the guard admitted). */
  calls: number;
  /** Calls offered (a ramp offers more than the guard may admit). */
  offeredCalls: number;
  cpuPerCallPct: number | null;
  daemonCpuPct: number | null;
  /** Share of the daemon's CPU spent in the kernel (socket syscalls mostly). */
  daemonSysShare: number | null;
  rssPerCallMiB: number | null;
  rssSetupPerCallMiB: number | null;
  jitterP50Ms: number | null;
  jitterP99Ms: number | null;
  jitterMaxMs: number | null;
  /** Heard jitter without each talk-spurt's first interval (the first packet leaves after the tick's work). */
  jitterSteadyP99Ms: number | null;
  jitterFirstIntervalP50Ms: number | null;
  jitterFirstIntervalP99Ms: number | null;
  /** Share of the measured intervals that are a talk-spurt's first. */
  jitterFirstIntervalShare: number | null;
  sendJitterP50Ms: number | null;
  sendJitterP99Ms: number | null;
  sendJitterMaxMs: number | null;
  tickWorkP50Ms: number | null;
  tickWorkP99Ms: number | null;
  /** The daemon side's window second by second: CPU, late and skipped ticks, loop delay, packets in and out. */
  timeline: TimelineSecond[];
  intervalP50Ms: number | null;
  intervalP99Ms: number | null;
  internalLoss: number | null;
  socketLoss: number | null;
  jitterBufferLoss: number | null;
  /** Jitter-buffer drops over the whole step, warm-up and call start-up included. */
  jitterBufferLossWholeStep: number | null;
  turnLatencyP50Ms: number | null;
  turnLatencyP95Ms: number | null;
  addedLatencyP50Ms: number | null;
  addedLatencyP95Ms: number | null;
  /** Added latency from the caller's last frame above -40 dBFS instead (the earlier anchor). */
  addedLatencyLevelCutP50Ms: number | null;
  bargeInP50Ms: number | null;
  bargeInP95Ms: number | null;
  bargeInNotStopped: number;
  turns: number;
  bargeIns: number;
  turnTimeouts: number;
  eventLoopP99Ms: number | null;
  eventLoopMaxMs: number | null;
  gcPauseMaxMs: number | null;
  /** Share of the window the daemon spent paused in GC. */
  gcPauseShare: number | null;
  callerEventLoopP99Ms: number | null;
  callerCpuPct: number | null;
  tickerLateTicks: number;
  tickerSkippedTicks: number;
  callInternalTurnLatencyP50Ms: number | null;
  callInternalBargeInP95Ms: number | null;
  vad: string;
  endReasons: Record<string, number>;
  /** Daemon media counters summed over all calls, whole step (diagnostics for the loss figures). */
  mediaCounters: Record<string, number>;
  callerSent: number;
  loadAvg1m: number | null;
  /** Share of the box's CPU time the hypervisor gave to other guests during the window (%), null off Linux. */
  stealPct: number | null;
  /** The overload guard's 1 s windows in the step's window, and how many it judged bad (ops.overload defaults). */
  guardWindows: number | null;
  guardBadWindows: number | null;
  /** The guard had admission off for at least one window of the step: a daemon would refuse new calls at this load. */
  guardRefused: boolean | null;
  /** For the table: "ok 0/25" or "REFUSE 14/25" (bad windows / windows). */
  guard: string | null;
  error?: string;
}

export function machineInfo(): Record<string, unknown> {
  const c = cpus();
  let ulimitN: string | null = null;
  try {
    ulimitN = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    /* informational only */
  }
  return {
    cpuModel: c[0]?.model ?? 'unknown',
    cores: c.length,
    totalMemMiB: Math.round(totalmem() / 1048576),
    freeMemMiB: Math.round(freemem() / 1048576),
    node: process.version,
    kernel: release(),
    loadAvgAtStart: loadavg().map((v) => round(v, 2)),
    ulimitNofile: ulimitN,
    date: new Date().toISOString(),
  };
}

/** CPU profiles of the daemon side go to out/ (git-ignored), one directory per step. */
export function profileDir(n: number): string {
  return resolve('out', 'bench-profiles', `calls-${n}`);
}

/** The box's CPU time so far and the part of it the hypervisor gave to other guests (Linux /proc/stat; null elsewhere). */
function cpuTimes(): { steal: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { steal: f[7] ?? 0, total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

async function runStep(n: number, o: BenchOptions): Promise<StepResult> {
  const daemonArgs = [
    ...(o.tickSlots ? [`--tick-slots=${o.tickSlots}`] : []),
    ...(o.rtpIo ? [`--rtp-io=${o.rtpIo}`] : []),
    ...(o.guardCpuPct ? [`--guard-cpu-pct=${o.guardCpuPct}`] : []),
  ];
  // An earlier run's profiles would be summarized instead of this one's (the biggest file wins).
  if (o.profile) rmSync(profileDir(n), { recursive: true, force: true });
  const daemon = forkTs('daemon-sim.ts', o.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir(n)] : [], daemonArgs);
  let caller: ReturnType<typeof forkTs> | null = null;
  try {
    const openTimeout = 30_000 + n * 40;
    const ramp = o.rampPerS ? { ratePerS: o.rampPerS } : undefined;
    daemon.send({ type: 'open', calls: n, portMin: o.portMin, portMax: o.portMax, ramp });
    const ready = await nextMessage<Extract<FromDaemon, { type: 'ready' }>>(daemon, 'ready', openTimeout);
    const callerProc = forkTs('caller-sim.ts');
    caller = callerProc;
    callerProc.send({ type: 'open', daemonPorts: ready.ports, seed: o.seed + n, waitForActivate: ramp !== undefined });
    await nextMessage<Extract<FromCaller, { type: 'ready' }>>(callerProc, 'ready', openTimeout);
    // A ramp's admitted calls: their callers start talking (the dialer connects them).
    const relay = (m: FromDaemon): void => {
      if (m.type === 'admitted') callerProc.send({ type: 'activate', indices: m.indices });
    };
    daemon.on('message', relay);
    daemon.send({ type: 'start' });
    if (ramp) {
      const done = await nextMessage<Extract<FromDaemon, { type: 'ramped' }>>(daemon, 'ramped', 60_000 + (n / ramp.ratePerS) * 2000);
      o.log(`  ramp: ${n} calls offered at ${ramp.ratePerS}/s, ${done.admitted} admitted, ${done.refused} refused by the overload guard`);
    }
    await sleep(o.warmupS * 1000);
    daemon.send({ type: 'measure' });
    caller.send({ type: 'measure' });
    const cpu0 = cpuTimes();
    await sleep(o.durationS * 1000);
    const cpu1 = cpuTimes();
    // CPU stolen by other guests on the host during the window: a noisy box, not our work
    const stealPct = cpu0 && cpu1 && cpu1.total > cpu0.total ? round(((cpu1.steal - cpu0.steal) / (cpu1.total - cpu0.total)) * 100, 2) : null;
    // stop the callers first so their last packets are counted before the daemon tallies
    const cRes = nextMessage<Extract<FromCaller, { type: 'result' }>>(caller, 'result', 30_000);
    const dRes = nextMessage<Extract<FromDaemon, { type: 'result' }>>(daemon, 'result', 30_000 + n * 20);
    caller.send({ type: 'stop' });
    const c = (await cRes).result;
    await sleep(200);
    daemon.send({ type: 'stop' });
    const d = (await dRes).result;
    return summarize(n, d, c, stealPct);
  } finally {
    if (caller) await reap(caller);
    await reap(daemon, 15_000);
  }
}

function summarize(offered: number, d: DaemonResult, c: CallerResult, stealPct: number | null): StepResult {
  const n = d.admitted; // every call offered, unless a ramp's guard refused some
  const cfg = benchConfigSummary();
  const designedWaitMs = cfg.endOfTurnMs + cfg.hangoverMs;
  const jitter = Histogram.fromSparse(c.jitterDev).summary();
  const interval = Histogram.fromSparse(c.interval).summary();
  const jitterFirst = Histogram.fromSparse(c.jitterDevFirst).summary();
  const jitterSteady = Histogram.fromSparse(c.jitterDevSteady).summary();
  const sendJ = Histogram.fromSparse(d.sendJitter).summary();
  const work = Histogram.fromSparse(d.tickWork).summary();
  const m = d.media;
  // Inbound packets the caller sent that the daemon never played: dropped by the kernel because the
  // daemon did not read its sockets in time, or dropped by the jitter buffer (late / overflow).
  const sent = c.sentTotal;
  const socketDrops = Math.max(0, sent - (m.total_packetsIn ?? 0));
  // every packet the callers send is valid PCMU: whatever reached the socket and was not played was lost inside
  // Dropped by the jitter buffer inside the measured window (late, or overflow after a stall), like
  // every other figure here; the whole step (warm-up and call start-up included) is kept beside it.
  // Quiet frames the adaptive buffer dropped on purpose to shrink its delay are not loss.
  const jbDrops = (m.late ?? 0) + (m.overflow ?? 0);
  const sentWindow = c.sent;
  const jbDropsWholeStep = Math.max(0, (m.total_packetsIn ?? 0) - (m.total_framesAudio ?? 0) - (m.total_skippedQuiet ?? 0));
  const turnP50 = percentile(c.turnLatencyMs, 50);
  const turnP95 = percentile(c.turnLatencyMs, 95);
  const levelCutP50 = percentile(c.turnLatencyLevelCutMs, 50);
  const cpuMs = d.cpuUserMs + d.cpuSystemMs;
  // (a ramp's guard may be refusing since before the window: that counts too)
  const refusing = d.overload.overloadedWindows > 0 || d.overload.refusingAtEnd;
  return {
    calls: n,
    offeredCalls: offered,
    cpuPerCallPct: round((cpuMs / d.windowMs / n) * 100, 4),
    daemonCpuPct: round((cpuMs / d.windowMs) * 100, 1),
    daemonSysShare: cpuMs > 0 ? round(d.cpuSystemMs / cpuMs, 3) : null,
    rssPerCallMiB: round((d.rssLiveMiB - d.rssBaselineMiB) / n, 3),
    rssSetupPerCallMiB: round((d.rssSetupMiB - d.rssBaselineMiB) / offered, 3),
    jitterP50Ms: round(jitter.p50, 2),
    jitterP99Ms: round(jitter.p99, 2),
    jitterMaxMs: round(jitter.max, 2),
    jitterSteadyP99Ms: round(jitterSteady.p99, 2),
    jitterFirstIntervalP50Ms: round(jitterFirst.p50, 2),
    jitterFirstIntervalP99Ms: round(jitterFirst.p99, 2),
    jitterFirstIntervalShare: jitter.count > 0 ? round(jitterFirst.count / jitter.count, 4) : null,
    sendJitterP50Ms: round(sendJ.p50, 2),
    sendJitterP99Ms: round(sendJ.p99, 2),
    sendJitterMaxMs: round(sendJ.max, 2),
    tickWorkP50Ms: round(work.p50, 2),
    tickWorkP99Ms: round(work.p99, 2),
    timeline: d.timeline,
    intervalP50Ms: round(interval.p50, 2),
    intervalP99Ms: round(interval.p99, 2),
    internalLoss: sent > 0 && sentWindow > 0 ? round(socketDrops / sent + jbDrops / sentWindow, 6) : null,
    socketLoss: sent > 0 ? round(socketDrops / sent, 6) : null,
    jitterBufferLoss: sentWindow > 0 ? round(jbDrops / sentWindow, 6) : null,
    jitterBufferLossWholeStep: sent > 0 ? round(jbDropsWholeStep / sent, 6) : null,
    turnLatencyP50Ms: round(turnP50, 1),
    turnLatencyP95Ms: round(turnP95, 1),
    addedLatencyP50Ms: turnP50 === null ? null : round(turnP50 - designedWaitMs, 1),
    addedLatencyP95Ms: turnP95 === null ? null : round(turnP95 - designedWaitMs, 1),
    addedLatencyLevelCutP50Ms: levelCutP50 === null ? null : round(levelCutP50 - designedWaitMs, 1),
    bargeInP50Ms: round(percentile(c.bargeInStopMs, 50), 1),
    bargeInP95Ms: round(percentile(c.bargeInStopMs, 95), 1),
    bargeInNotStopped: c.bargeInNotStopped,
    turns: c.turnLatencyMs.length,
    bargeIns: c.bargeInStopMs.length,
    turnTimeouts: c.turnTimeouts,
    eventLoopP99Ms: round(d.eventLoopP99Ms, 2),
    eventLoopMaxMs: round(d.eventLoopMaxMs, 1),
    gcPauseMaxMs: round(d.gcPause.maxMs, 1),
    gcPauseShare: round(d.gcPause.totalMs / d.windowMs, 4),
    callerEventLoopP99Ms: round(c.eventLoopP99Ms, 2),
    callerCpuPct: round(((c.cpuUserMs + c.cpuSystemMs) / c.windowMs) * 100, 1),
    tickerLateTicks: d.ticker.lateTicks,
    tickerSkippedTicks: d.ticker.skippedTicks,
    callInternalTurnLatencyP50Ms: round(percentile(d.callTurnLatencyMs, 50), 1),
    callInternalBargeInP95Ms: round(percentile(d.callBargeInStopMs, 95), 1),
    vad: d.vad,
    endReasons: d.endReasons,
    mediaCounters: Object.fromEntries(Object.entries(m).filter(([k, v]) => k.startsWith('total_') && v !== 0).map(([k, v]) => [k.slice(6), v])),
    callerSent: sent,
    loadAvg1m: round(loadavg()[0], 2),
    stealPct,
    guardWindows: d.overload.windows,
    guardBadWindows: d.overload.badWindows,
    guardRefused: refusing,
    guard: `${refusing ? 'REFUSE' : 'ok'} ${d.overload.badWindows}/${d.overload.windows}`,
  };
}

function failedStep(n: number, err: unknown): StepResult {
  const nul = null;
  return {
    calls: n, offeredCalls: n, cpuPerCallPct: nul, daemonCpuPct: nul, daemonSysShare: nul, rssPerCallMiB: nul, rssSetupPerCallMiB: nul, jitterP50Ms: nul,
    jitterP99Ms: nul, jitterMaxMs: nul, jitterSteadyP99Ms: nul, jitterFirstIntervalP50Ms: nul, jitterFirstIntervalP99Ms: nul, jitterFirstIntervalShare: nul, sendJitterP50Ms: nul, sendJitterP99Ms: nul, sendJitterMaxMs: nul,
    tickWorkP50Ms: nul, tickWorkP99Ms: nul, timeline: [], intervalP50Ms: nul, intervalP99Ms: nul, internalLoss: nul, socketLoss: nul,
    jitterBufferLoss: nul, jitterBufferLossWholeStep: nul, turnLatencyP50Ms: nul, turnLatencyP95Ms: nul, addedLatencyP50Ms: nul, addedLatencyP95Ms: nul, addedLatencyLevelCutP50Ms: nul,
    bargeInP50Ms: nul, bargeInP95Ms: nul, bargeInNotStopped: 0, turns: 0, bargeIns: 0, turnTimeouts: 0,
    eventLoopP99Ms: nul, eventLoopMaxMs: nul, gcPauseMaxMs: nul, gcPauseShare: nul, callerEventLoopP99Ms: nul, callerCpuPct: nul, tickerLateTicks: 0,
    tickerSkippedTicks: 0, callInternalTurnLatencyP50Ms: nul, callInternalBargeInP95Ms: nul, vad: 'n/a', endReasons: {},
    mediaCounters: {}, callerSent: 0, loadAvg1m: round(loadavg()[0], 2), stealPct: nul,
    guardWindows: nul, guardBadWindows: nul, guardRefused: nul, guard: nul,
    error: err instanceof Error ? err.message : String(err),
  };
}

const COLS: Array<[keyof StepResult, string]> = [
  ['calls', 'calls'],
  ['offeredCalls', 'offered'],
  ['daemonCpuPct', 'cpu%'],
  ['cpuPerCallPct', 'cpu%/call'],
  ['rssPerCallMiB', 'MiB/call'],
  ['jitterP50Ms', 'jit p50'],
  ['jitterP99Ms', 'jit p99'],
  ['jitterMaxMs', 'jit max'],
  ['sendJitterP99Ms', 'send p99'],
  ['tickWorkP99Ms', 'tick p99'],
  ['internalLoss', 'loss'],
  ['turnLatencyP50Ms', 'turn p50'],
  ['addedLatencyP50Ms', 'added p50'],
  ['bargeInP50Ms', 'barge p50'],
  ['bargeInP95Ms', 'barge p95'],
  ['eventLoopP99Ms', 'loop p99'],
  ['eventLoopMaxMs', 'loop max'],
  ['gcPauseMaxMs', 'gc max'],
  ['callerEventLoopP99Ms', 'caller loop'],
  ['loadAvg1m', 'load'],
  ['stealPct', 'steal%'],
  ['guard', 'guard'],
];

export function formatTable(steps: readonly StepResult[]): string {
  const rows = [COLS.map(([, h]) => h), ...steps.map((s) => COLS.map(([k]) => (s[k] === null ? '-' : String(s[k]))))];
  const widths = COLS.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((v, i) => v.padStart(widths[i])).join('  ')).join('\n');
}

/** One step's row of the table, without the header (printed as each step ends). */
function tableRow(s: StepResult): string {
  return formatTable([s]).split('\n')[1] ?? '';
}

export function chart(machine: Record<string, unknown>, steps: readonly StepResult[], ramp: StepResult | null = null): string {
  const ok = steps.filter((s) => !s.error);
  const r = ramp && !ramp.error ? ramp : null;
  const xs = [...ok.map((s) => s.calls), ...(r ? [r.calls] : [])].sort((a, b) => a - b);
  const pts = (k: keyof StepResult): Array<[number, number | null]> => ok.map((s) => [s.calls, s[k] as number | null]);
  // The closing ramp: one point at the calls the guard admitted, in the panels that judge it.
  const guarded = (k: keyof StepResult, scale = 1): Series[] =>
    r && typeof r[k] === 'number' ? [{ label: `guard admitted ${r.calls} of ${r.offeredCalls} (--ramp)`, color: '#090', points: [[r.calls, (r[k] as number) * scale]] }] : [];
  return renderChart(
    'ai-bridge load benchmark',
    `${machine.cores} x ${machine.cpuModel}, node ${machine.node}, ${machine.date}`,
    xs,
    [
      { title: 'Outbound jitter (|interval - 20 ms|)', unit: 'ms', target: { value: TARGETS.jitterP99Ms, label: 'target p99 2 ms' }, series: [
        { label: 'p50', color: '#2a7', points: pts('jitterP50Ms') },
        { label: 'p99', color: '#d70', points: pts('jitterP99Ms') },
        { label: 'p99 at daemon send', color: '#36c', points: pts('sendJitterP99Ms') },
        ...guarded('jitterP99Ms'),
      ] },
      { title: 'Daemon CPU, event-loop delay, and the host\'s noise', unit: '% of one core / ms / % of the box', series: [
        { label: 'daemon CPU % (all calls)', color: '#36c', points: pts('daemonCpuPct') },
        { label: 'event-loop p99 ms', color: '#c3c', points: pts('eventLoopP99Ms') },
        { label: 'steal % (CPU given to other guests)', color: '#999', points: pts('stealPct') },
      ] },
      { title: 'Daemon-added turn latency (above end-of-turn wait)', unit: 'ms', target: { value: TARGETS.addedLatencyP50Ms, label: 'target p50 10 ms' }, series: [
        { label: 'p50', color: '#2a7', points: pts('addedLatencyP50Ms') },
        { label: 'p95', color: '#d70', points: pts('addedLatencyP95Ms') },
      ] },
      { title: 'Barge-in stop (caller onset -> last agent packet)', unit: 'ms', target: { value: TARGETS.bargeInP95Ms, label: 'target p95 120 ms' }, series: [
        { label: 'p50', color: '#2a7', points: pts('bargeInP50Ms') },
        { label: 'p95', color: '#d70', points: pts('bargeInP95Ms') },
        ...guarded('bargeInP95Ms'),
      ] },
      { title: 'RSS per call', unit: 'MiB', target: { value: TARGETS.rssPerIdleCallMiB, label: 'target 1 MiB' }, series: [
        { label: 'live (talking) calls', color: '#36c', points: pts('rssPerCallMiB') },
        { label: 'set up, not started', color: '#999', points: pts('rssSetupPerCallMiB') },
      ] },
      { title: 'Inbound loss inside the daemon', unit: '% of packets sent', target: { value: 0.0001, label: 'target 0' }, series: [
        { label: 'total', color: '#d33', points: ok.map((s) => [s.calls, s.internalLoss === null ? null : s.internalLoss * 100]) },
        { label: 'kernel socket drops', color: '#999', points: ok.map((s) => [s.calls, s.socketLoss === null ? null : s.socketLoss * 100]) },
        ...guarded('internalLoss', 100),
      ] },
    ],
  );
}

export async function runLoadBench(o: BenchOptions): Promise<{
  machine: Record<string, unknown>;
  steps: StepResult[];
  udpFloor: UdpFloorResult | null;
  udpFloorBatched: UdpFloorResult | null;
  ramp: StepResult | null;
}> {
  const machine = { ...machineInfo(), config: { ...benchConfigSummary({ tickSlots: o.tickSlots, rtpIo: o.rtpIo }), guardCpuPct: o.guardCpuPct ?? benchConfig().ops.overload.cpuPct }, durationS: o.durationS, warmupS: o.warmupS, seed: o.seed, rampPerS: o.rampPerS ?? null };
  const steps: StepResult[] = [];
  let udpFloor: UdpFloorResult | null = null;
  let udpFloorBatched: UdpFloorResult | null = null;
  let ramp: StepResult | null = null;
  const save = (): void => {
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify({ machine, targets: TARGETS, udpFloor, udpFloorBatched, steps, ramp }, null, 2) + '\n');
    writeFileSync(o.svg, chart(machine, steps, ramp));
  };
  if (o.floorSockets > 0) {
    o.log(`UDP floor: ${o.floorSockets} socket pairs exchanging 50 datagrams/s each way, no media work...`);
    try {
      const floors = await measureUdpFloors({ sockets: o.floorSockets, seconds: Math.min(10, o.durationS) });
      udpFloor = floors.dgram;
      udpFloorBatched = floors.batched;
      for (const f of [udpFloor, udpFloorBatched]) if (f) o.log(formatUdpFloor(f));
    } catch (err) {
      o.log(`UDP floor not measured: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  for (const n of o.steps) {
    o.log(`step: ${n} calls (${o.warmupS}s warm-up + ${o.durationS}s measured)...`);
    let r: StepResult;
    try {
      r = await runStep(n, o);
    } catch (err) {
      r = failedStep(n, err);
    }
    steps.push(r);
    save();
    o.log(tableRow(r));
    if (o.profile) {
      try {
        // the main thread's profile is the biggest (the other is tsx's loader thread)
        const dir = profileDir(n);
        const files = readdirSync(dir).map((f) => join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size);
        if (files[0]) o.log(`profile ${files[0]}:\n${summarizeProfile(files[0], 20)}`);
      } catch (err) {
        o.log(`no profile summary: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (r.error) {
      o.log(`step ${n} failed: ${r.error}; stopping`);
      break;
    }
    const loop = r.eventLoopP99Ms ?? 0;
    const loss = r.internalLoss ?? 0;
    if (loop > STOP.eventLoopP99Ms || loss > STOP.loss) {
      o.log(`limit crossed at ${n} calls (event-loop p99 ${loop} ms, loss ${(loss * 100).toFixed(2)}%): stopping`);
      if (o.rampAfterPerS && !o.rampPerS) {
        const offered = Math.ceil((n * 1.3) / 100) * 100;
        o.log(`ramp: ${offered} calls offered at ${o.rampAfterPerS}/s through the overload guard (${o.warmupS}s warm-up + ${o.durationS}s measured)...`);
        try {
          ramp = await runStep(offered, { ...o, rampPerS: o.rampAfterPerS });
        } catch (err) {
          ramp = failedStep(offered, err);
        }
        save();
        o.log(tableRow(ramp));
      }
      break;
    }
  }
  save();
  return { machine, steps, udpFloor, udpFloorBatched, ramp };
}
