/**
 * Time source for everything that paces or measures: the real one reads the monotonic clock,
 * tests inject a manual one so no unit test depends on wall-clock timing.
 */
export interface Clock {
  /** Monotonic milliseconds (fractional). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * Block until `at` (at most a few ms: the caller woke early on purpose). A timer wakes whenever
   * the event loop gets to it; this lands on the instant. Optional: a manual clock has no waiting.
   */
  waitUntil?(at: number): void;
}

/** Opaque: only the clock that made it can clear it. */
export interface TimerHandle {
  readonly __timer: unknown;
}

// Atomics.wait on a private cell nobody notifies: a sleep with a sub-millisecond timeout (futex).
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

export const systemClock: Clock = {
  now: () => performance.now(),
  waitUntil(at) {
    const ms = at - performance.now();
    if (ms > 0) Atomics.wait(sleepCell, 0, 0, Math.min(ms, 20));
  },
  setTimeout(fn, ms) {
    return { __timer: setTimeout(fn, ms) };
  },
  clearTimeout(handle) {
    clearTimeout(handle.__timer as NodeJS.Timeout);
  },
};

/** A clock that moves only when told to; timers fire in due order during advance(). */
export class ManualClock implements Clock {
  private t = 0;
  private nextId = 1;
  private timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { __timer: id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle.__timer as number);
  }

  /** Advance time by `ms`, firing due timers in order (timers set while firing are honoured). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let dueId = -1;
      let dueAt = Infinity;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && timer.at < dueAt) {
          dueAt = timer.at;
          dueId = id;
        }
      }
      if (dueId < 0) break;
      const timer = this.timers.get(dueId)!;
      this.timers.delete(dueId);
      this.t = Math.max(this.t, timer.at);
      timer.fn();
    }
    // A timer may have advanced the clock past `end` itself (a waitUntil inside it): never go back.
    this.t = Math.max(this.t, end);
  }

  pendingTimers(): number {
    return this.timers.size;
  }
}
