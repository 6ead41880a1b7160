/**
 * Prometheus metrics on a private Registry (never prom-client's global one: tests and several
 * daemons in one process must not share counters). The rest of the daemon calls the small API on
 * BridgeMetrics; nothing here runs per RTP packet — adapters batch counters and report deltas.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TRANSFER_UNCONFIRMED, type CallRecord, type TurnTiming } from '../agent/call-record.ts';

const PREFIX = 'ai_bridge_';
/** Seconds; voice-agent latencies live between 50 ms and a few seconds. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];

export type PbxName = 'asterisk' | 'freeswitch';
export type ProviderRole = 'stt' | 'llm' | 'tts';

/** Counters accumulated by a media endpoint since its last report. */
export interface RtpCountersDelta {
  packetsIn?: number;
  packetsOut?: number;
  dropped?: number;
  late?: number;
  wrongSource?: number;
}

/** Per-turn latencies in ms (any may be missing when a stage was skipped). */
export interface TurnLatency {
  /** caller end of speech -> recognizer final */
  sttMs?: number;
  /** recognizer final -> first LLM token */
  llmFirstTokenMs?: number;
  /** first LLM token -> first synthesized audio */
  ttsFirstAudioMs?: number;
  /** time the daemon itself added: first audio -> first reply frame out */
  daemonMs?: number;
  /** caller end of speech -> first reply frame out */
  totalMs?: number;
}

/** Derives stage latencies from a record's TurnTiming (all in call time). */
export function turnLatency(t: TurnTiming): TurnLatency {
  const d = (a?: number, b?: number) => (a !== undefined && b !== undefined && b >= a ? b - a : undefined);
  return {
    sttMs: d(t.callerEndMs, t.sttFinalMs),
    llmFirstTokenMs: d(t.sttFinalMs ?? t.callerEndMs, t.llmFirstTokenMs),
    ttsFirstAudioMs: d(t.llmFirstTokenMs, t.ttsFirstAudioMs),
    daemonMs: d(t.ttsFirstAudioMs, t.firstReplyMs),
    totalMs: d(t.callerEndMs, t.firstReplyMs),
  };
}

export interface MetricsOptions {
  /** Node process metrics (heap, event loop lag, open fds) on the same registry. */
  processMetrics?: boolean;
}

export class BridgeMetrics {
  readonly registry = new Registry();
  private readonly activeCalls: Gauge;
  private readonly callsTotal: Counter;
  private readonly callsByDisposition: Counter;
  private readonly turnStage: Histogram;
  private readonly turnTotal: Histogram;
  private readonly bargeIns: Counter;
  private readonly rtpPackets: Counter;
  private readonly rtpJitter: Histogram;
  private readonly providerErrors: Counter;
  private readonly providerFallbacks: Counter;
  private readonly pbxUp: Gauge;
  private readonly overloaded: Gauge;
  private readonly refusedOverload: Counter;
  private refusedSeen = 0;
  private readonly transfers: Counter;
  private readonly recordErrors: Counter;
  private active = 0;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    this.activeCalls = new Gauge({ name: `${PREFIX}active_calls`, help: 'Calls in progress', registers });
    this.callsTotal = new Counter({
      name: `${PREFIX}calls_total`,
      help: 'Finished calls by PBX and end reason',
      labelNames: ['pbx', 'outcome'],
      registers,
    });
    this.callsByDisposition = new Counter({
      name: `${PREFIX}call_dispositions_total`,
      help: 'Finished calls by VICIdial disposition (none = the agent set none)',
      labelNames: ['disposition'],
      registers,
    });
    this.turnStage = new Histogram({
      name: `${PREFIX}turn_stage_seconds`,
      help: 'Per-turn latency by stage: stt (end of speech -> final), llm_first_token, tts_first_audio, daemon (first audio -> first frame out)',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.turnTotal = new Histogram({
      name: `${PREFIX}turn_latency_seconds`,
      help: 'End of caller speech -> first reply frame sent',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.bargeIns = new Counter({ name: `${PREFIX}barge_ins_total`, help: 'Caller interruptions of agent speech', registers });
    this.rtpPackets = new Counter({
      name: `${PREFIX}rtp_packets_total`,
      help: 'RTP packets by kind: in, out, dropped, late, wrong_source',
      labelNames: ['kind'],
      registers,
    });
    this.rtpJitter = new Histogram({
      name: `${PREFIX}rtp_jitter_ms`,
      help: 'Interarrival jitter (RFC 3550) as reported by the media endpoints',
      buckets: [1, 2, 5, 10, 20, 40, 80, 160],
      registers,
    });
    this.providerErrors = new Counter({
      name: `${PREFIX}provider_errors_total`,
      help: 'Provider errors by role and provider',
      labelNames: ['role', 'provider'],
      registers,
    });
    this.providerFallbacks = new Counter({
      name: `${PREFIX}provider_fallbacks_total`,
      help: 'Switches from one provider to the next in its chain',
      labelNames: ['role', 'from', 'to'],
      registers,
    });
    this.pbxUp = new Gauge({
      name: `${PREFIX}pbx_connected`,
      help: 'PBX control connection state (1 = connected)',
      labelNames: ['pbx'],
      registers,
    });
    this.transfers = new Counter({
      name: `${PREFIX}transfers_total`,
      help: 'Transfers the agent asked for, by how they ended: completed, abandoned (caller hung up first), failed, unconfirmed (no word from the PBX)',
      labelNames: ['outcome'],
      registers,
    });
    this.recordErrors = new Counter({
      name: `${PREFIX}record_write_errors_total`,
      help: 'Failed writes of call records or recordings',
      registers,
    });
    this.overloaded = new Gauge({
      name: `${PREFIX}media_overloaded`,
      help: 'The media loop is falling behind and new calls are handed back to the dialplan (1 = refusing)',
      registers,
    });
    this.refusedOverload = new Counter({
      name: `${PREFIX}calls_refused_overload_total`,
      help: 'New calls handed back to the dialplan because the media loop was overloaded',
      registers,
    });
    this.activeCalls.set(0);
    this.overloaded.set(0);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }

  callStarted(): void {
    this.active++;
    this.activeCalls.set(this.active);
  }

  /** Counts the finished call and observes its turns from the record (no separate observeTurn needed for them). */
  callEnded(record: CallRecord, opts: { observeTurns?: boolean } = {}): void {
    this.active = Math.max(0, this.active - 1);
    this.activeCalls.set(this.active);
    this.callsTotal.inc({ pbx: record.pbx, outcome: record.endReason ?? 'unknown' });
    this.callsByDisposition.inc({ disposition: record.disposition ?? 'none' });
    const outcome = transferOutcome(record);
    if (outcome) this.transfers.inc({ outcome });
    if (opts.observeTurns ?? true) for (const t of record.metrics.turns) this.observeTurn(turnLatency(t));
    for (const ev of record.providerEvents) if (ev.kind === 'error') this.providerError(ev.role, ev.provider);
  }

  get activeCallCount(): number {
    return this.active;
  }

  observeTurn(t: TurnLatency): void {
    const obs = (stage: string, ms?: number) => {
      if (ms !== undefined && Number.isFinite(ms) && ms >= 0) this.turnStage.observe({ stage }, ms / 1000);
    };
    obs('stt', t.sttMs);
    obs('llm_first_token', t.llmFirstTokenMs);
    obs('tts_first_audio', t.ttsFirstAudioMs);
    obs('daemon', t.daemonMs);
    if (t.totalMs !== undefined && Number.isFinite(t.totalMs) && t.totalMs >= 0) this.turnTotal.observe(t.totalMs / 1000);
  }

  bargeIn(): void {
    this.bargeIns.inc();
  }

  rtp(delta: RtpCountersDelta): void {
    const add = (kind: string, n?: number) => {
      if (n !== undefined && n > 0) this.rtpPackets.inc({ kind }, n);
    };
    add('in', delta.packetsIn);
    add('out', delta.packetsOut);
    add('dropped', delta.dropped);
    add('late', delta.late);
    add('wrong_source', delta.wrongSource);
  }

  jitter(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.rtpJitter.observe(ms);
  }

  providerError(role: ProviderRole, provider: string): void {
    this.providerErrors.inc({ role, provider });
  }

  providerFallback(role: ProviderRole, from: string, to: string): void {
    this.providerFallbacks.inc({ role, from, to });
  }

  setPbxState(pbx: PbxName, up: boolean): void {
    this.pbxUp.set({ pbx }, up ? 1 : 0);
  }

  /** The overload guard's state and its refusals so far (a running total; only the increase is added). */
  setOverload(overloaded: boolean, refusedTotal: number): void {
    this.overloaded.set(overloaded ? 1 : 0);
    const seen = this.refusedSeen;
    if (refusedTotal > seen) this.refusedOverload.inc(refusedTotal - seen);
    this.refusedSeen = Math.max(seen, refusedTotal);
  }

  recordWriteError(): void {
    this.recordErrors.inc();
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** How a transfer the agent asked for ended, from the call's record; null when it asked for none. */
export function transferOutcome(record: CallRecord): 'completed' | 'abandoned' | 'failed' | 'unconfirmed' | null {
  if (!record.actions.some((a) => a.action.type === 'transfer')) return null;
  switch (record.endReason) {
    case 'transferred':
      return record.endDetail === TRANSFER_UNCONFIRMED ? 'unconfirmed' : 'completed';
    case 'caller-hangup':
      return 'abandoned';
    default:
      return 'failed';
  }
}
