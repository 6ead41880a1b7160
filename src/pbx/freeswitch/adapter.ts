/**
 * The FreeSWITCH adapter: one inbound ESL connection for control, and per call either FreeSWITCH's
 * unicast UDP (default) or mod_audio_stream's WebSocket for audio. A call is ours when our dialplan
 * set the marker variable (`ai_bridge=true`) and parked it; on CHANNEL_PARK (or CHANNEL_ANSWER for
 * stream-audio) we start the audio path and an agent CallSession.
 */
import pino from 'pino';
import type { WebSocket } from 'ws';
import type { CallContext, CallFactory } from '../../agent/call-port.ts';
import type { TransferTarget } from '../../config/schema.ts';
import type { FreeswitchConfig } from '../../config/freeswitch.ts';
import { BridgeError, errorMessage } from '../../errors.ts';
import { systemClock, type Clock, type TimerHandle } from '../../media/clock.ts';
import type { Admission } from '../../ops/drain.ts';
import { AudioStreamServer } from './audio-stream-server.ts';
import { CallLeg } from './call-leg.ts';
import { audioStreamStart, checkUuid, isOk, kill, setVar, transfer, unicastHeaders, type ApiCall } from './commands.ts';
import { EslControl, type EslEvent, type EslState } from './esl-control.ts';
import { PortPool } from './port-pool.ts';
import { StreamPlayback } from './stream-playback.ts';
import { newCounters, type FreeswitchCounters, type TickerLike } from './transport.ts';
import { UnicastTransport, type UnicastFormat } from './unicast-transport.ts';

export interface FreeswitchAdapterDeps {
  callFactory: CallFactory;
  logger?: pino.Logger;
  ticker: TickerLike;
  clock?: Clock;
  /**
   * Asked for every marked call before anything is started (the daemon's drain). Refused: the
   * variable is set and the call is transferred to `freeswitch.handback`, never killed.
   */
  admit?: () => Admission;
}

export interface FreeswitchAdapter {
  readonly state: EslState;
  counters(): FreeswitchCounters & {
    activeCalls: number;
    callsHandedBack: number;
    eslConnects: number;
    eslDisconnects: number;
    eslAuthFailures: number;
    /** Connections dropped because the ESL byte stream lost its framing (see EslControl). */
    eslFramingErrors: number;
    /** Events for no call of ours, of a kind we do not use, or without a uuid. */
    eslEventsIgnored: number;
    /** Exceptions our event handling threw (caught; should stay 0). */
    eslEventErrors: number;
  };
  /** Resolves when ESL is connected and subscribed (tests, health checks). */
  ready(): Promise<void>;
  /** Active legs by uuid (tests and the status command). */
  calls(): ReadonlyMap<string, CallLeg>;
  /** Port the mod_audio_stream WebSocket server listens on (0 when playback is unicast). */
  readonly wsPort: number;
  close(): Promise<void>;
}

export const ESL_EVENTS = ['CHANNEL_ANSWER', 'CHANNEL_PARK', 'CHANNEL_HANGUP', 'CHANNEL_HANGUP_COMPLETE', 'DTMF', 'PLAYBACK_START', 'PLAYBACK_STOP'] as const;
export const ESL_SUBCLASSES = [
  'mod_audio_stream::connect',
  'mod_audio_stream::disconnect',
  'mod_audio_stream::error',
  'mod_audio_stream::json',
  'mod_audio_stream::play',
] as const;

export async function startFreeswitchAdapter(
  config: { freeswitch?: FreeswitchConfig | undefined; transfers: Readonly<Record<string, TransferTarget>> },
  deps: FreeswitchAdapterDeps,
): Promise<FreeswitchAdapter> {
  const cfg = config.freeswitch;
  if (!cfg) throw new BridgeError('CONFIG_INVALID', 'freeswitch section missing: the FreeSWITCH adapter is off', {});
  const log = (deps.logger ?? pino({ level: 'silent' })).child({ pbx: 'freeswitch' });
  const clock = deps.clock ?? systemClock;
  const counters = newCounters();
  const legs = new Map<string, CallLeg>();
  const playbacks = new Map<string, StreamPlayback>();
  const streamWait = new Map<string, TimerHandle>();
  const ports = new PortPool(cfg.unicast.freeswitchPortMin, cfg.unicast.freeswitchPortMax);
  /** Calls being / been handed back: their later ANSWER/PARK events (sent before our setvar) are not new calls. */
  const handedBack = new Set<string>();
  let callsHandedBack = 0;
  let eventsIgnored = 0;
  let eventErrors = 0;
  let closing = false;

  const esl = new EslControl({
    host: cfg.host,
    port: cfg.port,
    password: cfg.password,
    reconnect: cfg.reconnect,
    apiTimeoutMs: cfg.apiTimeoutMs,
    events: ESL_EVENTS,
    subclasses: ESL_SUBCLASSES,
    logger: log,
    clock,
  });
  const api = (c: ApiCall): Promise<string> => esl.api(c.command, c.args);

  let wsServer: AudioStreamServer | null = null;
  if (cfg.playback === 'stream-audio') {
    wsServer = await AudioStreamServer.listen({
      host: cfg.ws.bindHost,
      port: cfg.ws.port,
      secret: cfg.ws.secret!,
      maxFrameBytes: cfg.ws.maxFrameBytes,
      counters,
      log,
      expects: (uuid) => streamWait.has(uuid),
      onStream: (uuid, ws) => onStream(uuid, ws),
    });
  }

  function onStream(uuid: string, ws: WebSocket): void {
    const timer = streamWait.get(uuid);
    if (timer) clock.clearTimeout(timer);
    streamWait.delete(uuid);
    const leg = legs.get(uuid);
    if (!leg) {
      ws.close(1000, 'call over');
      return;
    }
    leg.attachStream(ws, cfg!.ws.sampleRate);
    const playback = new StreamPlayback({
      uuid,
      firstChunkFrames: cfg!.streamAudio.firstChunkMs / 20,
      chunkFrames: cfg!.streamAudio.chunkMs / 20,
      sendText: (text) => leg.sendText(text),
      api,
      counters,
      log,
    });
    playbacks.set(uuid, playback);
    void leg.begin(playback);
  }

  function contextOf(evt: EslEvent, uuid: string): CallContext {
    const fields: Record<string, string> = {};
    const v = (name: string): string | undefined => evt.header(`variable_${name}`);
    // ai_field_<name> channel variables become lead fields ({{first_name}} in prompts).
    const prefix = 'variable_ai_field_';
    for (const key of evt.headerNames()) {
      if (key.startsWith(prefix)) fields[key.slice(prefix.length)] = evt.header(key) ?? '';
    }
    const lead = Number(v('ai_lead_id') ?? v('lead_id'));
    const campaign = v('ai_campaign') ?? v('campaign_id');
    return {
      pbx: 'freeswitch',
      channelId: uuid,
      ...(evt.header('Caller-Caller-ID-Number') ? { callerNumber: evt.header('Caller-Caller-ID-Number')! } : {}),
      ...(evt.header('Caller-Caller-ID-Name') ? { callerName: evt.header('Caller-Caller-ID-Name')! } : {}),
      ...(Number.isInteger(lead) && lead > 0 ? { leadId: lead } : {}),
      ...(campaign ? { campaignId: campaign } : {}),
      fields,
    };
  }

  function isOurs(evt: EslEvent): boolean {
    const mark = evt.header(`variable_${cfg!.markerVariable}`);
    return mark !== undefined && /^(true|yes|1|on)$/i.test(mark);
  }

  function admit(): Admission {
    if (!deps.admit) return { ok: true };
    try {
      return deps.admit();
    } catch (err) {
      // A broken admission check must not cost the caller: admit, and say so.
      log.error({ err: errorMessage(err) }, 'admission check failed; admitting the call');
      return { ok: true };
    }
  }

  /**
   * A call we do not take: variable set, marker cleared (so this channel's later events are not
   * ours), then back to the dialplan at freeswitch.handback. Never killed: a human picks it up.
   */
  async function handBack(uuid: string, refused: Extract<Admission, { ok: false }>): Promise<void> {
    handedBack.add(uuid);
    if (handedBack.size > 10_000) handedBack.delete(handedBack.values().next().value as string);
    callsHandedBack++;
    const target = cfg!.handback;
    log.info({ uuid, reason: refused.reason, extension: target.extension, context: target.context }, 'not admitting a new call; handing it back to the dialplan');
    const steps: Array<[ApiCall, string]> = [
      [setVar(uuid, refused.variable, refused.value), 'uuid_setvar'],
      [setVar(uuid, cfg!.markerVariable, 'false'), 'uuid_setvar'],
      [transfer(uuid, target.extension, cfg!.transferDialplan, target.context), 'uuid_transfer'],
    ];
    for (const [c, what] of steps) {
      let reply: string;
      try {
        reply = await api(c);
      } catch (err) {
        reply = `-ERR ${errorMessage(err)}`;
      }
      if (!isOk(reply)) {
        counters.apiErrors++;
        // Not killed even now: a parked call is still the dialer's to clean up; a gone one needs nothing.
        log.warn({ uuid, reply: reply.trim(), command: what }, 'hand-back step refused');
        if (what === 'uuid_transfer' || /No such channel/i.test(reply)) return;
      }
    }
  }

  async function startCall(evt: EslEvent, uuid: string): Promise<void> {
    try {
      checkUuid(uuid);
    } catch {
      log.warn('ignoring a marked channel with an unusable uuid');
      return;
    }
    const admission = admit();
    if (!admission.ok) {
      await handBack(uuid, admission);
      return;
    }
    if (legs.size >= cfg!.maxCalls) {
      counters.callsRejectedBusy++;
      log.warn({ uuid, maxCalls: cfg!.maxCalls }, 'at maxCalls: handing the call back');
      // Never silence or a dead line: the dialplan's hand-back target takes the caller.
      await handBack(uuid, { ok: false, variable: 'AI_BRIDGE_REFUSED', value: 'max-calls', status: 'OVER_LIMIT', reason: 'over freeswitch.maxCalls' });
      return;
    }
    const context = contextOf(evt, uuid);
    let session;
    try {
      session = deps.callFactory.create({ callId: uuid, context });
    } catch (err) {
      counters.callsFailed++;
      log.error({ uuid, err: errorMessage(err) }, 'could not create the agent for a call');
      api(kill(uuid, 'NORMAL_TEMPORARY_FAILURE')).catch(() => undefined);
      return;
    }
    counters.callsStarted++;
    let fsPort = 0;
    const leg = new CallLeg(uuid, session, {
      config: cfg!,
      transfers: config.transfers,
      api,
      ticker: deps.ticker,
      counters,
      log,
      onDone: (l) => {
        if (legs.get(uuid) === l) legs.delete(uuid);
        playbacks.delete(uuid);
        const t = streamWait.get(uuid);
        if (t) clock.clearTimeout(t);
        streamWait.delete(uuid);
        if (fsPort) ports.release(fsPort);
      },
    });
    legs.set(uuid, leg);

    if (cfg!.playback === 'stream-audio') {
      const url = `ws://${cfg!.ws.advertiseHost}:${wsServer!.port}/${cfg!.ws.secret}/${uuid}`;
      streamWait.set(
        uuid,
        clock.setTimeout(() => {
          streamWait.delete(uuid);
          log.warn({ uuid }, 'mod_audio_stream did not connect in time');
          leg.fail('audio stream did not connect');
        }, cfg!.unicast.firstPacketTimeoutMs),
      );
      const meta = { uuid, caller: context.callerNumber ?? '', lead: context.leadId ?? null, campaign: context.campaignId ?? null };
      let reply: string;
      try {
        reply = await api(audioStreamStart(uuid, url, cfg!.ws.sampleRate, meta));
      } catch (err) {
        reply = `-ERR ${errorMessage(err)}`;
      }
      if (!isOk(reply)) {
        counters.apiErrors++;
        log.warn({ uuid, reply: reply.trim() }, 'uuid_audio_stream start refused');
        leg.fail('uuid_audio_stream start refused');
      }
      return;
    }

    // unicast
    const format = unicastFormat(evt, cfg!.unicast.native);
    if (!format) {
      log.warn({ uuid, codec: evt.header('Channel-Read-Codec-Name'), rate: evt.header('Channel-Read-Codec-Rate') }, 'unicast: unsupported channel codec/rate');
      leg.fail('unsupported codec for unicast');
      return;
    }
    fsPort = ports.take();
    if (!fsPort) {
      log.warn({ uuid }, 'unicast: no FreeSWITCH-side port free');
      leg.fail('no unicast port');
      return;
    }
    let transport: UnicastTransport;
    try {
      transport = await UnicastTransport.open({
        bindHost: cfg!.unicast.bindHost,
        peerHost: cfg!.unicast.freeswitchHost,
        peerPort: fsPort,
        format,
        onFrame: leg.feed,
        onMalformed: (reason) => {
          counters.malformedFrames++;
          log.warn({ uuid, reason }, 'closing this call\'s unicast audio');
          leg.fail(reason);
        },
        counters,
        log,
      });
    } catch (err) {
      log.warn({ uuid, err: errorMessage(err) }, 'unicast: cannot open UDP socket');
      leg.fail('udp socket');
      return;
    }
    if (!leg.active) {
      transport.close();
      return;
    }
    const headers = unicastHeaders({
      localIp: cfg!.unicast.freeswitchHost,
      localPort: fsPort,
      remoteIp: cfg!.unicast.bindHost,
      remotePort: transport.localPort,
      native: format.kind !== 'l16',
    });
    let reply: string;
    try {
      reply = await esl.sendmsg(uuid, headers);
    } catch (err) {
      reply = `-ERR ${errorMessage(err)}`;
    }
    if (!isOk(reply)) {
      counters.apiErrors++;
      log.warn({ uuid, reply }, 'sendmsg unicast refused');
      transport.close();
      leg.fail('sendmsg unicast refused');
      return;
    }
    const watchdog = clock.setTimeout(() => {
      if (transport.firstPacketAt === null && leg.active) {
        log.warn({ uuid }, 'unicast: no audio from FreeSWITCH (is the channel parked? port free?)');
        leg.fail('no unicast audio');
      }
    }, cfg!.unicast.firstPacketTimeoutMs);
    session.on('ended', () => clock.clearTimeout(watchdog));
    const origClose = transport.close.bind(transport);
    transport.close = () => {
      clock.clearTimeout(watchdog);
      origClose();
    };
    void leg.begin(transport);
  }

  function onEvent(evt: EslEvent): void {
    const uuid = evt.uuid;
    if (!uuid) {
      eventsIgnored++;
      return;
    }
    const leg = legs.get(uuid);
    if (!leg && evt.name !== 'CHANNEL_PARK' && evt.name !== 'CHANNEL_ANSWER' && evt.name !== 'CHANNEL_HANGUP_COMPLETE') {
      eventsIgnored++;
      return;
    }
    switch (evt.name) {
      case 'CHANNEL_PARK':
      case 'CHANNEL_ANSWER': {
        if (leg || closing || handedBack.has(uuid) || !isOurs(evt)) {
          eventsIgnored++;
          return;
        }
        // unicast is serviced only inside park (switch_ivr_park): wait for CHANNEL_PARK.
        if (cfg!.playback === 'unicast' && evt.name !== 'CHANNEL_PARK') return;
        void startCall(evt, uuid).catch((err: unknown) => log.error({ uuid, err: errorMessage(err) }, 'call start failed'));
        return;
      }
      case 'CHANNEL_HANGUP':
      case 'CHANNEL_HANGUP_COMPLETE':
        if (evt.name === 'CHANNEL_HANGUP_COMPLETE') handedBack.delete(uuid);
        leg?.remoteHangup(evt.header('Hangup-Cause') ?? 'UNKNOWN');
        return;
      case 'DTMF':
        leg?.dtmf(evt.header('DTMF-Digit') ?? '');
        return;
      case 'PLAYBACK_STOP':
        if (leg) playbacks.get(uuid)?.onPlaybackStop();
        return;
      case 'CUSTOM':
        onCustom(evt, uuid);
        return;
      default:
        eventsIgnored++;
        return;
    }
  }

  function onCustom(evt: EslEvent, uuid: string): void {
    const playback = playbacks.get(uuid);
    switch (evt.subclass) {
      case 'mod_audio_stream::play': {
        if (!playback) return;
        let file: unknown;
        try {
          file = (JSON.parse(evt.body) as { file?: unknown }).file;
        } catch {
          file = undefined;
        }
        if (typeof file === 'string') playback.onPlay(file);
        else log.warn({ uuid }, 'mod_audio_stream::play without a file');
        return;
      }
      case 'mod_audio_stream::json':
        log.warn({ uuid, body: evt.body.slice(0, 200) }, 'mod_audio_stream did not accept a message');
        return;
      case 'mod_audio_stream::disconnect':
      case 'mod_audio_stream::error':
        if (legs.has(uuid)) log.warn({ uuid, event: evt.subclass, body: evt.body.slice(0, 200) }, 'mod_audio_stream reported a problem');
        return;
      default:
        return;
    }
  }

  /** After a reconnect: calls that ended while we were blind are ended here too. */
  async function reconcile(): Promise<void> {
    for (const [uuid, leg] of legs) {
      try {
        const reply = await esl.api('uuid_exists', uuid);
        if (reply.trim() === 'false') leg.remoteHangup('GONE_WHILE_ESL_DOWN');
      } catch {
        return; // down again: the next reconnect reconciles
      }
    }
  }

  esl.on('event', (evt) => {
    try {
      onEvent(evt);
    } catch (err) {
      eventErrors++;
      log.error({ err: errorMessage(err), event: evt.name }, 'event handler failed');
    }
  });
  let everReady = false;
  esl.on('ready', () => {
    if (everReady) void reconcile();
    everReady = true;
  });
  esl.on('error', () => undefined); // logged by EslControl; surfaced by start() and state

  try {
    await esl.start();
  } catch (err) {
    await wsServer?.close();
    throw err;
  }

  return {
    get state() {
      return esl.state;
    },
    get wsPort() {
      return wsServer?.port ?? 0;
    },
    counters: () => ({
      ...counters,
      activeCalls: legs.size,
      callsHandedBack,
      eslConnects: esl.counters.connects,
      eslDisconnects: esl.counters.disconnects,
      eslAuthFailures: esl.counters.authFailures,
      eslFramingErrors: esl.counters.framingErrors,
      eslEventsIgnored: eventsIgnored,
      eslEventErrors: eventErrors,
    }),
    ready: () =>
      esl.state === 'ready'
        ? Promise.resolve()
        : new Promise<void>((resolve) => esl.once('ready', () => resolve())),
    calls: () => legs,
    async close() {
      closing = true;
      for (const leg of [...legs.values()]) leg.shutdown();
      // let the uuid_kill api calls go out and be answered before the socket closes (bounded)
      for (let i = 0; i < 100 && legs.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      for (const t of streamWait.values()) clock.clearTimeout(t);
      streamWait.clear();
      esl.close();
      await wsServer?.close();
    },
  };
}

function unicastFormat(evt: EslEvent, native: boolean): UnicastFormat | null {
  const codec = (evt.header('Channel-Read-Codec-Name') ?? '').toUpperCase();
  const rate = Number(evt.header('Channel-Read-Codec-Rate') ?? '8000');
  if (native) {
    if (codec === 'PCMU') return { kind: 'pcmu' };
    if (codec === 'PCMA') return { kind: 'pcma' };
    return null;
  }
  if (rate === 8000 || rate === 16000) return { kind: 'l16', rate };
  return null;
}
