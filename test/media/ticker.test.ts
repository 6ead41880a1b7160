import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock, type Clock, type TimerHandle } from '../../src/media/clock.ts';
import { Ticker } from '../../src/media/ticker.ts';

/** A ManualClock whose timers fire `lateMs` after they were due (a busy event loop). */
class LateClock implements Clock {
  constructor(
    readonly inner: ManualClock,
    readonly lateMs: number,
  ) {}
  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.inner.setTimeout(fn, ms + this.lateMs);
  }
  clearTimeout(h: TimerHandle): void {
    this.inner.clearTimeout(h);
  }
}

describe('Ticker', () => {
  it('ticks every 20 ms with nominal times and uses a single timer for all subscribers', () => {
    const clock = new ManualClock(1000);
    const t = new Ticker(clock);
    const a: [number, number][] = [];
    const b: number[] = [];
    t.add((n, now) => a.push([n, now]));
    t.add((n) => b.push(n));
    t.start();
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(100);
    expect(a).toEqual([
      [1, 1020],
      [2, 1040],
      [3, 1060],
      [4, 1080],
      [5, 1100],
    ]);
    expect(b).toEqual([1, 2, 3, 4, 5]);
    expect(clock.pendingTimers()).toBe(1);
    t.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('1000 subscribers still mean one timer', () => {
    const clock = new ManualClock();
    const t = new Ticker(clock);
    let calls = 0;
    for (let i = 0; i < 1000; i++) t.add(() => calls++);
    t.start();
    clock.advance(40);
    expect(calls).toBe(2000);
    expect(clock.pendingTimers()).toBe(1);
  });

  it('timers that always fire 3 ms late cause no drift: tick count matches elapsed time', () => {
    const clock = new ManualClock();
    const t = new Ticker(new LateClock(clock, 3));
    const times: number[] = [];
    t.add((_n, now) => times.push(now));
    t.start();
    clock.advance(20 * 500 + 3);
    expect(times).toHaveLength(500);
    expect(times[499]).toBe(20 * 500);
    expect(t.counters.lateTicks).toBe(0);
  });

  it('after a stall it runs the missed ticks (counted late), bounded by maxCatchUpTicks', () => {
    const clock = new ManualClock();
    // Every timer fires 95 ms late: each wake-up finds ~5 ticks due.
    const t = new Ticker(new LateClock(clock, 95));
    const ticks: number[] = [];
    t.add((n) => ticks.push(n));
    t.start();
    clock.advance(115);
    expect(ticks).toEqual([1, 2, 3, 4, 5]);
    expect(t.counters.lateTicks).toBe(4);

    const clock2 = new ManualClock();
    const t2 = new Ticker(new LateClock(clock2, 1000), { maxCatchUpTicks: 10 });
    const ticks2: number[] = [];
    t2.add((n) => ticks2.push(n));
    t2.start();
    clock2.advance(1020);
    expect(ticks2).toEqual([42, 43, 44, 45, 46, 47, 48, 49, 50, 51]);
    expect(t2.counters.skippedTicks).toBe(41);
  });

  it('a throwing subscriber does not stop the others', () => {
    const clock = new ManualClock();
    const t = new Ticker(clock);
    let good = 0;
    t.add(() => {
      throw new Error('boom');
    });
    t.add(() => good++);
    t.start();
    clock.advance(60);
    expect(good).toBe(3);
    expect(t.counters.errors).toBe(3);
  });

  it('unsubscribe (also from inside a tick) takes effect from the next tick', () => {
    const clock = new ManualClock();
    const t = new Ticker(clock);
    const seen: string[] = [];
    let offB: () => void = () => {};
    const offA = t.add((n) => {
      seen.push(`a${n}`);
      if (n === 1) offB();
    });
    offB = t.add((n) => seen.push(`b${n}`));
    t.start();
    clock.advance(40);
    offA();
    offA();
    clock.advance(20);
    expect(seen).toEqual(['a1', 'b1', 'a2']);
    expect(t.size).toBe(0);
  });

  it('stop() inside a tick stops at once; start() again restarts from a fresh base', () => {
    const clock = new ManualClock();
    const t = new Ticker(clock);
    const ticks: number[] = [];
    t.add((n) => {
      ticks.push(n);
      if (n === 2) t.stop();
    });
    t.start();
    clock.advance(100);
    expect(ticks).toEqual([1, 2]);
    expect(clock.pendingTimers()).toBe(0);
    t.start();
    clock.advance(20);
    expect(ticks).toEqual([1, 2, 1]);
  });

  it('outbound phase: same tick, after every promise job the inbound phase started (chains included)', async () => {
    const clock = new ManualClock(0);
    const t = new Ticker(clock);
    const log: string[] = [];
    t.add((n) => {
      log.push(`in${n}`);
      // a zero-latency brain + TTS: a chain of promise jobs started by the inbound frame
      void (async () => {
        for (let k = 0; k < 20; k++) await Promise.resolve();
        log.push(`ready${n}`);
      })();
    });
    t.add((n) => log.push(`out${n}`), 'outbound');
    expect(t.size).toBe(2);
    t.start();
    clock.advance(20);
    expect(log).toEqual(['in1']); // nothing outbound before the promise jobs ran
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['in1', 'ready1', 'out1']);
  });

  it('send phase: at the tick instant, before every inbound subscriber, whatever the order they were added in', async () => {
    const clock = new ManualClock(0);
    const t = new Ticker(clock, { slots: 2 });
    const log: string[] = [];
    for (const k of [0, 1]) {
      t.add((n) => log.push(`in${k}:${n}`), 'inbound', k);
      t.add((n) => log.push(`out${k}:${n}`), 'outbound', k);
      t.add((n, nominal) => log.push(`send${k}:${n}@${nominal}`), 'send', k);
      t.add((n) => log.push(`in${k}b:${n}`), 'inbound', k);
    }
    expect(t.size).toBe(8);
    t.start();
    const pending: string[] = [];
    for (let i = 0; i < 2; i++) {
      clock.advance(10);
      pending.push(`${t.outboundPending(0)},${t.outboundPending(1)}`); // before the promise jobs
      await new Promise((r) => setImmediate(r));
      pending.push(`${t.outboundPending(0)},${t.outboundPending(1)}`); // after the outbound phase
    }
    expect(log).toEqual(['send1:0@10', 'in1:0', 'in1b:0', 'out1:0', 'send0:1@20', 'in0:1', 'in0b:1', 'out0:1']);
    expect(pending).toEqual(['false,true', 'false,false', 'true,false', 'false,false']);
  });

  it('outbound phase after a stall: every missed tick gets its outbound turn, in order; stop() drops pending ones', async () => {
    const inner = new ManualClock(0);
    const t = new Ticker(new LateClock(inner, 40)); // every timer wakes 40 ms late
    const log: string[] = [];
    t.add((n) => log.push(`in${n}`));
    t.add((n, now) => log.push(`out${n}@${now}`), 'outbound');
    t.add((n) => log.push(`send${n}`), 'send');
    t.start();
    inner.advance(60);
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['send1', 'in1', 'send2', 'in2', 'send3', 'in3', 'out1@20', 'out2@40', 'out3@60']);
    log.length = 0;
    inner.advance(60);
    t.stop();
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['send4', 'in4', 'send5', 'in5', 'send6', 'in6']);
  });

  it('leadMs: the timer is set early and the tick waits out the rest, then runs at the nominal time', () => {
    class WaitingClock extends ManualClock {
      readonly waits: number[] = [];
      waitUntil(at: number): void {
        this.waits.push(at);
        if (at > this.now()) this.advance(at - this.now());
      }
    }
    const clock = new WaitingClock(0);
    const t = new Ticker(clock, { leadMs: 3 });
    const ticks: Array<[number, number]> = [];
    t.add((n, nominal) => ticks.push([n, clock.now() - nominal]));
    t.start();
    clock.advance(16);
    expect(ticks).toEqual([]);
    clock.advance(1); // 17 = 20 - lead: the timer fires, waits until 20, ticks on time
    expect(clock.waits).toEqual([20]);
    expect(ticks).toEqual([[1, 0]]);
    clock.advance(20);
    expect(clock.waits).toEqual([20, 40]);
    expect(ticks).toEqual([[1, 0], [2, 0]]);
    // a clock without waitUntil (a plain ManualClock) ignores the lead
    const plain = new ManualClock(0);
    const p = new Ticker(plain, { leadMs: 3 });
    let n = 0;
    p.add(() => n++);
    p.start();
    plain.advance(17);
    expect(n).toBe(0);
    plain.advance(3);
    expect(n).toBe(1);
  });

  it('leadMs: the send phase builds ahead, its deferred packets go out at the instant, before the inbound phase', () => {
    class WaitingClock extends ManualClock {
      /** The next timer fires this much late (a stall). */
      late = 0;
      waitUntil(at: number): void {
        log.push(`wait@${this.now()}`);
        if (at > this.now()) this.advance(at - this.now());
      }
      override setTimeout(fn: () => void, ms: number): TimerHandle {
        const extra = this.late;
        this.late = 0;
        return super.setTimeout(fn, ms + extra);
      }
    }
    const log: string[] = [];
    const clock = new WaitingClock(0);
    const t = new Ticker(clock, { leadMs: 3 });
    const packet = { flushSend: () => log.push(`flush@${clock.now()}`) };
    t.add((n) => {
      log.push(`send${n}@${clock.now()} deferring=${t.deferring}`);
      t.defer(packet);
    }, 'send');
    t.add((n) => {
      log.push(`in${n}@${clock.now()} deferring=${t.deferring}`);
      if (n === 1) clock.late = 40; // tick 2's timer, set after this tick, fires 40 ms late: a stall
    });
    // Outside a send phase that runs ahead, defer() sends at once.
    t.defer(packet);
    expect(log).toEqual(['flush@0']);
    log.length = 0;
    t.start();
    clock.advance(17);
    expect(log).toEqual(['send1@17 deferring=true', 'wait@17', 'flush@20', 'in1@20 deferring=false']);
    log.length = 0;
    // After a stall: each missed tick builds and sends at once (its instant is past), in order.
    clock.advance(60);
    expect(log).toEqual([
      'send2@77 deferring=true', 'wait@77', 'flush@77', 'in2@77 deferring=false',
      'send3@77 deferring=true', 'wait@77', 'flush@77', 'in3@77 deferring=false',
      'send4@77 deferring=true', 'wait@77', 'flush@80', 'in4@80 deferring=false',
    ]);
    log.length = 0;
    // stop() from inside a send phase still sends what that phase built.
    t.add(() => t.stop(), 'send');
    clock.advance(17);
    expect(log).toEqual(['send5@97 deferring=true', 'flush@97', 'wait@97', 'in5@100 deferring=false']);
    // A clock without waitUntil has no lead: packets go out as they are built.
    const plain = new ManualClock(0);
    const p = new Ticker(plain, { leadMs: 3 });
    const seen: boolean[] = [];
    p.add(() => seen.push(p.deferring), 'send');
    p.start();
    plain.advance(20);
    expect(seen).toEqual([false]);
  });

  it('a deferred send that throws is counted; the other calls\' held packets still go out at the instant', () => {
    class WaitingClock extends ManualClock {
      waitUntil(at: number): void {
        if (at > this.now()) this.advance(at - this.now());
      }
    }
    const clock = new WaitingClock(0);
    const t = new Ticker(clock, { leadMs: 3 });
    const sent: string[] = [];
    const broken = { flushSend: (): void => { throw new Error('socket gone'); } };
    const a = { flushSend: () => sent.push(`a@${clock.now()}`) };
    const b = { flushSend: () => sent.push(`b@${clock.now()}`) };
    t.add(() => { t.defer(a); t.defer(broken); t.defer(b); }, 'send');
    t.start();
    clock.advance(40);
    expect(sent).toEqual(['a@20', 'b@20', 'a@40', 'b@40']);
    expect(t.counters.errors).toBe(2);
    expect(t.counters.ticks).toBe(2);
  });

  it('slots: each subscriber runs once a period at its own slot; one timer; outbound at the same sub-tick after the promise jobs', async () => {
    const clock = new ManualClock(1000);
    const t = new Ticker(clock, { slots: 4 });
    expect([t.nextSlot(), t.nextSlot(), t.nextSlot(), t.nextSlot(), t.nextSlot()]).toEqual([0, 1, 2, 3, 0]);
    const log: string[] = [];
    for (const k of [0, 1, 3]) {
      t.add((n, nominal) => {
        log.push(`in${k}:${n}@${nominal}`);
        void Promise.resolve().then(() => log.push(`ready${k}`));
      }, 'inbound', k);
      t.add((n, nominal) => log.push(`out${k}:${n}@${nominal}`), 'outbound', k);
    }
    t.add(() => log.push('in5->1'), 'inbound', 5); // modulo slots: slot 1
    expect(t.size).toBe(7);
    t.start();
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(5);
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['in1:0@1005', 'in5->1', 'ready1', 'out1:0@1005']);
    log.length = 0;
    clock.advance(15); // slots 2 (nobody), 3, then 0 at the period boundary
    await new Promise((r) => setImmediate(r));
    expect(log.filter((l) => l.startsWith('in'))).toEqual(['in3:0@1015', 'in0:1@1020']);
    expect(log.filter((l) => l.startsWith('out'))).toEqual(['out3:0@1015', 'out0:1@1020']);
    log.length = 0;
    clock.advance(20);
    await new Promise((r) => setImmediate(r));
    // one period later each subscriber has run exactly once more, 20 ms after its last run
    expect(log.filter((l) => l.startsWith('in') && l.includes('@'))).toEqual(['in1:1@1025', 'in3:1@1035', 'in0:2@1040']);
    expect(t.counters.ticks).toBe(2); // periods, not sub-ticks
    expect(clock.pendingTimers()).toBe(1);
  });

  it('slots: a stall runs the missed sub-ticks in order, bounded by maxCatchUpTicks periods', () => {
    const inner = new ManualClock(0);
    const t = new Ticker(new LateClock(inner, 100), { slots: 2, maxCatchUpTicks: 2 }); // sub-ticks every 10 ms
    const seen: string[] = [];
    t.add((n, nominal) => seen.push(`a${n}@${nominal}`), 'inbound', 0);
    t.add((n, nominal) => seen.push(`b${n}@${nominal}`), 'inbound', 1);
    t.start();
    inner.advance(110); // the first timer (due at 10) fires at 110: 11 sub-ticks due, the last 2 periods run
    expect(seen).toEqual(['a4@80', 'b4@90', 'a5@100', 'b5@110']);
    expect(t.counters.skippedTicks).toBe(4);
    t.stop();
  });

  it('systemClock.waitUntil does not return before the instant asked for', () => {
    for (const ms of [0.3, 1, 2.5]) {
      const at = performance.now() + ms;
      systemClock.waitUntil!(at);
      expect(performance.now()).toBeGreaterThanOrEqual(at - 0.01);
    }
  });
});
