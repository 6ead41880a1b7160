/**
 * A complete call over real UDP RTP on loopback: the daemon side (RTP endpoint, jitter buffer,
 * pacer, VAD, recognizer, brain, TTS) exactly as in production, and a scripted caller on the other
 * end of the link. Everything it reports is measured on the audio at the caller's side.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AgentCallFactory } from '../agent/call-factory.ts';
import type { CallRecord } from '../agent/call-record.ts';
import { loadCampaign } from '../agent/brain/campaign.ts';
import type { Config } from '../config/schema.ts';
import { BridgeError } from '../errors.ts';
import { concatPcm, FRAME_MS, type Pcm } from '../media/audio-frame.ts';
import { systemClock } from '../media/clock.ts';
import { PortPool } from '../media/port-pool.ts';
import { RtpEndpoint } from '../media/rtp-endpoint.ts';
import { RtpMediaSession } from '../media/rtp-media-session.ts';
import { batchedUdpFor } from '../media/batched-udp.ts';
import { Ticker } from '../media/ticker.ts';
import { createProviders } from '../providers/registry.ts';
import { FliteTts } from '../providers/tts/flite.ts';
import { bargeInStops, turnLatencies } from './audio-measure.ts';
import { DEFAULT_CALLER_SCRIPT, type CallerStep } from './caller-script.ts';
import { SimCaller } from './sim-caller.ts';
import { writeStereoWav } from './stereo-wav.ts';

export interface SimulationOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly out?: string;
  readonly script?: readonly CallerStep[];
  /** The caller's flite voice (distinct from the agent's). */
  readonly callerVoice?: 'rms' | 'slt' | 'awb' | 'kal16' | 'kal';
  readonly timeoutMs?: number;
}

export interface CallerLine {
  readonly said: string;
  /** What the agent's recognizer made of it (from the call record), or null if no turn matched. */
  readonly heard: string | null;
  readonly bargeIn: boolean;
  readonly atMs: number;
}

export interface SimulationResult {
  readonly record: CallRecord & { simulation: SimulationSummary };
  readonly wavPath?: string;
  readonly jsonPath?: string;
}

export interface SimulationSummary {
  readonly durationMs: number;
  readonly callerLines: CallerLine[];
  readonly digits: Array<{ digit: string; atMs: number }>;
  /** Measured at the caller's ear. */
  readonly turnLatencyMs: number[];
  readonly bargeInStopMs: number[];
  /** The daemon's own view (frame boundaries inside the daemon). */
  readonly daemonTurnLatencyMs: number[];
  readonly daemonBargeInStopMs: number[];
  readonly media: Record<string, unknown>;
}

export async function simulate(opts: SimulationOptions): Promise<SimulationResult> {
  const { config, logger } = opts;
  const script = opts.script ?? DEFAULT_CALLER_SCRIPT;
  const campaign = loadCampaign(config.agent.campaign);
  const providers = createProviders(config.providers, { logger });
  const pool = new PortPool(config.media.rtpPortMin, config.media.rtpPortMax);
  // The daemon's side reads and sends the daemon's way (media.rtpIo); the caller's endpoint below is a dgram socket.
  const udp = batchedUdpFor(config.media.rtpIo, systemClock, logger);
  const ticker = new Ticker(systemClock, { logger, leadMs: config.media.tickLeadMs, slots: config.media.tickSlots, io: udp });

  // The caller's lines, synthesized once, before the call: the caller does not "think".
  const voice = new Map<string, Pcm>();
  const callerTts = await new FliteTts({ voice: opts.callerVoice ?? 'rms', logger }).open({ callId: 'sim-caller', signal: new AbortController().signal });
  for (const st of script) {
    if (st.kind === 'dtmf' || voice.has(st.text)) continue;
    const parts: Pcm[] = [];
    for await (const pcm of callerTts.synthesize(st.text, new AbortController().signal)) parts.push(pcm);
    voice.set(st.text, concatPcm(parts));
  }
  await callerTts.close();

  const factory = new AgentCallFactory({ config, logger, clock: systemClock, campaign, stt: providers.stt, tts: providers.tts, llm: providers.llm });
  const callId = `sim-${Date.now().toString(36)}`;
  const call = factory.create({
    callId,
    context: {
      pbx: 'sim',
      channelId: 'sim-channel',
      callerNumber: '5551234567',
      leadId: 12345,
      campaignId: 'SOLAR',
      fields: { first_name: 'John', last_name: 'Smith', lead_id: '12345' },
    },
  });
  const ended = new Promise<CallRecord>((resolve) => call.on('ended', resolve));
  // The simulator is the PBX here: it completes a transfer the moment the agent asks for it.
  call.on('action', (a) => {
    if (a.type === 'transfer') call.end('transferred', `transfer to ${a.target}`);
  });

  let caller: SimCaller | null = null;
  const callerEndpoint = await RtpEndpoint.open({
    pool,
    bindAddress: '127.0.0.1',
    codec: config.media.codec,
    logger,
    onPacket: (pkt) => caller?.receive(pkt),
  });
  const media = await RtpMediaSession.open({
    call,
    pool,
    ticker,
    bindAddress: '127.0.0.1',
    remote: { address: '127.0.0.1', port: callerEndpoint.localPort },
    codec: config.media.codec,
    jitterBufferMs: config.media.jitterBufferMs,
    jitterAdaptive: config.media.jitterAdaptive,
    logger,
  });
  caller = new SimCaller({
    codec: config.media.codec,
    script,
    voice,
    // a symmetric-RTP phone: it answers to where the agent's audio comes from (the greeting comes first)
    send: (buf) => callerEndpoint.send(buf),
  });
  const c = caller;
  const unsubscribe = ticker.add(() => c.tick());
  const t0 = systemClock.now();
  ticker.start();
  let record: CallRecord;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  try {
    await call.start();
    record = await Promise.race([
      ended,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new BridgeError('INTERNAL', `simulated call did not end within ${timeoutMs / 1000} s (state ${call.currentState})`)), timeoutMs).unref(),
      ),
    ]);
    // let the last packets land
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    unsubscribe();
    call.end('shutdown');
    await media.close();
    await callerEndpoint.close();
    ticker.stop();
    udp?.close();
  }
  const durationMs = Math.round(systemClock.now() - t0);

  const callerTurns = record.transcript.filter((t) => t.role === 'caller');
  const callerLines: CallerLine[] = caller.utterances.map((u) => {
    const atMs = u.startSlot * FRAME_MS;
    // the recognizer's entry whose speech start is closest to this utterance's
    const match = callerTurns
      .filter((t) => !t.text.startsWith('[DTMF'))
      .map((t) => ({ t, d: Math.abs(t.startMs - atMs) }))
      .sort((a, b) => a.d - b.d)[0];
    return { said: u.text, heard: match && match.d < 1500 ? match.t.text : null, bargeIn: u.bargeIn, atMs };
  });
  const summary: SimulationSummary = {
    durationMs,
    callerLines,
    digits: caller.digits.map((d) => ({ digit: d.digit, atMs: d.slot * FRAME_MS })),
    turnLatencyMs: turnLatencies(caller.agentAudible, caller.utterances),
    bargeInStopMs: bargeInStops(caller.agentAudible, caller.utterances),
    daemonTurnLatencyMs: record.metrics.turnLatencyMs,
    daemonBargeInStopMs: record.metrics.bargeInStopMs,
    media: media.counters() as unknown as Record<string, unknown>,
  };
  const full = {
    ...record,
    metrics: { ...record.metrics, turnLatencyMs: summary.turnLatencyMs, bargeInStopMs: summary.bargeInStopMs },
    simulation: summary,
  };
  let wavPath: string | undefined;
  let jsonPath: string | undefined;
  if (opts.out) {
    mkdirSync(opts.out, { recursive: true });
    wavPath = join(opts.out, 'call.wav');
    jsonPath = join(opts.out, 'call.json');
    writeStereoWav(wavPath, caller.callerSlots, caller.agentSlots);
    writeFileSync(jsonPath, JSON.stringify(full, null, 2) + '\n');
  }
  return { record: full, wavPath, jsonPath };
}
