/**
 * `ai-bridge calls [--limit N] [--since YYYY-MM-DD] [--campaign ID] [--json]` and
 * `ai-bridge call ID [--json]`: read the call index (folder or PostgreSQL) and print.
 */
import type { CallRecord } from '../agent/call-record.ts';
import type { CallIndex, CallSummary } from '../records/call-index.ts';

export interface CallsArgs {
  limit?: number;
  since?: string;
  campaign?: string;
  json?: boolean;
}

function fmtTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function formatCallList(rows: readonly CallSummary[]): string {
  if (rows.length === 0) return 'no calls';
  const head = ['STARTED', 'CALL ID', 'DUR', 'END', 'DISPO', 'LEAD', 'CAMPAIGN', 'TURNS'];
  const body = rows.map((r) => [
    fmtTime(r.startedAt),
    r.callId,
    r.durationSec !== undefined ? `${r.durationSec}s` : '-',
    r.inProgress ? 'in-progress' : (r.endReason ?? '-'),
    r.disposition ?? '-',
    r.leadId !== undefined ? String(r.leadId) : '-',
    r.campaignId ?? '-',
    String(r.turns),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  return [head, ...body].map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

function sec(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

/** Transcript with timings, then per-turn latencies and events. */
export function formatCall(r: CallRecord): string {
  const lines: string[] = [];
  lines.push(`call ${r.callId}  (${r.pbx}${r.channelId ? ` ${r.channelId}` : ''})`);
  lines.push(`started ${fmtTime(r.startedAt)}${r.endedAt ? `, ended ${fmtTime(r.endedAt)}` : ', not ended'}; end: ${r.endReason ?? '-'}${r.endDetail ? ` (${r.endDetail})` : ''}`);
  lines.push(`lead ${r.leadId ?? '-'}  campaign ${r.campaignId ?? '-'}  caller ${r.callerNumber ?? '-'}  disposition ${r.disposition ?? '-'}`);
  lines.push(`providers stt=${r.providers.stt} llm=${r.providers.llm} tts=${r.providers.tts}`);
  lines.push('');
  for (const t of r.transcript) {
    const who = t.role === 'caller' ? 'CALLER' : 'AGENT ';
    const cut = t.interrupted ? ' [interrupted]' : '';
    lines.push(`[${sec(t.startMs).padStart(8)} - ${sec(t.endMs).padStart(8)}] ${who} ${t.text}${cut}`);
  }
  if (r.metrics.turns.length) {
    lines.push('', 'turn latencies (end of caller speech -> ...):');
    r.metrics.turns.forEach((t, i) => {
      const rel = (v?: number) => (v === undefined ? '-' : `${Math.round(v - t.callerEndMs)}ms`);
      lines.push(`  #${i + 1} at ${sec(t.callerEndMs)}: stt ${rel(t.sttFinalMs)}, llm first token ${rel(t.llmFirstTokenMs)}, tts first audio ${rel(t.ttsFirstAudioMs)}, first reply ${rel(t.firstReplyMs)}`);
    });
  }
  if (r.metrics.bargeInStopMs.length) lines.push(`barge-ins: ${r.metrics.bargeInStopMs.length}, stop latency ${r.metrics.bargeInStopMs.map((m) => `${Math.round(m)}ms`).join(', ')}`);
  for (const a of r.actions) lines.push(`action at ${sec(a.atMs)}: ${JSON.stringify(a.action)}`);
  for (const d of r.dtmf) lines.push(`dtmf at ${sec(d.atMs)}: ${d.digit}`);
  for (const e of r.providerEvents) lines.push(`${e.kind} at ${sec(e.atMs)}: ${e.role} ${e.provider}: ${e.detail}`);
  lines.push(`frames in ${r.metrics.framesIn}, out ${r.metrics.framesOut}`);
  return lines.join('\n');
}

export async function callsCommand(index: CallIndex, args: CallsArgs, out: (s: string) => void): Promise<number> {
  let since: Date | undefined;
  if (args.since) {
    since = new Date(args.since);
    if (Number.isNaN(since.getTime())) {
      out(`--since: not a date: ${args.since}`);
      return 2;
    }
  }
  const rows = await index.list({ limit: args.limit ?? 20, since, campaignId: args.campaign });
  out(args.json ? JSON.stringify(rows, null, 2) : formatCallList(rows));
  return 0;
}

export async function callCommand(index: CallIndex, callId: string, args: { json?: boolean }, out: (s: string) => void): Promise<number> {
  let record: CallRecord | null;
  try {
    record = await index.get(callId);
  } catch (err) {
    out(`cannot read call ${callId.slice(0, 64)}: ${(err as Error).message}`);
    return 2;
  }
  if (!record) {
    out(`no call ${callId}`);
    return 1;
  }
  out(args.json ? JSON.stringify(record, null, 2) : formatCall(record));
  return 0;
}
