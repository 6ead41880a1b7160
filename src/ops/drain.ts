/**
 * Graceful shutdown. On SIGTERM: stop admitting calls (adapters ask `admit()` and hand refused
 * calls back to the dialplan with DRAIN_VARIABLE set), let active calls finish for drainSeconds,
 * end the rest with reason 'shutdown', wait for their records to be written, then exit 0.
 * Timing runs on the injected Clock, so tests drive it with ManualClock.
 */
import type { Logger } from 'pino';
import pino from 'pino';
import type { CallSession } from '../agent/call-port.ts';
import type { Clock } from '../media/clock.ts';
import { errorMessage } from '../errors.ts';

/** Channel variable set on a call refused while draining (dialplan can route on it). */
export const DRAIN_VARIABLE = 'AI_BRIDGE_REFUSED';
export const DRAIN_VALUE = 'draining';

/**
 * A refusal names the channel variable to set (AI_BRIDGE_REFUSED=draining|overloaded) and, for
 * Asterisk, the status variable's value.
 */
export type Admission = { ok: true } | { ok: false; variable: string; value: string; reason: string; status: 'SHUTDOWN' | 'OVER_LIMIT' };

/** What a PBX adapter needs to see. */
export interface DrainState {
  readonly draining: boolean;
  admit(): Admission;
}

export interface DrainOptions {
  drainSeconds: number;
  /** After ending the stragglers, how long they get to emit 'ended' (ms). */
  endGraceMs?: number;
  /** How long pending record writes may take before we give up on them (ms). */
  flushTimeoutMs?: number;
}

export interface DrainSummary {
  /** Calls that ended by themselves during the drain window. */
  finishedDuringDrain: number;
  /** Calls ended with reason 'shutdown'. */
  endedByShutdown: number;
  /** Calls that never emitted 'ended' even after being ended. */
  stuck: number;
  /** Record writes awaited / failed / still running at the deadline. */
  writes: { awaited: number; failed: number; timedOut: number };
}

export class CallDrainer implements DrainState {
  private isDraining = false;
  private readonly sessions = new Set<CallSession>();
  private readonly writes = new Set<Promise<unknown>>();
  private changed: (() => void) | null = null;
  private readonly log: Logger;

  constructor(
    private readonly clock: Clock,
    log?: Logger,
  ) {
    this.log = log ?? pino({ level: 'silent' });
  }

  get draining(): boolean {
    return this.isDraining;
  }

  get active(): number {
    return this.sessions.size;
  }

  admit(): Admission {
    if (!this.isDraining) return { ok: true };
    return { ok: false, variable: DRAIN_VARIABLE, value: DRAIN_VALUE, status: 'SHUTDOWN', reason: 'the AI bridge is shutting down' };
  }

  /** Follow a call until it emits 'ended'. */
  track(session: CallSession): void {
    this.sessions.add(session);
    const onEnded = () => {
      session.off('ended', onEnded);
      this.sessions.delete(session);
      this.changed?.();
    };
    session.on('ended', onEnded);
  }

  /** A record write (recorder.finish, index.put) that shutdown must wait for. */
  trackWrite<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.writes.add(p);
    void settled.then(() => this.writes.delete(p));
    return p;
  }

  async drain(opts: DrainOptions): Promise<DrainSummary> {
    this.isDraining = true;
    const atStart = this.sessions.size;
    this.log.info({ activeCalls: atStart, drainSeconds: opts.drainSeconds }, 'draining: no new calls accepted');
    await this.waitForNoCalls(opts.drainSeconds * 1000);
    const finishedDuringDrain = atStart - this.sessions.size;
    const stragglers = [...this.sessions];
    for (const s of stragglers) {
      try {
        s.end('shutdown', 'daemon stopping');
      } catch (err) {
        this.log.warn({ callId: s.id, err: errorMessage(err) }, 'ending a call for shutdown failed');
      }
    }
    if (stragglers.length) await this.waitForNoCalls(opts.endGraceMs ?? 5000);
    const stuck = this.sessions.size;
    // Record writes are queued from 'ended' listeners: give them a turn to be registered.
    await new Promise<void>((r) => setImmediate(r));
    const writes = await this.awaitWrites(opts.flushTimeoutMs ?? 15000);
    const summary: DrainSummary = { finishedDuringDrain, endedByShutdown: stragglers.length - stuck, stuck, writes };
    this.log.info(summary, 'drain complete');
    return summary;
  }

  private waitForNoCalls(ms: number): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(done, ms);
      const self = this;
      function done() {
        self.clock.clearTimeout(timer);
        self.changed = null;
        resolve();
      }
      this.changed = () => {
        if (this.sessions.size === 0) done();
      };
    });
  }

  private async awaitWrites(ms: number): Promise<DrainSummary['writes']> {
    const pending = [...this.writes];
    if (pending.length === 0) return { awaited: 0, failed: 0, timedOut: 0 };
    let failed = 0;
    let done = 0;
    const all = Promise.all(
      pending.map((p) =>
        p.then(
          () => void done++,
          (err: unknown) => {
            done++;
            failed++;
            this.log.error({ err: errorMessage(err) }, 'record write failed during shutdown');
          },
        ),
      ),
    );
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(resolve, ms);
      void all.then(() => {
        this.clock.clearTimeout(timer);
        resolve();
      });
    });
    return { awaited: pending.length, failed, timedOut: pending.length - done };
  }
}

export interface ShutdownHooks {
  drainer: CallDrainer;
  drainSeconds: number;
  /** Close listeners/ops server/index after the drain. */
  close?: () => Promise<void>;
  log?: Logger;
  exit?: (code: number) => void;
  /** The process (tests pass an EventEmitter). */
  proc?: Pick<NodeJS.Process, 'on'>;
}

/** SIGTERM/SIGINT -> drain -> close -> exit(0); a second SIGINT exits at once (1). Returns the drain promise getter. */
export function installShutdown(h: ShutdownHooks): { shutdown: (signal: string) => Promise<void> } {
  const proc = h.proc ?? process;
  const exit = h.exit ?? ((code: number) => process.exit(code));
  let running: Promise<void> | null = null;
  const shutdown = (signal: string): Promise<void> => {
    if (running) {
      if (signal === 'SIGINT') {
        h.log?.warn('second interrupt: exiting without finishing the drain');
        exit(1);
      }
      return running;
    }
    h.log?.info({ signal }, 'shutdown requested');
    running = h.drainer
      .drain({ drainSeconds: h.drainSeconds })
      .then(async (summary) => {
        await h.close?.();
        exit(summary.writes.failed === 0 && summary.writes.timedOut === 0 ? 0 : 1);
      })
      .catch((err: unknown) => {
        h.log?.error({ err: errorMessage(err) }, 'shutdown failed');
        exit(1);
      });
    return running;
  };
  proc.on('SIGTERM', () => void shutdown('SIGTERM'));
  proc.on('SIGINT', () => void shutdown('SIGINT'));
  return { shutdown };
}
