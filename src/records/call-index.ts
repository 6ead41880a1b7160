/**
 * The call index port and the embedded implementation: the records folder itself. Day folders
 * sorted newest first, read until the limit is met, so `calls` stays cheap with years on disk.
 * Calls still running (journal, no final JSON) are listed too, folded from their journal.
 */
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallRecord } from '../agent/call-record.ts';
import { foldEvents } from './events.ts';
import { assertSafeCallId, DAY_FOLDER } from './paths.ts';

export interface CallSummary {
  callId: string;
  startedAt: string;
  endedAt?: string;
  durationSec?: number;
  endReason?: string;
  disposition?: string;
  leadId?: number;
  campaignId?: string;
  callerNumber?: string;
  pbx: string;
  turns: number;
  /** No final JSON yet: running, or the daemon died (recovery closes those on start). */
  inProgress: boolean;
}

export interface ListQuery {
  /** Newest first; default 50. */
  limit?: number;
  since?: Date;
  campaignId?: string;
}

export interface CallIndex {
  /** Called after CallRecorder.finish(); the folder index needs nothing. */
  put(record: CallRecord, extra?: { wavPath?: string }): Promise<void>;
  list(q?: ListQuery): Promise<CallSummary[]>;
  get(callId: string): Promise<CallRecord | null>;
  /** Removes index entries of calls started before the cutoff; returns how many. */
  deleteOlderThan(cutoff: Date): Promise<number>;
  close(): Promise<void>;
}

export function summarize(r: CallRecord, inProgress = false): CallSummary {
  const start = Date.parse(r.startedAt);
  const end = r.endedAt ? Date.parse(r.endedAt) : NaN;
  return {
    callId: r.callId,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    durationSec: Number.isFinite(end - start) ? Math.round((end - start) / 100) / 10 : undefined,
    endReason: r.endReason,
    disposition: r.disposition,
    leadId: r.leadId,
    campaignId: r.campaignId,
    callerNumber: r.callerNumber,
    pbx: r.pbx,
    turns: r.transcript.length,
    inProgress,
  };
}

async function dayFolders(dir: string): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names.filter((n) => DAY_FOLDER.test(n)).sort().reverse();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readRecord(folder: string, name: string): Promise<{ record: CallRecord; inProgress: boolean } | null> {
  try {
    if (name.endsWith('.events.jsonl')) {
      const folded = foldEvents(await readFile(join(folder, name), 'utf8'));
      return folded ? { record: folded.record, inProgress: true } : null;
    }
    return { record: JSON.parse(await readFile(join(folder, name), 'utf8')) as CallRecord, inProgress: false };
  } catch {
    return null; // a file being written or removed right now: skip it, it shows up next time
  }
}

export class FilesCallIndex implements CallIndex {
  constructor(readonly dir: string) {}

  async put(): Promise<void> {
    /* the files are the index */
  }

  async list(q: ListQuery = {}): Promise<CallSummary[]> {
    const limit = q.limit ?? 50;
    const sinceDay = q.since ? q.since.toISOString().slice(0, 10) : undefined;
    const out: CallSummary[] = [];
    for (const day of await dayFolders(this.dir)) {
      if (sinceDay && day < sinceDay) break;
      const folder = join(this.dir, day);
      const names = (await readdir(folder).catch(() => [] as string[])).filter(
        (n) => (n.endsWith('.json') || n.endsWith('.events.jsonl')) && !n.endsWith('.tmp'),
      );
      const finished = new Set(names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)));
      const dayRows: CallSummary[] = [];
      for (const name of names) {
        if (name.endsWith('.events.jsonl') && finished.has(name.slice(0, -'.events.jsonl'.length))) continue;
        const r = await readRecord(folder, name);
        if (!r) continue;
        if (q.campaignId !== undefined && r.record.campaignId !== q.campaignId) continue;
        if (q.since && Date.parse(r.record.startedAt) < q.since.getTime()) continue;
        dayRows.push(summarize(r.record, r.inProgress));
      }
      dayRows.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
      out.push(...dayRows);
      if (out.length >= limit) break;
    }
    return out.slice(0, limit);
  }

  async get(callId: string): Promise<CallRecord | null> {
    assertSafeCallId(callId);
    for (const day of await dayFolders(this.dir)) {
      const folder = join(this.dir, day);
      for (const name of [`${callId}.json`, `${callId}.events.jsonl`]) {
        if (!(await exists(join(folder, name)))) continue;
        const r = await readRecord(folder, name);
        if (r) return r.record;
      }
    }
    return null;
  }

  /** Where a call's WAV is, if it has one. */
  async wavPath(callId: string): Promise<string | null> {
    assertSafeCallId(callId);
    for (const day of await dayFolders(this.dir)) {
      const p = join(this.dir, day, `${callId}.wav`);
      if (await exists(p)) return p;
    }
    return null;
  }

  /** Files are removed by retention itself (whole day folders). */
  async deleteOlderThan(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    /* nothing held open */
  }
}
