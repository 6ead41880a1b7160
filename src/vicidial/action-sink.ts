/**
 * Turns a call's VICIdial-bound actions (set_disposition, schedule_callback, add_to_dnc) and its end
 * into Non-Agent API requests through the durable outbox. The disposition is sent once, at call end:
 * the agent may change its mind during the call, and VICIdial keeps only the last status anyway.
 */
import pino from 'pino';
import type { CallAction, EndReason } from '../agent/call-port.ts';
import type { VicidialConfig } from '../config/vicidial.ts';
import { errorMessage } from '../errors.ts';
import { DurableQueue } from './durable-queue.ts';
import { NonAgentApiClient } from './non-agent-api.ts';
import { AgentApiClient } from './agent-api.ts';
import { VicidialOutbox } from './outbox.ts';
import type { Clock } from '../media/clock.ts';

/** What VICIdial knows the call by. */
export interface VicidialCallInfo {
  readonly leadId?: number;
  /** The 20-character V... call id (update_log_entry / ra_call_control). */
  readonly callId?: string;
  readonly phone?: string;
  readonly campaignId?: string;
}

export class VicidialActionSink {
  private readonly dispositions = new Map<string, string>();
  private readonly log: pino.Logger;

  constructor(
    private readonly cfg: Pick<VicidialConfig, 'defaultStatus' | 'dispositionVia'>,
    private readonly outbox: VicidialOutbox,
    logger?: pino.Logger,
  ) {
    this.log = logger ?? pino({ level: 'silent' });
  }

  /** An action from the agent (transfer/hangup are the PBX adapter's; ignored here). */
  handle(callKey: string, info: VicidialCallInfo, action: CallAction): void {
    switch (action.type) {
      case 'set_disposition':
        this.dispositions.set(callKey, action.status);
        return;
      case 'schedule_callback': {
        if (info.leadId === undefined) return this.skip(action.type, 'no lead id');
        this.dispositions.set(callKey, 'CALLBK');
        this.outbox.enqueue(
          'update_lead',
          {
            lead_id: info.leadId,
            callback: 'Y',
            callback_status: 'CALLBK',
            callback_datetime: vicidialDateTime(action.when),
            callback_type: 'ANYONE',
            callback_comments: action.comments.slice(0, 255) || undefined,
            campaign_id: info.campaignId,
          },
          'callback',
        );
        return;
      }
      case 'add_to_dnc': {
        this.dispositions.set(callKey, 'DNC');
        // status=DNC alone does not put the number on the DNC list; add_dnc_phone does.
        if (!info.phone) return this.skip(action.type, 'no phone number');
        this.outbox.enqueue('add_dnc_phone', { phone_number: info.phone, campaign_id: 'SYSTEM_INTERNAL' }, 'dnc');
        return;
      }
      default:
        return;
    }
  }

  /** The AI's summary into the lead's comments before a transfer to a live agent. */
  transferSummary(info: VicidialCallInfo, summary: string): void {
    if (info.leadId === undefined || summary.trim() === '') return;
    this.outbox.enqueue('update_lead', { lead_id: info.leadId, comments: summary.slice(0, 255) }, 'transfer-summary');
  }

  /** Final status: the agent's disposition, else the configured default (not for transfers: the closer sets it). */
  callEnded(callKey: string, info: VicidialCallInfo, reason: EndReason, recordDisposition?: string): void {
    const status = this.dispositions.get(callKey) ?? recordDisposition ?? this.cfg.defaultStatus;
    this.dispositions.delete(callKey);
    if (reason === 'transferred') return;
    if (this.cfg.dispositionVia === 'update_log_entry' && info.callId && info.campaignId) {
      this.outbox.enqueue('update_log_entry', { call_id: info.callId, group: info.campaignId, status }, 'disposition');
      return;
    }
    if (info.leadId === undefined) return this.skip('disposition', 'no lead id');
    this.outbox.enqueue('update_lead', { lead_id: info.leadId, status }, 'disposition');
  }

  private skip(what: string, why: string): void {
    this.log.warn({ what, why }, 'vicidial update skipped');
  }
}

/** `2026-11-25T14:30` -> `2026-11-25 14:30:00` (sent form-encoded: VICIdial's documented `+` is a space). */
export function vicidialDateTime(when: string): string {
  const w = when.trim();
  if (/^(NOW|\d{1,3}DAYS)$/.test(w)) return w;
  const m = /^(\d{4}-\d{2}-\d{2})[ T+](\d{2}:\d{2})(:\d{2})?/.exec(w);
  return m ? `${m[1]} ${m[2]}${m[3] ?? ':00'}` : w;
}

export interface Vicidial {
  readonly api: NonAgentApiClient;
  readonly agentApi: AgentApiClient;
  readonly outbox: VicidialOutbox;
  readonly sink: VicidialActionSink;
  readonly config: VicidialConfig;
  /** Lead fields for the greeting/prompt; {} when VICIdial is slow or has no such lead (never blocks a call long). */
  leadFields(leadId: number): Promise<Record<string, string>>;
  /** Start-up check (reachable, login, update permission); logs and rethrows VICIDIAL_AUTH / VICIDIAL_API. */
  startupCheck(): Promise<{ version: string }>;
  close(): void;
}

export function createVicidial(config: VicidialConfig, logger?: pino.Logger, clock?: Clock): Vicidial {
  const log = logger ?? pino({ level: 'silent' });
  const endpoint = { url: config.url, user: config.user, pass: config.pass, source: config.source, timeoutMs: config.timeoutMs };
  const api = new NonAgentApiClient(endpoint, log);
  const agentApi = new AgentApiClient(endpoint, log);
  const queue = new DurableQueue(config.queueDir, log);
  const outbox = new VicidialOutbox(api, queue, config.retries, log, clock);
  const sink = new VicidialActionSink(config, outbox, log);
  outbox.start();
  return {
    api,
    agentApi,
    outbox,
    sink,
    config,
    async leadFields(leadId: number) {
      if (!config.fetchLead) return {};
      try {
        return (await api.leadAllInfo(leadId)) ?? {};
      } catch (err) {
        log.warn({ leadId, err: errorMessage(err) }, 'lead fields not fetched');
        return {};
      }
    },
    async startupCheck() {
      try {
        const r = await api.startupCheck();
        log.info({ version: r.version, user: config.user, pending: outbox.pending }, 'VICIdial API check passed');
        return r;
      } catch (err) {
        log.error({ err: errorMessage(err), user: config.user, url: config.url }, 'VICIdial API check failed');
        throw err;
      }
    },
    close() {
      outbox.close();
    },
  };
}
