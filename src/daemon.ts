/**
 * The daemon: wires config -> providers -> call factory -> PBX adapters, and around them the
 * operations pieces (records, metrics, health, drain, reload). Each call gets a recorder and is
 * tracked for the SIGTERM drain; a call's failure stays inside that call.
 */
import type { Logger } from 'pino';
import { AgentCallFactory } from './agent/call-factory.ts';
import type { Call } from './agent/call.ts';
import type { CallContext } from './agent/call-port.ts';
import type { CallRecord } from './agent/call-record.ts';
import { loadCampaign } from './agent/brain/campaign.ts';
import type { Config } from './config/schema.ts';
import { BridgeError, errorMessage } from './errors.ts';
import { systemClock } from './media/clock.ts';
import { PortPool } from './media/port-pool.ts';
import { batchedUdpFor } from './media/batched-udp.ts';
import { Ticker } from './media/ticker.ts';
import { startOpsServer, readiness, type OpsServer } from './observability/http.ts';
import { BridgeMetrics, turnLatency } from './observability/metrics.ts';
import { CallDrainer } from './ops/drain.ts';
import { describeLoad, mediaLoadSource, OverloadGuard } from './ops/overload.ts';
import { startAsteriskAdapter, type AsteriskHandle } from './pbx/asterisk/index.ts';
import { startFreeswitchAdapter, type FreeswitchAdapter } from './pbx/freeswitch/index.ts';
import { assertEmbeddedStack } from './providers/embedded-setup.ts';
import { createProviders } from './providers/registry.ts';
import { CallRecorder, shouldRecordAudio } from './records/call-recorder.ts';
import { initialRecord } from './records/events.ts';
import { openCallIndex } from './records/open-index.ts';
import { recoverUnfinished } from './records/recovery.ts';
import { scheduleRetention } from './records/retention.ts';
import { createVicidial, type Vicidial } from './vicidial/action-sink.ts';

export interface Daemon {
  readonly drainer: CallDrainer;
  readonly overload: OverloadGuard;
  readonly metrics: BridgeMetrics;
  readonly factory: AgentCallFactory;
  readonly asterisk: AsteriskHandle | null;
  readonly freeswitch: FreeswitchAdapter | null;
  readonly ops: OpsServer | null;
  activeCalls(): number;
  /** Take on the live keys of a new config (agent settings, campaign, log level, records options). */
  reload(next: Config): void;
  close(): Promise<void>;
}

export async function startDaemon(config: Config, logger: Logger): Promise<Daemon> {
  const usesEmbedded =
    config.providers.stt.some((p) => p.type === 'embedded') || config.providers.tts.some((p) => p.type === 'embedded');
  if (usesEmbedded) assertEmbeddedStack();
  const campaign = loadCampaign(config.agent.campaign);
  const metrics = new BridgeMetrics({ processMetrics: config.metrics.processMetrics });
  const calls = new Map<string, Call>();
  let records = config.records;

  const providers = createProviders(config.providers, {
    logger,
    codec: config.media.codec,
    onFallback: (role, from, to, error, callId) => {
      metrics.providerFallback(role, from, to);
      const call = callId ? calls.get(callId) : undefined;
      call?.record.providerEvents.push({ atMs: call.now(), role, provider: from, kind: 'fallback', detail: `-> ${to}: ${errorMessage(error)}` });
    },
    onTiming: (t) => {
      const call = calls.get(t.callId);
      if (!call) return;
      (call.record.metrics.providerTimings ??= []).push({ role: t.role, provider: t.provider, metric: t.metric, ms: Math.round(t.ms) });
    },
  });

  const udp = batchedUdpFor(config.media.rtpIo, systemClock, logger);
  logger.info({ rtpIo: config.media.rtpIo, sockets: udp ? 'batched' : 'node:dgram' }, 'RTP socket I/O');
  const ticker = new Ticker(systemClock, { logger, leadMs: config.media.tickLeadMs, slots: config.media.tickSlots, io: udp });
  ticker.start();
  const pool = new PortPool(config.media.rtpPortMin, config.media.rtpPortMax);
  const index = await openCallIndex(config.records, logger);
  const recovered = await recoverUnfinished({ dir: config.records.dir, log: logger });
  for (const r of recovered.recovered) await index.put(r.record).catch(() => undefined);
  if (recovered.recovered.length) logger.warn({ count: recovered.recovered.length }, 'closed the records of calls cut short by the last stop');
  const stopRetention = scheduleRetention({ dir: config.records.dir, days: config.records.retentionDays, clock: systemClock, index, log: logger });
  const drainer = new CallDrainer(systemClock, logger);
  const vicidial: Vicidial | undefined = config.vicidial ? createVicidial(config.vicidial, logger) : undefined;
  if (vicidial) {
    // Not awaited and never fatal: calls work without VICIdial and the durable queue keeps its requests.
    void vicidial.startupCheck().catch((err: unknown) => {
      const code = err instanceof BridgeError ? err.code : undefined;
      if (code === 'VICIDIAL_AUTH') {
        logger.error(
          { user: config.vicidial?.user, err: errorMessage(err) },
          'VICIdial API user rejected (login or permissions): dispositions, callbacks and DNC requests stay queued until the API user is fixed',
        );
      } else {
        logger.error({ code, err: errorMessage(err) }, 'VICIdial API not usable at start-up: requests are queued and retried');
      }
    });
  }

  const onCall = (call: Call, context: CallContext) => {
    calls.set(call.id, call);
    drainer.track(call);
    metrics.callStarted();
    const start = initialRecord({ ...call.record, transcript: [], actions: [], dtmf: [], providerEvents: [] });
    const recorder = new CallRecorder({
      dir: records.dir,
      start,
      recordAudio: shouldRecordAudio(records, context.campaignId),
      flushMs: records.flushMs,
      redactPhoneNumbers: records.redactPhoneNumbers,
      log: logger,
      onWriteError: () => metrics.recordWriteError(),
    });
    call.on('transcript', (entry) => recorder.event({ type: 'transcript', entry }));
    call.on('turn', (timing) => {
      recorder.event({ type: 'turn', timing });
      metrics.observeTurn(turnLatency(timing));
    });
    call.on('action', (action) => recorder.event({ type: 'action', atMs: call.now(), action }));
    call.on('ended', (record: CallRecord) => {
      calls.delete(call.id);
      metrics.callEnded(record, { observeTurns: false });
      for (let i = 0; i < record.metrics.bargeInStopMs.length; i++) metrics.bargeIn();
      drainer.trackWrite(
        recorder
          .finish(record)
          .then(() => index.put(record))
          .catch((err: unknown) => logger.error({ callId: record.callId, err: errorMessage(err) }, 'call record write failed')),
      );
    });
    // Each side counts its own frames: a tick's outbound frame may be pulled before its inbound one
    // (while a reply is spoken, RtpMediaSession sends before the inbound work).
    return {
      inbound: (f: Int16Array) => recorder.caller(f),
      outbound: (f: Int16Array | null) => recorder.agent(f),
    };
  };

  const factory = new AgentCallFactory({
    config,
    logger,
    clock: systemClock,
    campaign,
    stt: providers.stt,
    tts: providers.tts,
    llm: providers.llm,
    onCall,
  });
  // Draining or overloaded: the adapters ask before any set-up and hand refused calls back to the dialplan.
  const load = mediaLoadSource(ticker);
  const overload = new OverloadGuard(systemClock, load, config.ops.overload, logger);
  const admit = () => {
    const drain = drainer.admit();
    return drain.ok ? overload.admit() : drain;
  };

  const asterisk = config.asterisk
    ? await startAsteriskAdapter(config, { callFactory: factory, logger, ticker, portPool: pool, vicidial, admit })
    : null;
  const freeswitch = config.freeswitch
    ? await startFreeswitchAdapter({ freeswitch: config.freeswitch, transfers: config.transfers }, { callFactory: factory, logger, ticker, admit })
    : null;
  if (!asterisk && !freeswitch) logger.warn('no PBX configured (asterisk or freeswitch section): the daemon takes no calls');

  const pbxUp = () => ({
    ...(asterisk ? { asterisk: asterisk.state === 'connected' } : {}),
    ...(freeswitch ? { freeswitch: freeswitch.state === 'ready' } : {}),
  });
  let rtpSeen = { packetsIn: 0, packetsOut: 0, dropped: 0, late: 0, wrongSource: 0 };
  const stateTimer = setInterval(() => {
    const rtp = asterisk?.rtpTotals();
    if (rtp) {
      metrics.rtp({
        packetsIn: rtp.packetsIn - rtpSeen.packetsIn,
        packetsOut: rtp.packetsOut - rtpSeen.packetsOut,
        dropped: rtp.dropped - rtpSeen.dropped,
        late: rtp.late - rtpSeen.late,
        wrongSource: rtp.wrongSource - rtpSeen.wrongSource,
      });
      rtpSeen = rtp;
    }
    if (asterisk) metrics.setPbxState('asterisk', asterisk.state === 'connected');
    if (freeswitch) metrics.setPbxState('freeswitch', freeswitch.state === 'ready');
    metrics.setOverload(overload.overloaded, overload.counters.refused);
  }, 1000);
  stateTimer.unref();

  const ops = config.metrics.enabled
    ? await startOpsServer({
        host: config.metrics.host,
        port: config.metrics.port,
        metrics,
        log: logger,
        ready: () =>
          readiness({
            pbx: pbxUp(),
            providersConfigured: true,
            activeCalls: calls.size,
            maxCalls: config.ops.maxCalls,
            draining: drainer.draining,
            overloaded: overload.overloaded
              ? { detail: `refusing new calls: ${describeLoad(overload.reading)} in the last window` }
              : null,
          }),
      })
    : null;
  logger.info(
    { asterisk: !!asterisk, freeswitch: !!freeswitch, metrics: ops?.url, stt: providers.stt.name, tts: providers.tts.name, brain: providers.llm ? providers.llm.name : 'script' },
    'ai-bridge started',
  );

  overload.start(); // last: a start-up that throws before here leaves no timer running
  return {
    drainer,
    overload,
    metrics,
    factory,
    asterisk,
    freeswitch,
    ops,
    activeCalls: () => calls.size,
    reload(next: Config) {
      factory.reload(next, loadCampaign(next.agent.campaign));
      records = { ...records, recordAudio: next.records.recordAudio, noAudioCampaigns: next.records.noAudioCampaigns, redactPhoneNumbers: next.records.redactPhoneNumbers };
      logger.level = next.log.level;
    },
    async close() {
      clearInterval(stateTimer);
      stopRetention();
      overload.stop();
      load.close();
      await Promise.allSettled([asterisk?.close(), freeswitch?.close(), ops?.close()]);
      vicidial?.close();
      ticker.stop();
      udp?.close();
      await index.close();
    },
  };
}
