/**
 * Start-up recovery: a call whose journal exists without a final JSON was cut off by a crash or a
 * kill. Its record is rebuilt from the journal, closed with endReason 'error' (detail 'crashed'),
 * its WAV header repaired, and the journal retired. Run once before taking calls.
 */
import { readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CallRecord } from '../agent/call-record.ts';
import { errorMessage } from '../errors.ts';
import { foldEvents } from './events.ts';
import { DAY_FOLDER } from './paths.ts';
import { repairWav } from './wav.ts';

export const CRASH_DETAIL = 'crashed: the daemon stopped before the call ended';

export interface RecoveredCall {
  record: CallRecord;
  jsonPath: string;
  wavPath?: string;
  wavRepaired: boolean;
}

export interface RecoveryResult {
  recovered: RecoveredCall[];
  /** Journals that could not be read (no start line): left in place, named here. */
  unreadable: string[];
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** `recentDays`: only the newest day folders are scanned (a crash leaves its journal near "now"). */
export async function recoverUnfinished(opts: { dir: string; log?: Logger; recentDays?: number }): Promise<RecoveryResult> {
  const out: RecoveryResult = { recovered: [], unreadable: [] };
  let days: string[];
  try {
    days = (await readdir(opts.dir)).filter((n) => DAY_FOLDER.test(n)).sort().reverse();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  if (opts.recentDays !== undefined) days = days.slice(0, opts.recentDays);
  for (const day of days) {
    const folder = join(opts.dir, day);
    for (const name of await readdir(folder)) {
      if (!name.endsWith('.events.jsonl')) continue;
      const id = name.slice(0, -'.events.jsonl'.length);
      const journal = join(folder, name);
      const jsonPath = join(folder, `${id}.json`);
      const wavPath = join(folder, `${id}.wav`);
      try {
        const hasWav = await exists(wavPath);
        const wavRepaired = hasWav ? (await repairWav(wavPath)).repaired : false;
        if (await exists(jsonPath)) {
          // Killed between writing the final JSON and removing the journal: the JSON wins.
          await unlink(journal);
          continue;
        }
        const folded = foldEvents(await readFile(journal, 'utf8'));
        if (!folded) {
          out.unreadable.push(journal);
          continue;
        }
        const record = folded.record;
        if (!folded.ended || !record.endReason) {
          record.endReason = 'error';
          record.endDetail = CRASH_DETAIL;
        }
        record.endedAt ??= folded.lastTs ?? (await stat(journal)).mtime.toISOString();
        const tmp = `${jsonPath}.tmp`;
        await writeFile(tmp, JSON.stringify(record, null, 2) + '\n');
        await rename(tmp, jsonPath);
        await unlink(journal);
        out.recovered.push({ record, jsonPath, wavPath: hasWav ? wavPath : undefined, wavRepaired });
        opts.log?.warn({ callId: record.callId, wavRepaired }, 'recovered the record of a call cut off by a crash');
      } catch (err) {
        opts.log?.error({ err: errorMessage(err), journal }, 'could not recover call record');
        out.unreadable.push(journal);
      }
    }
  }
  return out;
}
