/**
 * The one 20 ms heartbeat every call's media runs on. A thousand calls share one timer: each tick
 * calls every subscriber in turn. Tick n is due at start + n * 20 ms, computed from the monotonic
 * start time, so timer lateness never accumulates into drift (setInterval's failure mode). When
 * the event loop stalls, the missed ticks run back to back on wake-up (bounded: beyond
 * maxCatchUpTicks the oldest are skipped, since audio that late is useless), so each call still
 * sends and plays the right number of frames.
 *
 * Three phases per tick. 'send' subscribers run first: a packet already known (the next frame of
 * a reply being spoken) is built then and put on the wire at the tick instant, before any of this
 * tick's work, so how long that work takes never moves it. With a lead (`leadMs`) the send phase
 * runs while the lead lasts, ahead of the instant, and the packets it built are held (`defer`) and
 * sent in one burst at the instant: the burst is a run of bare socket calls, so a call's packet
 * leaves at the same offset into every tick, however long the building took. 'inbound'
 * subscribers run next, at the instant; 'outbound' subscribers run in the same macrotask, after
 * every promise job the inbound phase started has run (a nextTick queued from a microtask runs
 * once V8 has drained the microtask queue). A turn that ends on this tick's inbound frame starts
 * its reply in promise jobs (brain, TTS); with cached or zero-latency providers the first reply
 * frame is ready for this tick's outbound phase, not the next tick's, 20 ms later.
 *
 * With `slots` > 1 the period is cut into that many sub-ticks, each running only its own
 * subscribers (every phase): the same work in smaller pieces, with socket reads in between.
 */
import pino from 'pino';
import { FRAME_MS } from './audio-frame.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';

/**
 * `tick` counts periods from 1 (a slot after slot 0 first runs in period 0); `nowMs` is the
 * (sub-)tick's nominal (drift-free) time on the clock, not the wake-up time.
 */
export type TickFn = (tick: number, nowMs: number) => void;

export type TickPhase = 'send' | 'inbound' | 'outbound';

/** A packet built in a send phase ahead of its instant, held until the Ticker's burst (see Ticker.defer). */
export interface DeferredSend {
  flushSend(): void;
}

/**
 * The sockets' side of the ticks (BatchedUdp): read as each sub-tick wakes, before its send
 * phase, so the send phase sees the caller's latest frames; the packets of a burst leave in one call.
 */
export interface TickIo {
  poll(): void;
  beginBurst(): void;
  endBurst(): void;
}

export interface TickerOptions {
  readonly periodMs?: number;
  /**
   * Missed ticks run on wake-up up to this many; older ones are skipped (counted). Keep it below
   * the Pacer's packet ring (16): that many packets may be in flight within one event-loop turn.
   */
  readonly maxCatchUpTicks?: number;
  /**
   * Wake this many ms before each tick: the send phase builds the tick's packets meanwhile, then
   * the rest is waited out precisely (Clock.waitUntil) and the packets leave in one burst at the
   * instant. A timer fires only when the event loop gets to it, so datagrams being read at the due
   * instant would otherwise delay every call's send by that long. 0 = plain timer, packets sent as
   * they are built. The wait blocks the loop for at most this long per tick; the kernel holds
   * datagrams that arrive meanwhile.
   */
  readonly leadMs?: number;
  /**
   * Spread the period's work over this many evenly spaced sub-ticks ("slots"): a subscriber runs
   * once a period, at its own slot. With many calls one tick is many milliseconds of work in one
   * piece, during which no datagram is read; in slots the loop reads between the pieces. 1 = one
   * tick per period.
   */
  readonly slots?: number;
  /** Socket reads and batched sends driven by the ticks (see TickIo); none: sockets read themselves. */
  readonly io?: TickIo | null;
  readonly logger?: pino.Logger;
}

export interface TickerCounters {
  ticks: number;
  /** Ticks that ran a whole period or more after their deadline (catch-up after a stall). */
  lateTicks: number;
  /** Ticks dropped because the stall exceeded maxCatchUpTicks. */
  skippedTicks: number;
  /** Subscriber exceptions (caught; the other subscribers still ran). */
  errors: number;
}

export class Ticker {
  readonly periodMs: number;
  readonly counters: TickerCounters = { ticks: 0, lateTicks: 0, skippedTicks: 0, errors: 0 };
  /** The clock ticks are scheduled on; media code stamping arrivals must read the same one. */
  readonly clock: Clock;
  readonly io: TickIo | null;
  private readonly maxCatchUp: number;
  private readonly leadMs: number;
  private readonly log: pino.Logger;
  readonly slots: number;
  private readonly slotMs: number;
  // One list per slot. Copy-on-write: add/remove (call set-up/tear-down) replace the array, so a
  // tick iterates a stable snapshot even when a subscriber unsubscribes itself or another one mid-tick.
  private readonly sendSubscribers: Array<readonly TickFn[]>;
  private readonly subscribers: Array<readonly TickFn[]>;
  private readonly outSubscribers: Array<readonly TickFn[]>;
  /** Sub-ticks whose outbound phase is due once the promise jobs have run: [tick, slot, nominal, ...]. */
  private pendingOut: number[] = [];
  /** Packets the current send phase built ahead of its instant. */
  private readonly held: DeferredSend[] = [];
  private holding = false;
  private nextSlotIndex = 0;
  private outScheduled = false;
  private startMs = 0;
  private tickNo = 0;
  private timer: TimerHandle | null = null;
  private running = false;
  private readonly onTimer = (): void => this.run();

  constructor(clock: Clock = systemClock, opts: TickerOptions = {}) {
    this.clock = clock;
    this.periodMs = opts.periodMs ?? FRAME_MS;
    this.slots = Math.max(1, Math.floor(opts.slots ?? 1));
    this.slotMs = this.periodMs / this.slots;
    this.sendSubscribers = Array.from({ length: this.slots }, () => []);
    this.subscribers = Array.from({ length: this.slots }, () => []);
    this.outSubscribers = Array.from({ length: this.slots }, () => []);
    this.maxCatchUp = Math.max(1, opts.maxCatchUpTicks ?? 10) * this.slots;
    // Each sub-tick wakes early by its share of the lead (and blocks the loop for what its send phase
    // leaves of it): split, so the time held per period stays the same whatever the slots.
    this.leadMs = clock.waitUntil ? Math.max(0, Math.min((opts.leadMs ?? 0) / this.slots, this.slotMs / 2)) : 0;
    this.io = opts.io ?? null;
    this.log = opts.logger ?? pino({ level: 'silent' });
  }

  /** Subscribers of all phases. */
  get size(): number {
    let n = 0;
    for (let k = 0; k < this.slots; k++) n += this.sendSubscribers[k].length + this.subscribers[k].length + this.outSubscribers[k].length;
    return n;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * A sub-tick of `slot` has run its send and inbound phases and its outbound phase is still to
   * come (waiting for the promise jobs they started).
   */
  outboundPending(slot = 0): boolean {
    const due = this.pendingOut;
    for (let i = 1; i < due.length; i += 3) if (due[i] === slot) return true;
    return false;
  }

  /**
   * True while a send phase runs ahead of its instant: a subscriber holds the packet it built and
   * calls defer(), and the Ticker has it sent at the instant.
   */
  get deferring(): boolean {
    return this.holding;
  }

  /** Have `d.flushSend()` called at this tick's instant (at once outside a send phase that runs ahead). */
  defer(d: DeferredSend): void {
    if (this.holding) this.held.push(d);
    else d.flushSend();
  }

  /** A slot for a new call: round-robin, so the calls spread evenly over the period. */
  nextSlot(): number {
    const k = this.nextSlotIndex;
    this.nextSlotIndex = (k + 1) % this.slots;
    return k;
  }

  /**
   * Subscribe to a phase (inbound by default) at a slot (0 by default; taken modulo `slots`);
   * returns the unsubscribe function (idempotent).
   */
  add(fn: TickFn, phase: TickPhase = 'inbound', slot = 0): () => void {
    const lists = phase === 'inbound' ? this.subscribers : phase === 'send' ? this.sendSubscribers : this.outSubscribers;
    const k = ((Math.floor(slot) % this.slots) + this.slots) % this.slots;
    lists[k] = [...lists[k], fn];
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const list = lists[k];
      const i = list.indexOf(fn);
      if (i >= 0) lists[k] = [...list.slice(0, i), ...list.slice(i + 1)];
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.startMs = this.clock.now();
    this.tickNo = 0;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.pendingOut = [];
    this.flushHeld();
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    const due = this.startMs + (this.tickNo + 1) * this.slotMs;
    this.timer = this.clock.setTimeout(this.onTimer, Math.max(0, due - this.leadMs - this.clock.now()));
  }

  // tickNo counts sub-ticks: sub-tick j is due at start + j * slotMs, runs slot j % slots, and
  // belongs to tick floor(j / slots) (with one slot: tick j, due at start + j * periodMs).
  private run(): void {
    this.timer = null;
    if (!this.running) return;
    const now = this.clock.now();
    // A (sub-)tick due within the lead is run now: its send phase ahead of the instant, the rest at it.
    // (The epsilon: a timer that fires exactly at due - lead must not round down to the tick before.)
    const dueTicks = Math.floor((now + this.leadMs - this.startMs) / this.slotMs + 1e-9);
    if (dueTicks - this.tickNo > this.maxCatchUp) {
      const skip = dueTicks - this.tickNo - this.maxCatchUp;
      const periods = Math.ceil(skip / this.slots);
      this.counters.skippedTicks += periods;
      this.tickNo += skip;
      this.log.warn({ skipped: periods }, 'event loop stalled: skipped media ticks');
    }
    while (this.tickNo < dueTicks && this.running) {
      const j = ++this.tickNo;
      const slot = j % this.slots;
      const n = Math.floor(j / this.slots);
      const nominal = this.startMs + j * this.slotMs;
      if (slot === 0) {
        this.counters.ticks++;
        if (now - nominal >= this.periodMs) this.counters.lateTicks++;
      }
      this.poll();
      this.holding = this.leadMs > 0;
      this.fire(this.sendSubscribers[slot], n, nominal);
      this.holding = false;
      if (this.leadMs > 0) this.clock.waitUntil?.(nominal);
      this.flushHeld();
      this.fire(this.subscribers[slot], n, nominal);
      if (this.outSubscribers[slot].length > 0) this.pendingOut.push(n, slot, nominal);
    }
    if (this.pendingOut.length > 0 && !this.outScheduled) {
      this.outScheduled = true;
      queueMicrotask(this.afterPromiseJobs);
    }
    if (this.running) this.schedule();
  }

  private readonly afterPromiseJobs = (): void => {
    process.nextTick(this.runOutbound);
  };

  private readonly runOutbound = (): void => {
    this.outScheduled = false;
    const due = this.pendingOut;
    this.pendingOut = [];
    for (let i = 0; i < due.length && this.running; i += 3) this.fire(this.outSubscribers[due[i + 1]], due[i], due[i + 2]);
  };

  private poll(): void {
    if (this.io === null) return;
    try {
      this.io.poll();
    } catch (err) {
      this.threw(err, 'ticker socket poll threw');
    }
  }

  private flushHeld(): void {
    this.io?.beginBurst();
    const held = this.held;
    for (let i = 0; i < held.length; i++) {
      try {
        held[i].flushSend();
      } catch (err) {
        this.threw(err, 'ticker deferred send threw');
      }
    }
    held.length = 0;
    try {
      this.io?.endBurst();
    } catch (err) {
      this.threw(err, 'ticker burst send threw');
    }
  }

  private fire(subs: readonly TickFn[], n: number, nominal: number): void {
    for (let i = 0; i < subs.length; i++) {
      try {
        subs[i](n, nominal);
      } catch (err) {
        this.threw(err, 'ticker subscriber threw');
      }
    }
  }

  /** Count it; log the first and then rarely: a broken subscriber throws 50 times a second. */
  private threw(err: unknown, msg: string): void {
    if (this.counters.errors++ % 1000 === 0) this.log.error({ err, errors: this.counters.errors }, msg);
  }
}
