import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/media/clock.ts';
import { DRAIN_VARIABLE } from '../../src/ops/drain.ts';
import { mediaLoadSource, OVERLOAD_VALUE, OverloadGuard, type LoadSource, type OverloadSettings } from '../../src/ops/overload.ts';
import { opsSchema } from '../../src/config/ops.ts';

type Window = { skipped?: number; loopP99?: number; cpu?: number | null };

/** A scripted load: each window's skipped ticks, loop p99 and main-thread CPU, read in order. */
class ScriptedLoad implements LoadSource {
  private skipped = 0;
  private loop = 0;
  private cpu: number | null = 20;
  reads = 0;
  next(w: Window): void {
    this.skipped += w.skipped ?? 0;
    this.loop = w.loopP99 ?? 1;
    this.cpu = w.cpu === undefined ? 20 : w.cpu;
  }
  threadCpuPct(): number | null {
    return this.cpu;
  }
  skippedTicks(): number {
    return this.skipped;
  }
  loopDelayP99Ms(): number {
    this.reads++;
    return this.loop;
  }
}

const SETTINGS: OverloadSettings = { enabled: true, eventLoopP99Ms: 40, cpuPct: 85, windowMs: 1000, enterWindows: 2, exitWindows: 3 };

function rig(settings: Partial<OverloadSettings> = {}) {
  const clock = new ManualClock();
  const load = new ScriptedLoad();
  const guard = new OverloadGuard(clock, load, { ...SETTINGS, ...settings });
  guard.start();
  /** One window of the given load, then the guard's judgement. */
  const window = (w: Window) => {
    load.next(w);
    clock.advance(1000);
  };
  return { clock, load, guard, window };
}

describe('OverloadGuard', () => {
  it('admits while the loop keeps up, whatever the number of windows', () => {
    const { guard, window } = rig();
    for (let i = 0; i < 20; i++) window({ loopP99: 39.9, cpu: 85 });
    expect(guard.overloaded).toBe(false);
    expect(guard.admit()).toEqual({ ok: true });
    expect(guard.counters).toMatchObject({ windows: 20, badWindows: 0, overloads: 0, refused: 0 });
  });

  it('one bad window refuses nobody; enterWindows bad ones in a row start refusing, with the reason', () => {
    const { guard, window } = rig();
    window({ loopP99: 250 });
    window({ loopP99: 3 }); // a single stall (GC, steal) is forgiven
    window({ loopP99: 250 });
    expect(guard.overloaded).toBe(false);
    window({ skipped: 12, loopP99: 30 }); // skipped ticks are bad whatever the loop delay
    expect(guard.overloaded).toBe(true);
    const a = guard.admit();
    expect(a).toMatchObject({ ok: false, variable: DRAIN_VARIABLE, value: OVERLOAD_VALUE, status: 'OVER_LIMIT' });
    expect(a.ok === false && a.reason).toBe('media loop overloaded (last 1000 ms: 12 ticks skipped, event-loop delay p99 30.0 ms, main thread 20 % of a core)');
    expect(guard.counters).toMatchObject({ windows: 4, badWindows: 3, overloads: 1, overloadedWindows: 1, refused: 1 });
  });

  it('counts only the ticks skipped in the window, not the running total', () => {
    const { guard, window } = rig({ enterWindows: 1 });
    window({ skipped: 5 });
    expect(guard.overloaded).toBe(true);
    expect(guard.reading).toEqual({ skippedTicks: 5, loopP99Ms: 1, cpuPct: 20 });
    window({});
    expect(guard.reading).toEqual({ skippedTicks: 0, loopP99Ms: 1, cpuPct: 20 });
  });

  it('a main thread busier than cpuPct makes a bad window even while the loop delay is low; unknown CPU is not held against it', () => {
    const { guard, window } = rig();
    window({ cpu: 86 });
    window({ cpu: 91, loopP99: 8 });
    expect(guard.overloaded).toBe(true);
    const a = guard.admit();
    expect(a.ok === false && a.reason).toMatch(/event-loop delay p99 8\.0 ms, main thread 91 % of a core\)$/);
    const off = rig();
    for (let i = 0; i < 5; i++) off.window({ cpu: null });
    expect(off.guard.overloaded).toBe(false);
    expect(off.guard.reading.cpuPct).toBeNull();
  });

  it('recovers after exitWindows good windows in a row, not before; a bad one restarts the count', () => {
    const { guard, window } = rig();
    window({ loopP99: 100 });
    window({ loopP99: 100 });
    expect(guard.overloaded).toBe(true);
    window({});
    window({});
    window({ loopP99: 41 });
    window({});
    window({});
    expect(guard.overloaded).toBe(true);
    window({});
    expect(guard.overloaded).toBe(false);
    expect(guard.admit()).toEqual({ ok: true });
    expect(guard.counters.overloads).toBe(1);
    expect(guard.counters.overloadedWindows).toBe(6); // from the second bad window to the last before recovery
  });

  it('disabled: never runs, always admits', () => {
    const { guard, window, clock, load } = rig({ enabled: false });
    for (let i = 0; i < 5; i++) window({ skipped: 100, loopP99: 900 });
    expect(guard.overloaded).toBe(false);
    expect(guard.counters.windows).toBe(0);
    expect(load.reads).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('stop() leaves no timer behind', () => {
    const { guard, clock } = rig();
    expect(clock.pendingTimers()).toBe(1);
    guard.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('the daemon defaults: 1 s windows, 2 to refuse, 5 to recover, loop p99 over 40 ms or the main thread over 70 %', () => {
    expect(opsSchema.parse({}).overload).toEqual({ enabled: true, eventLoopP99Ms: 40, cpuPct: 70, windowMs: 1000, enterWindows: 2, exitWindows: 5 });
    expect(() => opsSchema.parse({ overload: { windowMs: 50 } })).toThrow(/windowMs/);
  });
});

describe('mediaLoadSource', () => {
  it('reads the ticker\'s skipped ticks and the event loop\'s delay over each window', async () => {
    const ticker = { counters: { skippedTicks: 7 } };
    const src = mediaLoadSource(ticker);
    try {
      expect(src.skippedTicks()).toBe(7);
      src.loopDelayP99Ms(); // start a window
      src.threadCpuPct();
      // perf_hooks skips the first interval after a reset: let it tick before blocking
      await new Promise((r) => setTimeout(r, 20));
      const until = performance.now() + 120;
      while (performance.now() < until); // block the loop
      await new Promise((r) => setTimeout(r, 20));
      expect(src.loopDelayP99Ms()).toBeGreaterThan(60);
      // the main thread spun for 120 ms of the ~160 ms since the last read (less if the box took the
      // CPU away meanwhile: the bound leaves room for that)
      if (process.platform === 'linux') expect(src.threadCpuPct()).toBeGreaterThan(25);
      // the read reset the histogram: the next window starts empty
      expect(src.loopDelayP99Ms()).toBeLessThan(60);
    } finally {
      src.close();
    }
  });
});
