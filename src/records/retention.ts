/**
 * Retention: whole day folders older than N days are removed (JSON, WAV, journal), and the
 * index is told. The daemon runs it at start and then once a day on its Clock.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../media/clock.ts';
import { errorMessage } from '../errors.ts';
import type { CallIndex } from './call-index.ts';
import { DAY_FOLDER } from './paths.ts';

const DAY_MS = 24 * 3600 * 1000;

export interface RetentionResult {
  removedDays: string[];
  indexRows: number;
}

/** The first day (YYYY-MM-DD, UTC) that is kept. */
export function cutoffDay(now: Date, days: number): string {
  return new Date(now.getTime() - days * DAY_MS).toISOString().slice(0, 10);
}

/** Deletes day folders strictly older than `days` days before `now`. days <= 0 keeps everything. */
export async function applyRetention(opts: { dir: string; days: number; now?: Date; index?: CallIndex }): Promise<RetentionResult> {
  if (opts.days <= 0) return { removedDays: [], indexRows: 0 };
  const now = opts.now ?? new Date();
  const keepFrom = cutoffDay(now, opts.days);
  let names: string[] = [];
  try {
    names = await readdir(opts.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const removedDays: string[] = [];
  for (const day of names.filter((n) => DAY_FOLDER.test(n)).sort()) {
    if (day >= keepFrom) break;
    await rm(join(opts.dir, day), { recursive: true, force: true });
    removedDays.push(day);
  }
  const indexRows = opts.index ? await opts.index.deleteOlderThan(new Date(`${keepFrom}T00:00:00.000Z`)) : 0;
  return { removedDays, indexRows };
}

/** Runs retention now and every `everyMs` (a day). Returns stop(). Failures are logged, never thrown. */
export function scheduleRetention(opts: {
  dir: string;
  days: number;
  clock: Clock;
  index?: CallIndex;
  log?: Logger;
  everyMs?: number;
  now?: () => Date;
  onRun?: (r: RetentionResult) => void;
}): () => void {
  let handle: TimerHandle | null = null;
  let stopped = false;
  const run = () => {
    applyRetention({ dir: opts.dir, days: opts.days, index: opts.index, now: opts.now?.() })
      .then((r) => {
        if (r.removedDays.length) opts.log?.info({ removedDays: r.removedDays, indexRows: r.indexRows }, 'retention removed old call records');
        opts.onRun?.(r);
      })
      .catch((err: unknown) => opts.log?.error({ err: errorMessage(err) }, 'retention failed'))
      .finally(() => {
        if (!stopped) handle = opts.clock.setTimeout(run, opts.everyMs ?? DAY_MS);
      });
  };
  run();
  return () => {
    stopped = true;
    if (handle) opts.clock.clearTimeout(handle);
  };
}
