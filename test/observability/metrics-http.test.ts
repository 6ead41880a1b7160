import { afterEach, describe, expect, it } from 'vitest';
import { TRANSFER_UNCONFIRMED, type CallRecord } from '../../src/agent/call-record.ts';
import { readiness, startOpsServer, type OpsServer, type Readiness } from '../../src/observability/http.ts';
import { BridgeMetrics, turnLatency } from '../../src/observability/metrics.ts';
import { initialRecord } from '../../src/records/events.ts';

/** Minimal Prometheus text-format parser: metric{labels} value. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

let server: OpsServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

function record(over: Partial<CallRecord> = {}): CallRecord {
  const r = initialRecord({ callId: 'c1', pbx: 'asterisk', startedAt: new Date().toISOString(), providers: { stt: 'embedded', llm: 'embedded', tts: 'embedded' } });
  return { ...r, endReason: 'caller-hangup', disposition: 'SALE', ...over };
}

describe('metrics endpoint', () => {
  it('exposes call, turn, RTP, provider and PBX metrics in Prometheus text format', async () => {
    const metrics = new BridgeMetrics();
    let state: Readiness = readiness({ pbx: { asterisk: true }, providersConfigured: true, activeCalls: 0, maxCalls: 2 });
    server = await startOpsServer({ port: 0, metrics, ready: () => state });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    metrics.callStarted();
    metrics.callStarted();
    const r = record();
    r.metrics.turns.push({ callerEndMs: 1000, sttFinalMs: 1200, llmFirstTokenMs: 1500, ttsFirstAudioMs: 1650, firstReplyMs: 1700 });
    metrics.callEnded(r);
    metrics.bargeIn();
    metrics.rtp({ packetsIn: 50, packetsOut: 48, dropped: 1, late: 2, wrongSource: 3 });
    metrics.jitter(4);
    metrics.providerFallback('stt', 'deepgram', 'embedded');
    metrics.providerError('llm', 'openai');
    metrics.setPbxState('asterisk', true);
    metrics.setPbxState('freeswitch', false);

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const m = parseProm(await res.text());
    expect(m.get('ai_bridge_active_calls')).toBe(1);
    expect(m.get('ai_bridge_calls_total{pbx="asterisk",outcome="caller-hangup"}')).toBe(1);
    expect(m.get('ai_bridge_call_dispositions_total{disposition="SALE"}')).toBe(1);
    expect(m.get('ai_bridge_turn_stage_seconds_count{stage="stt"}')).toBe(1);
    expect(m.get('ai_bridge_turn_stage_seconds_sum{stage="stt"}')).toBeCloseTo(0.2, 6);
    expect(m.get('ai_bridge_turn_stage_seconds_sum{stage="daemon"}')).toBeCloseTo(0.05, 6);
    expect(m.get('ai_bridge_turn_latency_seconds_sum')).toBeCloseTo(0.7, 6);
    expect(m.get('ai_bridge_turn_latency_seconds_bucket{le="0.5"}')).toBe(0);
    expect(m.get('ai_bridge_turn_latency_seconds_bucket{le="0.75"}')).toBe(1);
    expect(m.get('ai_bridge_barge_ins_total')).toBe(1);
    expect(m.get('ai_bridge_rtp_packets_total{kind="in"}')).toBe(50);
    expect(m.get('ai_bridge_rtp_packets_total{kind="wrong_source"}')).toBe(3);
    expect(m.get('ai_bridge_rtp_jitter_ms_count')).toBe(1);
    expect(m.get('ai_bridge_provider_fallbacks_total{role="stt",from="deepgram",to="embedded"}')).toBe(1);
    expect(m.get('ai_bridge_provider_errors_total{role="llm",provider="openai"}')).toBe(1);
    expect(m.get('ai_bridge_pbx_connected{pbx="asterisk"}')).toBe(1);
    expect(m.get('ai_bridge_pbx_connected{pbx="freeswitch"}')).toBe(0);

    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');

    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    state = readiness({ pbx: { asterisk: false }, providersConfigured: true, activeCalls: 2, maxCalls: 2 });
    const notReady = await fetch(`${server.url}/readyz`);
    expect(notReady.status).toBe(503);
    const body = (await notReady.json()) as { checks: Array<{ name: string; ok: boolean }> };
    expect(body.checks.filter((c) => !c.ok).map((c) => c.name).sort()).toEqual(['asterisk', 'capacity']);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('two instances keep separate counters (no global registry)', async () => {
    const a = new BridgeMetrics();
    const b = new BridgeMetrics();
    a.bargeIn();
    expect(parseProm(await b.text()).get('ai_bridge_barge_ins_total')).toBe(0);
    expect(parseProm(await a.text()).get('ai_bridge_barge_ins_total')).toBe(1);
  });

  it('readiness fails while draining and without any PBX', () => {
    expect(readiness({ pbx: { asterisk: true }, providersConfigured: true, activeCalls: 0, maxCalls: 5, draining: true }).ready).toBe(false);
    expect(readiness({ pbx: {}, providersConfigured: true, activeCalls: 0, maxCalls: 5 }).ready).toBe(false);
    expect(turnLatency({ callerEndMs: 100, firstReplyMs: 90 }).totalMs).toBeUndefined();
  });

  it('counts transfers by how they ended, from the call record', async () => {
    const metrics = new BridgeMetrics();
    server = await startOpsServer({ port: 0, metrics, ready: () => readiness({ pbx: { asterisk: true }, providersConfigured: true, activeCalls: 0, maxCalls: 2 }) });
    const asked = (endReason: CallRecord['endReason'], endDetail?: string): CallRecord => {
      const r = record({ endReason, ...(endDetail ? { endDetail } : {}) });
      r.actions.push({ atMs: 100, action: { type: 'transfer', target: 'closer', summary: 's' } });
      return r;
    };
    for (const r of [
      asked('transferred', 'transfer to closer'),
      asked('transferred', 'transfer to closer'),
      asked('caller-hangup', 'caller hung up during the transfer'),
      asked('error', 'transfer failed'),
      asked('transferred', TRANSFER_UNCONFIRMED),
      record({ endReason: 'caller-hangup' }), // no transfer asked for: not counted
    ]) {
      metrics.callStarted();
      metrics.callEnded(r);
    }
    const m = parseProm(await (await fetch(`${server.url}/metrics`)).text());
    expect(m.get('ai_bridge_transfers_total{outcome="completed"}')).toBe(2);
    expect(m.get('ai_bridge_transfers_total{outcome="abandoned"}')).toBe(1);
    expect(m.get('ai_bridge_transfers_total{outcome="failed"}')).toBe(1);
    expect(m.get('ai_bridge_transfers_total{outcome="unconfirmed"}')).toBe(1);
  });
});
