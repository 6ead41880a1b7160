/**
 * Sends queued Non-Agent API requests in order. Each request is journalled (DurableQueue) before the
 * first attempt; a transport failure retries with capped exponential back-off and the queue waits
 * (order kept: a disposition must not overtake the callback that preceded it); an auth failure waits
 * too (an admin fixes the user, nothing is lost) and is logged as an error; a definite ERROR reply
 * (e.g. NO MATCHES FOUND) is final: logged and dropped.
 */
import pino from 'pino';
import { systemClock, type Clock, type TimerHandle } from '../media/clock.ts';
import { errorMessage, isBridgeError } from '../errors.ts';
import { DurableQueue, type QueuedRequest } from './durable-queue.ts';
import { apiError, type NonAgentApiClient } from './non-agent-api.ts';
import { describeReply } from './api-reply.ts';

export interface OutboxOptions {
  readonly attempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

export interface OutboxStats {
  sent: number;
  rejected: number;
  retries: number;
  authFailures: number;
}

export class VicidialOutbox {
  private running = false;
  private timer: TimerHandle | null = null;
  private delayMs: number;
  private closed = false;
  private again = false;
  private idleWaiters: Array<() => void> = [];
  readonly stats: OutboxStats = { sent: 0, rejected: 0, retries: 0, authFailures: 0 };
  private readonly log: pino.Logger;

  constructor(
    private readonly api: NonAgentApiClient,
    private readonly queue: DurableQueue,
    private readonly opts: OutboxOptions,
    logger?: pino.Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.log = logger ?? pino({ level: 'silent' });
    this.delayMs = opts.baseMs;
  }

  /** Journal the request, then try to send it (and anything queued before it). */
  enqueue(fn: string, params: Record<string, string | number | undefined>, purpose: string): QueuedRequest {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) if (v !== undefined) clean[k] = String(v);
    const req = this.queue.add(fn, clean, purpose);
    this.kick();
    return req;
  }

  /** Send what a previous run left in the queue. */
  start(): void {
    if (this.queue.size > 0) this.log.info({ pending: this.queue.size }, 'sending queued vicidial requests');
    this.kick();
  }

  get pending(): number {
    return this.queue.size;
  }

  /** Resolves when the queue is empty or waiting on a back-off (for shutdown and tests). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Retry now instead of waiting out the back-off. */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      // The running drain may be past its last look at the queue: make it look again.
      this.again = true;
      return;
    }
    if (this.timer) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    this.running = true;
    this.again = false;
    void this.drain().finally(() => {
      this.running = false;
      if (this.again && !this.timer && !this.closed) {
        this.kick();
        return;
      }
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    });
  }

  private async drain(): Promise<void> {
    while (!this.closed) {
      const req = this.queue.list()[0];
      if (!req) {
        this.delayMs = this.opts.baseMs;
        return;
      }
      this.again = false;
      const outcome = await this.sendWithAttempts(req);
      if (outcome === 'wait') {
        this.again = false;
        this.schedule();
        return;
      }
    }
  }

  private async sendWithAttempts(req: QueuedRequest): Promise<'done' | 'wait'> {
    for (let attempt = 1; attempt <= this.opts.attempts && !this.closed; attempt++) {
      try {
        const reply = await this.api.raw(req.fn, req.params);
        if (reply.kind === 'error') {
          if (reply.authFailure) {
            this.stats.authFailures++;
            this.log.error({ fn: req.fn, purpose: req.purpose, pending: this.queue.size, err: apiError(req.fn, reply, []).message }, 'vicidial refused the API user; request kept in the queue');
            return 'wait';
          }
          if (/ALREADY EXISTS/.test(reply.lines.find((l) => l.kind === 'error')?.message ?? '')) {
            this.queue.done(req.id, 'already');
            this.stats.sent++;
            return 'done';
          }
          this.stats.rejected++;
          this.log.warn({ fn: req.fn, purpose: req.purpose, reply: describeReply(reply, []) }, 'vicidial rejected request; dropped');
          this.queue.done(req.id, 'rejected');
          return 'done';
        }
        this.queue.done(req.id, reply.kind);
        this.stats.sent++;
        this.delayMs = this.opts.baseMs;
        return 'done';
      } catch (err) {
        if (isBridgeError(err, 'VICIDIAL_AUTH')) {
          this.stats.authFailures++;
          this.log.error({ fn: req.fn, err: err.message }, 'vicidial refused the request; kept in the queue');
          return 'wait';
        }
        this.stats.retries++;
        this.log.warn({ fn: req.fn, purpose: req.purpose, attempt, err: errorMessage(err) }, 'vicidial request failed');
        if (attempt < this.opts.attempts) await this.sleep(Math.min(this.opts.baseMs * 2 ** (attempt - 1), this.opts.maxMs));
      }
    }
    return 'wait';
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const h = this.clock.setTimeout(resolve, ms);
      void h;
    });
  }

  private schedule(): void {
    if (this.closed) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.opts.maxMs);
    this.log.info({ pending: this.queue.size, retryInMs: delay }, 'vicidial queue waiting');
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.kick();
    }, delay);
  }

  close(): void {
    this.closed = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.queue.close();
  }
}
