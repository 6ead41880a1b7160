/** The simulator's printout: both sides' transcript, latencies, barge-in, recognition check. */
import type { CallRecord } from '../agent/call-record.ts';
import { normalizeText } from '../agent/normalize-text.ts';
import type { SimulationSummary } from './simulate.ts';

export function formatSimulation(r: CallRecord & { simulation: SimulationSummary }): string {
  const s = r.simulation;
  const lines: string[] = [];
  const t = (ms: number) => `${(ms / 1000).toFixed(2).padStart(6)}s`;
  lines.push('', `call ${r.callId}: ${r.endReason ?? '?'}${r.endDetail ? ` (${r.endDetail})` : ''}, disposition ${r.disposition ?? '-'}, ${(s.durationMs / 1000).toFixed(1)} s`, '', 'transcript (as the agent heard and said it):');
  for (const e of r.transcript) {
    const who = e.role === 'agent' ? 'AGENT ' : 'CALLER';
    const cut = e.interrupted ? `  [interrupted; meant: "${e.intendedText}"]` : '';
    lines.push(`  ${t(e.startMs)} ${who} ${e.text}${cut}`);
  }
  lines.push('', 'recognition (what the caller said -> what the agent understood):');
  for (const l of s.callerLines) {
    const ok = l.heard !== null && normalizeText(l.heard) === normalizeText(l.said);
    lines.push(`  ${t(l.atMs)} ${ok ? 'OK  ' : 'MISS'} "${l.said}" -> ${l.heard === null ? '(no turn)' : `"${l.heard}"`}${l.bargeIn ? '  (barge-in)' : ''}`);
  }
  for (const d of s.digits) lines.push(`  ${t(d.atMs)} DTMF ${d.digit}`);
  const actions = r.actions.map((a) => a.action.type + ('status' in a.action ? `=${a.action.status}` : 'target' in a.action ? `=${a.action.target}` : '')).join(', ');
  lines.push('', `actions: ${actions || '-'}`);
  lines.push(`turn latency, end of caller speech -> first agent audio (at the caller's ear): ${s.turnLatencyMs.map((x) => `${x} ms`).join(', ') || '-'}`);
  lines.push(`barge-in, caller speech onset -> agent audio stopped (at the caller's ear): ${s.bargeInStopMs.map((x) => `${x} ms`).join(', ') || '-'}`);
  if (r.metrics.turns.length) {
    lines.push('', 'per turn inside the daemon (ms after the end of caller speech): recognizer final -> first brain text -> first TTS audio -> first packet out');
    const at = (v: number | undefined, from: number) => (v === undefined ? '   -' : String(Math.round(v - from)).padStart(4));
    for (const turn of r.metrics.turns) {
      const c = turn.callerEndMs;
      lines.push(`  ${t(c)}  ${at(turn.sttFinalMs, c)} -> ${at(turn.llmFirstTokenMs, c)} -> ${at(turn.ttsFirstAudioMs, c)} -> ${at(turn.firstReplyMs, c)}`);
    }
  }
  return lines.join('\n') + '\n';
}
