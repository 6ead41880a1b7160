/** IPC messages between the bench orchestrator and its two children (daemon side, caller side). */
import type { Histogram } from './stats.ts';

type SparseHistogram = ReturnType<Histogram['toSparse']>;

/** A gap this long between agent packets ends a talk-spurt (paced packets come every 20 ms). */
export const SPURT_GAP_MS = 100;

// ------------------------------------------------------------------ daemon child

export type ToDaemon =
  /**
   * `ramp`: the calls are offered one by one at this rate instead of all started at once, each
   * asking the overload guard first, as a dialer's calls ask the daemon; refused ones are closed.
   */
  | { type: 'open'; calls: number; portMin: number; portMax: number; profile?: boolean; ramp?: { ratePerS: number } }
  | { type: 'start' }
  | { type: 'measure' }
  | { type: 'stop' };

/**
 * One second of the measured window on the daemon side: how the load moved. The bench's calls
 * start within seconds of each other, so their talk phases drift apart only slowly, and a second in
 * which most agents are speaking costs more than one in which most callers are.
 */
export interface TimelineSecond {
  /** Process CPU (user + system) in that second, % of one core; `sysPct` the system part. */
  cpuPct: number;
  sysPct: number;
  lateTicks: number;
  skippedTicks: number;
  loopP99Ms: number;
  /** RTP packets the calls received / sent in that second. */
  packetsIn: number;
  packetsOut: number;
}

export interface DaemonResult {
  calls: number;
  /** Calls started (all of them, or those the guard admitted in a ramp). */
  admitted: number;
  vad: string;
  opened: number;
  windowMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  rssBaselineMiB: number;
  rssSetupMiB: number;
  rssLiveMiB: number;
  heapUsedMiB: number;
  eventLoopP50Ms: number;
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  /** Summed media counters over all calls (window only). */
  media: Record<string, number>;
  /** |interval - 20 ms| between consecutive packets of a talk-spurt at the daemon's socket send call (daemon clock). */
  sendJitter: SparseHistogram;
  /** GC pauses during the window (PerformanceObserver 'gc'). */
  gcPause: { count: number; totalMs: number; maxMs: number };
  /** Time from the first to the last call's media work within one tick. */
  tickWork: SparseHistogram;
  ticker: { ticks: number; lateTicks: number; skippedTicks: number; errors: number };
  /** The window second by second. */
  timeline: TimelineSecond[];
  /** The daemon's overload guard (ops.overload defaults) judging this window: would it have refused new calls? */
  overload: { windows: number; badWindows: number; overloads: number; overloadedWindows: number; refusingAtEnd: boolean };
  /** The Call's own metrics (call time): turn latency and barge-in stop, all turns in the window. */
  callTurnLatencyMs: number[];
  callBargeInStopMs: number[];
  callsEnded: number;
  endReasons: Record<string, number>;
  /** Handles after closing everything (leak check). */
  activeHandlesAfterClose: number;
}

export type FromDaemon =
  | { type: 'ready'; ports: number[]; rssSetupMiB: number }
  /** Ramp: these calls were admitted and started (their callers may talk now). */
  | { type: 'admitted'; indices: number[] }
  /** Ramp: every call has been offered. */
  | { type: 'ramped'; admitted: number; refused: number }
  | { type: 'result'; result: DaemonResult }
  | { type: 'error'; message: string };

// ------------------------------------------------------------------ caller child

export type ToCaller =
  /** `waitForActivate`: callers send nothing until their call is admitted (ramp). */
  | { type: 'open'; daemonPorts: number[]; seed: number; waitForActivate?: boolean }
  | { type: 'activate'; indices: number[] }
  | { type: 'measure' }
  | { type: 'stop' };

export interface CallerResult {
  callers: number;
  windowMs: number;
  sent: number;
  /** All packets sent since the callers started (not only in the window). */
  sentTotal: number;
  received: number;
  /** |inter-arrival - 20 ms| of consecutive agent packets within a talk-spurt. */
  jitterDev: SparseHistogram;
  /** jitterDev split: the first interval of each talk-spurt (marker packet -> next), and every other. */
  jitterDevFirst: SparseHistogram;
  jitterDevSteady: SparseHistogram;
  /** Raw inter-arrival of consecutive packets within a talk-spurt. */
  interval: SparseHistogram;
  /** Caller's last frame the daemon's VAD counts as speech sent -> first reply packet received. */
  turnLatencyMs: number[];
  /** The same turns from the caller's last frame above -40 dBFS (the anchor before 2026-12). */
  turnLatencyLevelCutMs: number[];
  /** Caller speech onset sent -> last agent packet received. */
  bargeInStopMs: number[];
  bargeInNotStopped: number;
  turnTimeouts: number;
  /** Sequence gaps seen at the caller inside talk-spurts (loopback loss or daemon skips). */
  seqGaps: number;
  eventLoopP99Ms: number;
  cpuUserMs: number;
  cpuSystemMs: number;
}

export type FromCaller =
  | { type: 'ready' }
  | { type: 'result'; result: CallerResult }
  | { type: 'error'; message: string };
