/**
 * The Asterisk ARI adapter: one ARI connection, events routed to per-call state by channel id, our
 * own ExternalMedia channels recognised (never taken for callers), the concurrency limit (over it the
 * caller is handed back to the dialplan with a status variable, never left in silence), and after an
 * event-stream drop a reconciliation pass (events were missed: a caller may have hung up meanwhile)
 * plus a sweep of channels/bridges with our id prefix that no live call owns.
 */
import pino from 'pino';
import type { CallFactory } from '../../agent/call-port.ts';
import type { AsteriskConfig } from '../../config/asterisk.ts';
import type { TransferTarget } from '../../config/schema.ts';
import { errorMessage } from '../../errors.ts';
import { systemClock, type Clock } from '../../media/clock.ts';
import type { Admission } from '../../ops/drain.ts';
import type { Vicidial } from '../../vicidial/action-sink.ts';
import { AriConnection, type ConnectionState } from './ari-connection.ts';
import type { AriEvent } from './ari-events.ts';
import { isNotFound, type AriRest } from './ari-rest.ts';
import { AsteriskCall, OWN_ID_PREFIX, type AdapterCounters, type CallEnv } from './asterisk-call.ts';
import type { AriChannelJson } from './call-context.ts';
import type { MediaBinder } from './media-binding.ts';

export interface AsteriskAdapterOptions {
  readonly config: AsteriskConfig;
  readonly transfers?: Readonly<Record<string, TransferTarget>>;
  /** agent.maxCallSeconds unless asterisk.maxCallSeconds overrides it. */
  readonly maxCallSeconds: number;
  readonly callFactory: CallFactory;
  readonly media: MediaBinder;
  readonly vicidial?: Vicidial;
  readonly clock?: Clock;
  readonly logger?: pino.Logger;
  /**
   * Asked on every new caller before any set-up (the daemon's drain). Refused: the caller gets the
   * named variable and goes back to the dialplan through the over-limit hand-back path.
   */
  readonly admit?: () => Admission;
}

/** Events that concern a call we track; anything else is ignored (counted). */
const KNOWN = new Set([
  'StasisStart', 'StasisEnd', 'ChannelDestroyed', 'ChannelHangupRequest', 'ChannelDtmfReceived', 'PlaybackStarted',
  'PlaybackFinished', 'BridgeDestroyed', 'ChannelEnteredBridge', 'ChannelLeftBridge', 'ChannelVarset', 'ChannelStateChange',
  'Dial', 'ChannelConnectedLine', 'ChannelCallerId', 'ChannelDialplan', 'ApplicationReplaced', 'ChannelUserevent',
  'ChannelTalkingStarted', 'ChannelTalkingFinished', 'ChannelHold', 'ChannelUnhold', 'ChannelCreated', 'BridgeCreated',
]);

export class AsteriskAdapter {
  readonly connection: AriConnection;
  private readonly calls = new Map<string, AsteriskCall>();
  private readonly ownChannels = new Set<string>();
  private readonly overLimit = new Map<string, () => void>();
  private readonly env: CallEnv;
  private readonly log: pino.Logger;
  private closing = false;
  readonly counters: AdapterCounters = {
    activeCalls: 0, callsStarted: 0, callsEnded: 0, rejectedOverLimit: 0, rejectedAdmission: 0, setupFailures: 0, channelsCreated: 0,
    channelsDeleted: 0, bridgesCreated: 0, bridgesDeleted: 0, portsBound: 0, portsReleased: 0, timersActive: 0,
    eventsMalformed: 0, eventsUnknown: 0, eventsIgnored: 0, restErrors: 0, orphansCleaned: 0, transfersAbandoned: 0,
  };

  constructor(private readonly opts: AsteriskAdapterOptions) {
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'asterisk' });
    const c = opts.config;
    this.connection = new AriConnection({
      url: c.url,
      username: c.username,
      password: c.password,
      app: c.app,
      reconnect: c.reconnect,
      requestTimeoutMs: c.requestTimeoutMs,
      logger: this.log,
    });
    this.env = {
      config: c,
      transfers: opts.transfers ?? {},
      maxCallSeconds: c.maxCallSeconds ?? opts.maxCallSeconds,
      rest: () => this.connection.rest,
      callFactory: opts.callFactory,
      media: opts.media,
      vicidial: opts.vicidial,
      clock: opts.clock ?? systemClock,
      logger: this.log,
      counters: this.counters,
      ownChannels: this.ownChannels,
      onFinished: (call) => this.finished(call),
    };
    this.connection.on('event', (ev) => this.onEvent(ev));
    this.connection.on('reconnected', () => void this.reconcile());
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** Connect (see AriConnection.start) and sweep leftovers of a previous run. */
  async start(): Promise<void> {
    await this.connection.start();
    await this.sweepOrphans();
  }

  snapshot(): AdapterCounters & { eventStream?: Record<string, number> } {
    const ev = this.connection.eventCounters;
    return { ...this.counters, activeCalls: this.calls.size, eventsMalformed: ev?.malformed ?? 0, ...(ev ? { eventStream: { ...ev } } : {}) };
  }

  // ------------------------------------------------------------------ events

  private onEvent(ev: AriEvent): void {
    if (!KNOWN.has(ev.type)) {
      this.counters.eventsUnknown++;
      this.log.debug({ type: ev.type }, 'unknown ARI event ignored');
      return;
    }
    const channel = isChannel(ev.channel) ? ev.channel : undefined;
    switch (ev.type) {
      case 'StasisStart':
        if (channel) this.onStasisStart(channel, Array.isArray(ev.args) ? ev.args : []);
        return;
      case 'ChannelDtmfReceived':
        if (channel && typeof ev.digit === 'string') this.calls.get(channel.id)?.dtmf(ev.digit);
        return;
      case 'ChannelHangupRequest':
        if (channel) this.calls.get(channel.id)?.callerLeft('hangup-request');
        return;
      case 'StasisEnd':
        if (channel) this.calls.get(channel.id)?.callerLeft('stasis-end');
        return;
      case 'ChannelDestroyed':
        if (!channel) return;
        this.calls.get(channel.id)?.callerLeft('destroyed');
        if (this.ownChannels.has(channel.id)) {
          for (const call of this.calls.values()) if (call.emId === channel.id) call.mediaChannelGone();
        }
        return;
      case 'PlaybackFinished': {
        const pb = ev.playback as { id?: unknown } | undefined;
        if (pb && typeof pb.id === 'string') this.overLimit.get(pb.id)?.();
        return;
      }
      default:
        this.counters.eventsIgnored++;
    }
  }

  private onStasisStart(channel: AriChannelJson, args: unknown[]): void {
    // Our own ExternalMedia channel (possibly before its REST response): not a caller.
    if (this.ownChannels.has(channel.id) || channel.id.startsWith(OWN_ID_PREFIX) || channel.name?.startsWith('UnicastRTP/')) {
      this.counters.eventsIgnored++;
      return;
    }
    if (this.calls.has(channel.id)) return; // duplicate delivery
    if (this.closing) {
      void this.handBack(channel, 'SHUTDOWN');
      return;
    }
    const admission = this.admission();
    if (!admission.ok) {
      this.counters.rejectedAdmission++;
      this.log.info({ channel: channel.id, reason: admission.reason }, 'not admitting a new call; handing the caller back');
      void this.handBack(channel, admission.status, [admission.variable, admission.value]);
      return;
    }
    if (this.calls.size >= this.opts.config.maxCalls) {
      this.counters.rejectedOverLimit++;
      this.log.warn({ channel: channel.id, active: this.calls.size, maxCalls: this.opts.config.maxCalls }, 'over the call limit; handing the caller back');
      void this.handBack(channel, 'OVER_LIMIT');
      return;
    }
    const call = new AsteriskCall(this.env, channel, args);
    this.calls.set(channel.id, call);
    this.counters.callsStarted++;
    this.counters.activeCalls = this.calls.size;
    void call.setup().catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'call set-up crashed'));
  }

  private admission(): Admission {
    if (!this.opts.admit) return { ok: true };
    try {
      return this.opts.admit();
    } catch (err) {
      // A broken admission check must not cost the caller: admit, and say so.
      this.log.error({ err: errorMessage(err) }, 'admission check failed; admitting the call');
      return { ok: true };
    }
  }

  private finished(call: AsteriskCall): void {
    if (this.calls.get(call.callerId) === call) this.calls.delete(call.callerId);
    this.counters.callsEnded++;
    this.counters.activeCalls = this.calls.size;
  }

  /**
   * Over limit / shutting down / not admitted: optional message, then back to the dialplan with the
   * reason in statusVariable (and `extra`, e.g. the drain's AI_BRIDGE_REFUSED=draining). Nothing is
   * created for such a caller: no bridge, no ExternalMedia, no port.
   */
  private async handBack(channel: AriChannelJson, why: string, extra?: readonly [string, string]): Promise<void> {
    const { config } = this.opts;
    let rest: AriRest;
    try {
      rest = this.connection.rest;
    } catch {
      return;
    }
    try {
      await rest.setVar(channel.id, config.statusVariable, why);
      if (extra) await rest.setVar(channel.id, extra[0], extra[1]);
      if (config.overLimit.action === 'message') {
        if (channel.state !== 'Up') await rest.answer(channel.id);
        const playbackId = `${OWN_ID_PREFIX}pb-${channel.id}`;
        const finished = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 15_000);
          this.overLimit.set(playbackId, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        try {
          await rest.play(channel.id, config.overLimit.sound, playbackId);
          await finished;
        } finally {
          this.overLimit.delete(playbackId);
        }
      }
      await rest.continueInDialplan(channel.id, config.overLimit.target);
    } catch (err) {
      if (isNotFound(err)) return;
      this.counters.restErrors++;
      this.log.warn({ err: errorMessage(err), channel: channel.id }, 'hand-back failed; hanging up');
      await rest.hangup(channel.id).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------ recovery

  /** After a drop: each call's caller must still exist; then sweep leftovers. */
  private async reconcile(): Promise<void> {
    this.log.info({ calls: this.calls.size }, 'ARI events back; reconciling calls');
    await Promise.all(
      [...this.calls.values()].map(async (call) => {
        try {
          await this.connection.rest.getChannel(call.callerId);
        } catch (err) {
          if (isNotFound(err)) call.callerLeft('missing');
        }
      }),
    );
    await this.sweepOrphans();
  }

  /** Channels/bridges named with our prefix that no live call owns (crash of a previous run, missed events). */
  async sweepOrphans(): Promise<number> {
    let rest: AriRest;
    try {
      rest = this.connection.rest;
    } catch {
      return 0;
    }
    const liveEm = new Set([...this.calls.values()].map((c) => c.emId));
    const liveBr = new Set([...this.calls.values()].map((c) => c.bridgeId));
    let n = 0;
    try {
      const [channels, bridges] = await Promise.all([rest.listChannels(), rest.listBridges()]);
      for (const ch of channels) {
        if (ch.id.startsWith(OWN_ID_PREFIX) && !liveEm.has(ch.id) && !this.ownChannels.has(ch.id)) {
          await rest.hangup(ch.id).catch(() => undefined);
          n++;
        }
      }
      for (const b of bridges) {
        if (b.id.startsWith(OWN_ID_PREFIX) && !liveBr.has(b.id)) {
          await rest.destroyBridge(b.id).catch(() => undefined);
          n++;
        }
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'orphan sweep failed');
    }
    if (n > 0) this.log.warn({ removed: n }, 'removed leftover ExternalMedia channels/bridges');
    this.counters.orphansCleaned += n;
    return n;
  }

  /** Test hook / ops: drop the event socket (it reconnects and reconciles). */
  dropEvents(): void {
    this.connection.dropEvents();
  }

  /** End every call (callers hung up) and disconnect. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.calls.values()].map((c) => c.teardown('shutdown')));
    this.connection.close();
  }
}

function isChannel(v: unknown): v is AriChannelJson {
  return v !== null && typeof v === 'object' && typeof (v as { id?: unknown }).id === 'string';
}
