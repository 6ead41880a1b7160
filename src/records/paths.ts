/**
 * Where a call's files live: `<dir>/YYYY-MM-DD/<callId>.{json,wav,events.jsonl}`, the date being
 * the UTC day the call started. One folder per day makes retention a directory removal.
 */
import { join } from 'node:path';
import { BridgeError } from '../errors.ts';

export interface RecordPaths {
  day: string;
  folder: string;
  json: string;
  wav: string;
  events: string;
}

/** Call ids become file names: keep them to a safe alphabet (no path separators, no dot-dot). */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function assertSafeCallId(callId: string): void {
  if (!SAFE_ID.test(callId) || callId.includes('..')) {
    throw new BridgeError('INTERNAL', 'call id not usable as a file name (letters, digits, . _ - only)', {
      callId: callId.slice(0, 64),
    });
  }
}

export function dayOf(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(d.getTime())) throw new BridgeError('INTERNAL', 'invalid call start time', { startedAt: String(iso) });
  return d.toISOString().slice(0, 10);
}

export function recordPaths(dir: string, callId: string, startedAt: string | Date): RecordPaths {
  assertSafeCallId(callId);
  const day = dayOf(startedAt);
  const folder = join(dir, day);
  return {
    day,
    folder,
    json: join(folder, `${callId}.json`),
    wav: join(folder, `${callId}.wav`),
    events: join(folder, `${callId}.events.jsonl`),
  };
}

export const DAY_FOLDER = /^\d{4}-\d{2}-\d{2}$/;
