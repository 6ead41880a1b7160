/**
 * One caller in our Stasis app, from StasisStart to the last DELETE. Set-up: answer if needed, read
 * the configured channel variables, bind an RTP socket, mixing bridge (pre-assigned id), caller in,
 * ExternalMedia (pre-assigned channelId: its own StasisStart can beat the REST response) pointed at
 * that socket, media attached to UNICASTRTP_LOCAL_ADDRESS:PORT at once, ExternalMedia in. Tear-down
 * (either side, once): media closed and port released, CallSession ended, ExternalMedia channel and
 * bridge DELETEd — a real Asterisk keeps both alive otherwise — and the caller hung up or handed back
 * to the dialplan as the reason requires. Every failure stays inside this call.
 */
import { randomUUID } from 'node:crypto';
import type pino from 'pino';
import type { CallAction, CallContext, CallFactory, CallSession, EndReason } from '../../agent/call-port.ts';
import type { CallRecord } from '../../agent/call-record.ts';
import type { AsteriskConfig } from '../../config/asterisk.ts';
import type { TransferTarget } from '../../config/schema.ts';
import { BridgeError, errorMessage } from '../../errors.ts';
import type { Clock, TimerHandle } from '../../media/clock.ts';
import type { Vicidial, VicidialCallInfo } from '../../vicidial/action-sink.ts';
import { ingroupExtension } from '../../vicidial/ingroup.ts';
import { isNotFound, type AriRest } from './ari-rest.ts';
import { buildCallContext, parseStasisArgs, type AriChannelJson } from './call-context.ts';
import type { CallMediaBinding, MediaBinder } from './media-binding.ts';

/** Ids we create carry this prefix: a restarted daemon can find and delete its own leftovers. */
export const OWN_ID_PREFIX = 'aibridge-';

export interface AdapterCounters {
  activeCalls: number;
  callsStarted: number;
  callsEnded: number;
  rejectedOverLimit: number;
  /** Callers refused by the admission check (daemon draining) and handed back. */
  rejectedAdmission: number;
  setupFailures: number;
  channelsCreated: number;
  channelsDeleted: number;
  bridgesCreated: number;
  bridgesDeleted: number;
  portsBound: number;
  portsReleased: number;
  timersActive: number;
  eventsMalformed: number;
  eventsUnknown: number;
  eventsIgnored: number;
  restErrors: number;
  orphansCleaned: number;
  /** The agent asked for a transfer and the caller hung up before it completed. */
  transfersAbandoned: number;
}

export interface CallEnv {
  readonly config: AsteriskConfig;
  readonly transfers: Readonly<Record<string, TransferTarget>>;
  readonly maxCallSeconds: number;
  readonly rest: () => AriRest;
  readonly callFactory: CallFactory;
  readonly media: MediaBinder;
  readonly vicidial?: Vicidial;
  readonly clock: Clock;
  readonly logger: pino.Logger;
  readonly counters: AdapterCounters;
  /** Our ExternalMedia channel ids: their StasisStart is not a new call. */
  readonly ownChannels: Set<string>;
  readonly onFinished: (call: AsteriskCall) => void;
}

type Phase = 'setup' | 'running' | 'ending' | 'done';

export class AsteriskCall {
  readonly callId = randomUUID();
  readonly callerId: string;
  readonly emId: string;
  readonly bridgeId: string;
  private phase: Phase = 'setup';
  private session: CallSession | null = null;
  private media: CallMediaBinding | null = null;
  private bridgeCreated = false;
  /** Tear-down has looked at bridgeCreated (a bridge created after that is set-up's to delete). */
  private bridgeStepPassed = false;
  private emRequested = false;
  private emCreated = false;
  private callerGone = false;
  /** What the caller's StasisEnd means when it comes (we asked for it). */
  private expectedEnd: EndReason | null = null;
  private maxTimer: TimerHandle | null = null;
  private disposition: string | undefined;
  /** A hangup/transfer action is releasing the caller: tear-down must not. */
  private terminalAction = false;
  private safetyTimer: TimerHandle | null = null;
  private callerLeftSeen = false;
  private info: VicidialCallInfo = {};
  private readonly log: pino.Logger;
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly env: CallEnv,
    private readonly channel: AriChannelJson,
    private readonly rawArgs: readonly unknown[],
  ) {
    this.callerId = channel.id;
    const tag = this.callId.slice(0, 8);
    this.emId = `${OWN_ID_PREFIX}em-${tag}-${channel.id}`.slice(0, 120);
    this.bridgeId = `${OWN_ID_PREFIX}br-${tag}-${channel.id}`.slice(0, 120);
    this.log = env.logger.child({ callId: this.callId, channel: channel.id });
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get isRunning(): boolean {
    return this.phase === 'running';
  }

  // ------------------------------------------------------------------ set-up

  async setup(): Promise<void> {
    const { config } = this.env;
    const rest = this.env.rest();
    try {
      if (this.channel.state !== 'Up') await rest.answer(this.callerId);
      this.checkAlive();
      const vars = await this.readVariables(rest);
      this.checkAlive();
      const args = parseStasisArgs(this.rawArgs);
      let built = buildCallContext({ channel: this.channel, args, vars });
      if (built.lead && this.env.vicidial) {
        const leadFields = await this.env.vicidial.leadFields(built.lead.leadId);
        built = buildCallContext({ channel: this.channel, args, vars, leadFields });
      }
      this.checkAlive();
      const context: CallContext = built.context;
      this.info = {
        ...(built.lead ? { leadId: built.lead.leadId } : {}),
        ...(built.lead?.callId ? { callId: built.lead.callId } : {}),
        ...((context.fields.phone_number || built.phone) ? { phone: context.fields.phone_number || built.phone } : {}),
        ...(context.campaignId ? { campaignId: context.campaignId } : {}),
      };

      this.media = await this.env.media({ callId: this.callId, codec: config.format, logger: this.log });
      this.env.counters.portsBound++;
      this.checkAlive();

      await rest.createBridge(this.bridgeId, `ai-${this.callId.slice(0, 8)}`);
      this.bridgeCreated = true;
      this.env.counters.bridgesCreated++;
      if (this.bridgeStepPassed) {
        // The caller left while the bridge was being created and tear-down has already passed its
        // bridge step: delete it here, or it stays in Asterisk until the next orphan sweep.
        await this.deleteQuietly(() => rest.destroyBridge(this.bridgeId), 'bridge');
        this.env.counters.bridgesDeleted++;
      }
      this.checkAlive();
      await rest.addChannel(this.bridgeId, this.callerId);
      this.checkAlive();

      const host = config.externalHost ?? this.media.localAddress;
      if (host === '0.0.0.0' || host === '::') {
        throw new BridgeError('CONFIG_INVALID', 'RTP is bound to a wildcard address: set asterisk.externalHost to the address Asterisk should send to', {});
      }
      const hostPart = host.includes(':') ? `[${host}]` : host;
      this.env.ownChannels.add(this.emId);
      this.emRequested = true;
      const em = await rest.externalMedia({
        channelId: this.emId,
        app: config.app,
        externalHost: `${hostPart}:${this.media.localPort}`,
        format: config.format,
      });
      this.emCreated = true;
      this.env.counters.channelsCreated++;
      const remote = await this.unicastAddress(rest, em);
      this.checkAlive();

      const session = this.env.callFactory.create({ callId: this.callId, context });
      this.session = session;
      session.on('action', (a) => this.onAction(a));
      session.on('ended', (r) => this.onSessionEnded(r));
      // Media first: the greeting's first frame goes out as soon as the session has one.
      await this.media.attach(session, remote);
      this.checkAlive();
      await rest.addChannel(this.bridgeId, this.emId);
      this.checkAlive();
      await session.start();
      this.checkAlive();

      this.phase = 'running';
      this.maxTimer = this.env.clock.setTimeout(() => {
        this.maxTimer = null;
        this.env.counters.timersActive--;
        this.log.info({ maxCallSeconds: this.env.maxCallSeconds }, 'call reached its maximum duration');
        void this.teardown('max-duration');
      }, this.env.maxCallSeconds * 1000);
      this.env.counters.timersActive++;
      this.log.info({ leadId: this.info.leadId, campaign: this.info.campaignId, rtpPort: this.media.localPort, remote: `${remote.address}:${remote.port}` }, 'call running');
    } catch (err) {
      if (this.phase === 'ending' || this.phase === 'done') return; // the caller left during set-up
      this.env.counters.setupFailures++;
      if (err instanceof BridgeError && err.code === 'PBX_REQUEST') this.env.counters.restErrors++;
      this.log.error({ err: errorMessage(err), code: (err as BridgeError).code }, 'call set-up failed; handing the caller back to the dialplan');
      await this.teardown('error', errorMessage(err));
    }
  }

  private checkAlive(): void {
    if (this.phase !== 'setup') throw new BridgeError('INTERNAL', 'call ended during set-up', { callId: this.callId });
  }

  private async readVariables(rest: AriRest): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    await Promise.all(
      this.env.config.channelVariables.map(async (name) => {
        try {
          const v = await rest.getVar(this.callerId, name);
          if (v !== undefined && v !== '') out[name] = v;
        } catch (err) {
          // A variable we cannot read is a missing fact, not a failed call.
          this.log.warn({ variable: name, err: errorMessage(err) }, 'channel variable not read');
        }
      }),
    );
    return out;
  }

  private async unicastAddress(rest: AriRest, em: AriChannelJson): Promise<{ address: string; port: number }> {
    let address = em.channelvars?.UNICASTRTP_LOCAL_ADDRESS;
    let port = em.channelvars?.UNICASTRTP_LOCAL_PORT;
    if (!address || !port) {
      // Older 16.x answered without channelvars: ask for them.
      address = await rest.getVar(this.emId, 'UNICASTRTP_LOCAL_ADDRESS');
      port = await rest.getVar(this.emId, 'UNICASTRTP_LOCAL_PORT');
    }
    const p = Number(port);
    if (!address || !Number.isInteger(p) || p < 1 || p > 65535) {
      throw new BridgeError('PBX_PROTOCOL', 'ExternalMedia channel has no UNICASTRTP_LOCAL_ADDRESS/PORT', { emId: this.emId });
    }
    return { address, port: p };
  }

  // ------------------------------------------------------------------ events from Asterisk

  dtmf(digit: string): void {
    if (this.phase === 'running' && typeof digit === 'string' && /^[0-9A-D*#]$/i.test(digit)) this.session?.dtmf(digit.toUpperCase());
  }

  /** The caller channel left Stasis or is gone. */
  callerLeft(kind: 'stasis-end' | 'destroyed' | 'hangup-request' | 'missing'): void {
    this.callerLeftSeen = true;
    if (this.safetyTimer) {
      this.env.clock.clearTimeout(this.safetyTimer);
      this.safetyTimer = null;
      this.env.counters.timersActive--;
    }
    if (kind !== 'stasis-end' || this.expectedEnd === null) this.callerGone = true;
    if (kind !== 'stasis-end' && this.expectedEnd === 'transferred') {
      // A transfer leaves Stasis with StasisEnd; a hang-up before that means it never completed.
      this.callerHungUpDuringTransfer();
      return;
    }
    const reason = this.expectedEnd ?? 'caller-hangup';
    void this.teardown(reason);
  }

  /** Asterisk destroyed our ExternalMedia channel without us asking (module reload, Asterisk restart). */
  mediaChannelGone(): void {
    if (this.phase === 'ending' || this.phase === 'done') return;
    this.emRequested = false;
    if (this.emCreated) this.env.counters.channelsDeleted++;
    this.emCreated = false;
    this.env.ownChannels.delete(this.emId);
    this.log.warn('ExternalMedia channel vanished; ending the call');
    void this.teardown('error', 'media channel lost');
  }

  // ------------------------------------------------------------------ actions from the agent

  private onAction(action: CallAction): void {
    switch (action.type) {
      case 'hangup':
        void this.agentHangup(action.reason);
        return;
      case 'transfer':
        void this.transfer(action.target, action.summary);
        return;
      default:
        if (action.type === 'set_disposition') this.disposition = action.status;
        if (action.type === 'add_to_dnc') this.disposition = 'DNC';
        try {
          this.env.vicidial?.sink.handle(this.callId, this.info, action);
        } catch (err) {
          this.log.error({ err: errorMessage(err), action: action.type }, 'vicidial action not queued');
        }
    }
  }

  private remoteAgent(): { user: string; callId: string } | undefined {
    const vd = this.env.vicidial?.config;
    if (vd?.handoffMode !== 'remote-agent' || !vd.remoteAgentUser || !this.info.callId) return undefined;
    return { user: vd.remoteAgentUser, callId: this.info.callId };
  }

  private async agentHangup(reason: string): Promise<void> {
    if (this.terminalAction || (this.phase !== 'running' && this.phase !== 'setup')) return;
    // The agent emits its hangup/transfer and then ends at once: from here this handler, not
    // tear-down, decides what happens to the caller.
    this.terminalAction = true;
    this.log.info({ reason }, 'agent hangs up');
    const ra = this.remoteAgent();
    if (ra && this.env.vicidial) {
      // Mode c: VICIdial ends the call itself (logs, agent stats) and hangs the channel up over AMI.
      try {
        this.expectedEnd = 'agent-hangup';
        await this.env.vicidial.agentApi.raCallControl({ callId: ra.callId, agentUser: ra.user, stage: 'HANGUP', status: this.disposition ?? this.env.vicidial.config.defaultStatus });
        this.armSafetyHangup();
        return;
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'ra_call_control HANGUP failed; hanging up over ARI');
      }
    }
    await this.hangupCaller();
    await this.teardown('agent-hangup', reason);
  }

  /**
   * After ra_call_control, VICIdial moves the channel over AMI. If it has not within 15 s, the caller
   * sits in a bridge-less Stasis app: hang up over ARI rather than leave silence.
   */
  private armSafetyHangup(): void {
    if (this.safetyTimer) return;
    this.env.counters.timersActive++;
    this.safetyTimer = this.env.clock.setTimeout(() => {
      this.safetyTimer = null;
      this.env.counters.timersActive--;
      if (this.callerGone || this.callerLeftSeen) return;
      this.log.warn('VICIdial did not take the call back after ra_call_control; hanging up');
      void this.hangupCaller();
    }, 15_000);
  }

  private async hangupCaller(): Promise<void> {
    if (this.callerGone) return;
    try {
      await this.env.rest().hangup(this.callerId);
      this.callerGone = true;
    } catch (err) {
      if (isNotFound(err)) {
        this.callerGone = true;
        return;
      }
      this.env.counters.restErrors++;
      this.log.warn({ err: errorMessage(err) }, 'caller hang-up failed');
    }
  }

  private async transfer(targetName: string, summary: string): Promise<void> {
    if (this.terminalAction || (this.phase !== 'running' && this.phase !== 'setup')) return;
    const target = Object.prototype.hasOwnProperty.call(this.env.transfers, targetName) ? this.env.transfers[targetName] : undefined;
    if (!target) {
      // Tool validation should have stopped this. The agent waits for the transfer: end the call,
      // and tear-down hands the caller back to the dialplan (a human, not silence).
      this.log.warn({ target: targetName }, 'transfer to a target not in config refused');
      this.session?.end('error', `transfer target ${targetName} not configured`);
      return;
    }
    this.terminalAction = true;
    const { config } = this.env;
    this.expectedEnd = 'transferred';
    try {
      const rest = this.env.rest();
      this.env.vicidial?.sink.transferSummary(this.info, summary);
      const ra = this.remoteAgent();
      if (ra && target.ingroup && this.env.vicidial) {
        try {
          await this.env.vicidial.agentApi.raCallControl({ callId: ra.callId, agentUser: ra.user, stage: 'INGROUPTRANSFER', ingroup: target.ingroup });
          this.log.info({ target: targetName, ingroup: target.ingroup }, 'transferred through ra_call_control');
          this.armSafetyHangup();
          return;
        } catch (err) {
          this.log.warn({ err: errorMessage(err) }, 'ra_call_control INGROUPTRANSFER failed; continuing in the dialplan');
        }
      }
      const vars: Array<[string, string]> = [
        [config.transfer.summaryVariable, oneLine(summary, 500)],
        [config.statusVariable, 'TRANSFER'],
      ];
      if (this.disposition) vars.push([config.transfer.dispositionVariable, this.disposition]);
      for (const [k, v] of vars) await rest.setVar(this.callerId, k, v);
      const dest = target.ingroup
        ? {
            context: target.context ?? config.transfer.ingroupContext,
            extension: ingroupExtension({ ingroup: target.ingroup, leadId: this.info.leadId, phone: this.info.phone, user: config.transfer.ingroupUser }),
            priority: 1,
          }
        : { context: target.context, extension: target.extension, priority: target.priority };
      if (!dest.context && !dest.extension) throw new BridgeError('CONFIG_INVALID', `transfer target ${targetName} names no context/extension/ingroup`, { target: targetName });
      this.log.info({ target: targetName, context: dest.context, extension: dest.extension }, 'transferring into the dialplan');
      await rest.continueInDialplan(this.callerId, dest);
      // StasisEnd of the caller follows; tear-down happens there (expectedEnd = transferred).
    } catch (err) {
      this.env.counters.restErrors++;
      this.log.error({ err: errorMessage(err), target: targetName }, 'transfer failed; handing the caller back to the dialplan');
      if (isNotFound(err)) {
        // The channel is gone: the caller hung up while the transfer's requests were in flight.
        this.callerGone = true;
        this.callerHungUpDuringTransfer();
        return;
      }
      // Never leave the caller in a bridge-less Stasis app: back to the dialplan, or hang up.
      await this.handBackCaller('ERROR');
      await this.teardown('error', 'transfer failed');
    }
  }

  private callerHungUpDuringTransfer(): void {
    if (this.phase === 'ending' || this.phase === 'done') return;
    this.env.counters.transfersAbandoned++;
    this.log.info('caller hung up before the transfer completed');
    void this.teardown('caller-hangup', 'caller hung up during the transfer');
  }

  private onSessionEnded(record: CallRecord): void {
    if (record.disposition) this.disposition = record.disposition;
    const reason = record.endReason ?? 'error';
    try {
      this.env.vicidial?.sink.callEnded(this.callId, this.info, reason, this.disposition);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'vicidial disposition not queued');
    }
    // The agent ended on its own (silence, provider failure): release the caller too.
    if (this.phase === 'running' || this.phase === 'setup') void this.teardown(reason, record.endDetail);
  }

  // ------------------------------------------------------------------ tear-down

  /** End of call from any side; runs once. */
  async teardown(reason: EndReason, detail?: string): Promise<void> {
    if (this.phase === 'ending' || this.phase === 'done') return this.done;
    this.phase = 'ending';
    const { counters } = this.env;
    if (this.maxTimer) {
      this.env.clock.clearTimeout(this.maxTimer);
      this.maxTimer = null;
      counters.timersActive--;
    }
    const media = this.media;
    this.media = null;
    if (media) {
      await media.close().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'media close failed'));
      counters.portsReleased++;
    }
    const session = this.session;
    if (session) {
      try {
        session.end(reason, detail);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'session end failed');
      }
    } else if (this.env.vicidial && reason !== 'transferred') {
      // No session ever ran: still log the call's end in VICIdial.
      this.env.vicidial.sink.callEnded(this.callId, this.info, reason, undefined);
    }
    let rest: AriRest | null = null;
    try {
      rest = this.env.rest();
    } catch {
      rest = null; // not connected: orphan sweep on reconnect deletes what we leave
    }
    if (rest) {
      if (this.emRequested) {
        // Also when the create failed or timed out: it may exist all the same (404 = it does not).
        const outcome = await this.deleteQuietly(() => rest!.hangup(this.emId), 'ExternalMedia channel');
        if (!this.emCreated && outcome === 'deleted') counters.channelsCreated++;
        if (this.emCreated || outcome === 'deleted') counters.channelsDeleted++;
      }
      this.bridgeStepPassed = true;
      if (this.bridgeCreated) {
        await this.deleteQuietly(() => rest!.destroyBridge(this.bridgeId), 'bridge');
        counters.bridgesDeleted++;
      }
      if (!this.callerGone && !this.terminalAction && reason !== 'caller-hangup') {
        await this.releaseCaller(rest, reason);
      }
    }
    this.env.ownChannels.delete(this.emId);
    this.phase = 'done';
    this.log.info({ reason, detail }, 'call ended');
    this.env.onFinished(this);
    this.resolveDone();
  }

  private async deleteQuietly(fn: () => Promise<void>, what: string): Promise<'deleted' | 'gone' | 'failed'> {
    try {
      await fn();
      return 'deleted';
    } catch (err) {
      if (isNotFound(err)) return 'gone'; // already gone: the goal
      this.env.counters.restErrors++;
      this.log.warn({ err: errorMessage(err), what }, 'delete failed; the orphan sweep will retry');
      return 'failed';
    }
  }

  private async handBackCaller(status: string): Promise<void> {
    const rest = this.env.rest();
    try {
      await rest.setVar(this.callerId, this.env.config.statusVariable, status);
      await rest.continueInDialplan(this.callerId, this.env.config.overLimit.target);
    } catch (err) {
      if (isNotFound(err)) return;
      this.log.warn({ err: errorMessage(err) }, 'hand-back failed; hanging up');
      await rest.hangup(this.callerId).catch(() => undefined);
    }
  }

  /** Agent/limit ends hang the caller up; errors hand it back to the dialplan (a human, not silence). */
  private async releaseCaller(rest: AriRest, reason: EndReason): Promise<void> {
    const { config } = this.env;
    try {
      if (reason === 'error' || reason === 'shutdown' || reason === 'transferred') {
        // 'transferred' here = the agent ended for a transfer we refused: the caller wanted a human.
        await rest.setVar(this.callerId, config.statusVariable, reason === 'shutdown' ? 'SHUTDOWN' : 'ERROR');
        await rest.continueInDialplan(this.callerId, config.overLimit.target);
      } else {
        if (reason === 'max-duration') await rest.setVar(this.callerId, config.statusVariable, 'MAX_DURATION').catch(() => undefined);
        await rest.hangup(this.callerId);
      }
    } catch (err) {
      if (!isNotFound(err)) {
        this.env.counters.restErrors++;
        this.log.warn({ err: errorMessage(err), reason }, 'could not release the caller channel');
        // Last resort: never leave a caller in a dead Stasis app.
        await rest.hangup(this.callerId).catch(() => undefined);
      }
    }
  }
}

function oneLine(s: string, max: number): string {
  return s.replace(/[\r\n\t]+/g, ' ').trim().slice(0, max);
}
