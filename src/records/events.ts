/**
 * The call journal: one JSON line per event, appended while the call runs, so a crash keeps what
 * happened. `foldEvents` rebuilds a CallRecord from a journal (crash recovery). Pure.
 */
import type { CallRecord, ProviderEvent, TranscriptEntry, TurnTiming } from '../agent/call-record.ts';
import type { CallAction, EndReason } from '../agent/call-port.ts';

export type RecordEvent =
  /** First line: the record as known at answer (empty transcript). */
  | { type: 'start'; record: CallRecord }
  | { type: 'transcript'; entry: TranscriptEntry }
  | { type: 'action'; atMs: number; action: CallAction }
  | { type: 'dtmf'; atMs: number; digit: string }
  | { type: 'provider'; event: ProviderEvent }
  | { type: 'turn'; timing: TurnTiming }
  | { type: 'disposition'; status: string }
  | { type: 'end'; endReason: EndReason; endDetail?: string }
  /** Anything else worth keeping in the journal; ignored by the fold. */
  | { type: 'note'; [key: string]: unknown };

/** Journal line = event + wall-clock time of writing. */
export type JournalLine = RecordEvent & { ts: string };

export interface FoldResult {
  record: CallRecord;
  /** Lines that were not valid JSON (a torn last line after a kill is normal). */
  badLines: number;
  lastTs?: string;
  ended: boolean;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Returns null when the journal has no usable start line (nothing to rebuild from). */
export function foldEvents(text: string): FoldResult | null {
  let record: CallRecord | null = null;
  let badLines = 0;
  let lastTs: string | undefined;
  let ended = false;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      badLines++;
      continue;
    }
    if (!isObj(ev) || typeof ev.type !== 'string') {
      badLines++;
      continue;
    }
    if (typeof ev.ts === 'string') lastTs = ev.ts;
    const e = ev as unknown as JournalLine;
    if (e.type === 'start') {
      if (isObj(e.record) && typeof e.record.callId === 'string') record = structuredClone(e.record);
      continue;
    }
    if (!record) continue;
    switch (e.type) {
      case 'transcript':
        record.transcript.push(e.entry);
        break;
      case 'action':
        record.actions.push({ atMs: e.atMs, action: e.action });
        if (e.action.type === 'set_disposition') record.disposition = e.action.status;
        break;
      case 'dtmf':
        record.dtmf.push({ atMs: e.atMs, digit: e.digit });
        break;
      case 'provider':
        record.providerEvents.push(e.event);
        break;
      case 'turn':
        record.metrics.turns.push(e.timing);
        if (e.timing.firstReplyMs !== undefined) record.metrics.turnLatencyMs.push(e.timing.firstReplyMs - e.timing.callerEndMs);
        break;
      case 'disposition':
        record.disposition = e.status;
        break;
      case 'end':
        record.endReason = e.endReason;
        if (e.endDetail !== undefined) record.endDetail = e.endDetail;
        ended = true;
        break;
      default:
        break;
    }
  }
  return record ? { record, badLines, lastTs, ended } : null;
}

/** A fresh record for a call that just started. */
export function initialRecord(init: Pick<CallRecord, 'callId' | 'pbx' | 'startedAt' | 'providers'> & Partial<CallRecord>): CallRecord {
  return {
    transcript: [],
    actions: [],
    dtmf: [],
    providerEvents: [],
    metrics: { turnLatencyMs: [], bargeInStopMs: [], turns: [], framesIn: 0, framesOut: 0 },
    ...init,
  };
}
