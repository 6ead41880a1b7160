/**
 * Overload admission: while the media loop is falling behind, new calls are handed back to the
 * dialplan (AI_BRIDGE_REFUSED=overloaded, like a refusal while draining) so the calls already
 * running keep their audio.
 *
 * Why a guard and not only ops.maxCalls: what one box holds depends on the box and the hour (the
 * load benchmark measured 0 loss at 500 calls on its 2 cores, but 3 % at 500 while the hypervisor
 * took a fifth of the CPU, and 0.3-18 % at 1,000). Past that point every call suffers at once:
 * ticks are skipped, jitter buffers overflow, barge-in and replies slow down. A static limit is
 * either too low for a quiet box or too high for a busy one; the loop's own lateness says when.
 *
 * Every `windowMs` the guard reads three measures of the window just ended:
 * - ticks the media Ticker skipped (it was a whole period or more behind: frames were lost);
 * - the event loop's delay p99 (perf_hooks), which rises before ticks are skipped;
 * - the CPU the daemon's main thread used, as a share of one core (Linux: /proc/self/schedstat,
 *   time on CPU, so the tick lead's futex sleep does not count). It grows with the calls, where the
 *   loop delay stays flat until the knee and then jumps: measured on a ramp of calls (the load
 *   benchmark's --ramp), the loop delay alone let calls in past what the thread could carry.
 * `enterWindows` bad windows in a row turn admission off; `exitWindows` good ones in a row turn it
 * back on, so one stall (a GC pause, a burst of steal) refuses nobody, and a loaded box does not
 * flap between admitting and refusing.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import type { Clock, TimerHandle } from '../media/clock.ts';
import type { Admission } from './drain.ts';
import { DRAIN_VARIABLE } from './drain.ts';

/** AI_BRIDGE_REFUSED's value for a call refused because the media loop is overloaded. */
export const OVERLOAD_VALUE = 'overloaded';

export interface OverloadSettings {
  readonly enabled: boolean;
  /** A window whose event-loop delay p99 is above this is a bad one (ms). */
  readonly eventLoopP99Ms: number;
  /** A window in which the main thread used more than this share of one core is a bad one (%). */
  readonly cpuPct: number;
  readonly windowMs: number;
  readonly enterWindows: number;
  readonly exitWindows: number;
}

/** What the guard reads: the Ticker's skipped ticks (a running total), and the loop delay and main-thread CPU of the last window. */
export interface LoadSource {
  /** Ticks skipped since start (Ticker.counters.skippedTicks). */
  skippedTicks(): number;
  /** Event-loop delay p99 over the window since the last call (ms); the source resets itself. */
  loopDelayP99Ms(): number;
  /** The main thread's CPU over the window since the last call, % of one core; null where unknown. */
  threadCpuPct(): number | null;
}

/** The daemon's LoadSource: the media Ticker's counters, perf_hooks' event-loop delay histogram, /proc/self/schedstat. */
export function mediaLoadSource(ticker: { readonly counters: { readonly skippedTicks: number } }): LoadSource & { close(): void } {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  let cpuNs = threadCpuNs();
  let at = performance.now();
  return {
    skippedTicks: () => ticker.counters.skippedTicks,
    loopDelayP99Ms() {
      const p99 = delay.count > 0 ? delay.percentile(99) / 1e6 : 0;
      delay.reset();
      return p99;
    },
    threadCpuPct() {
      const ns = threadCpuNs();
      const now = performance.now();
      const pct = ns !== null && cpuNs !== null && now > at ? ((ns - cpuNs) / 1e6 / (now - at)) * 100 : null;
      cpuNs = ns;
      at = now;
      return pct;
    },
    close: () => delay.disable(),
  };
}

/** The main thread's time on CPU so far (ns): the first field of /proc/self/schedstat; null off Linux. */
function threadCpuNs(): number | null {
  try {
    const ns = Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns : null;
  } catch {
    return null;
  }
}

export interface OverloadCounters {
  windows: number;
  badWindows: number;
  /** Times admission was turned off. */
  overloads: number;
  /** Windows at whose end admission was off. */
  overloadedWindows: number;
  /** Calls refused while overloaded. */
  refused: number;
}

/** One window's reading, as logged and shown on /readyz. */
export interface LoadReading {
  readonly skippedTicks: number;
  readonly loopP99Ms: number;
  /** Null where the platform does not say. */
  readonly cpuPct: number | null;
}

/** A window's measures in words (the refusal's reason, /readyz). */
export function describeLoad(r: LoadReading): string {
  const cpu = r.cpuPct === null ? '' : `, main thread ${r.cpuPct.toFixed(0)} % of a core`;
  return `${r.skippedTicks} ticks skipped, event-loop delay p99 ${r.loopP99Ms.toFixed(1)} ms${cpu}`;
}

export class OverloadGuard {
  readonly counters: OverloadCounters = { windows: 0, badWindows: 0, overloads: 0, overloadedWindows: 0, refused: 0 };
  private readonly log: pino.Logger;
  private isOverloaded = false;
  private badRun = 0;
  private goodRun = 0;
  private skippedSeen = 0;
  private timer: TimerHandle | null = null;
  private last: LoadReading = { skippedTicks: 0, loopP99Ms: 0, cpuPct: null };

  constructor(
    private readonly clock: Clock,
    private readonly source: LoadSource,
    private readonly settings: OverloadSettings,
    log?: pino.Logger,
  ) {
    this.log = log ?? pino({ level: 'silent' });
  }

  get overloaded(): boolean {
    return this.isOverloaded;
  }

  /** The last window's measures. */
  get reading(): LoadReading {
    return this.last;
  }

  start(): void {
    if (!this.settings.enabled || this.timer) return;
    this.skippedSeen = this.source.skippedTicks();
    this.source.loopDelayP99Ms(); // start the first window now
    this.source.threadCpuPct();
    this.arm();
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  admit(): Admission {
    if (!this.isOverloaded) return { ok: true };
    this.counters.refused++;
    const r = this.last;
    return {
      ok: false,
      variable: DRAIN_VARIABLE,
      value: OVERLOAD_VALUE,
      status: 'OVER_LIMIT',
      reason: `media loop overloaded (last ${this.settings.windowMs} ms: ${describeLoad(r)})`,
    };
  }

  /** Judge the window just ended (the timer calls this; tests may too). */
  evaluate(): void {
    const skippedTotal = this.source.skippedTicks();
    const reading: LoadReading = {
      skippedTicks: skippedTotal - this.skippedSeen,
      loopP99Ms: this.source.loopDelayP99Ms(),
      cpuPct: this.source.threadCpuPct(),
    };
    this.skippedSeen = skippedTotal;
    this.last = reading;
    this.counters.windows++;
    const s = this.settings;
    const bad = reading.skippedTicks > 0 || reading.loopP99Ms > s.eventLoopP99Ms || (reading.cpuPct !== null && reading.cpuPct > s.cpuPct);
    if (bad) {
      this.counters.badWindows++;
      this.badRun++;
      this.goodRun = 0;
    } else {
      this.goodRun++;
      this.badRun = 0;
    }
    if (!this.isOverloaded && this.badRun >= s.enterWindows) {
      this.isOverloaded = true;
      this.counters.overloads++;
      this.log.warn({ ...reading, windows: this.badRun }, 'media loop overloaded: new calls are handed back to the dialplan until it recovers');
    } else if (this.isOverloaded && this.goodRun >= s.exitWindows) {
      this.isOverloaded = false;
      this.log.info({ ...reading, refused: this.counters.refused }, 'media loop recovered: admitting new calls again');
    }
    if (this.isOverloaded) this.counters.overloadedWindows++;
  }

  private arm(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.evaluate();
      this.arm();
    }, this.settings.windowMs);
  }
}
