/**
 * Client of VICIdial's Non-Agent API (`/vicidial/non_agent_api.php`, docs/NON-AGENT_API.txt).
 * Requests are POSTed form-encoded: non_agent_api.php reads $_GET or $_POST alike, and a POST keeps
 * the API password out of web-server access logs. No retry here: the outbox owns retry/queueing.
 */
import pino from 'pino';
import { BridgeError, errorMessage } from '../errors.ts';
import { describeReply, parseHeaderRows, parseReply, type ApiReply } from './api-reply.ts';

export interface ApiEndpointConfig {
  readonly url: string;
  readonly user: string;
  readonly pass: string;
  readonly source: string;
  readonly timeoutMs: number;
}

export type ApiParams = Readonly<Record<string, string | number | undefined>>;

/** Thrown for a reply VICIdial gave (not transport): `retryable` false = resend cannot help. */
export function apiError(fn: string, reply: ApiReply, secrets: string[]): BridgeError {
  const text = describeReply(reply, secrets);
  if (reply.authFailure) {
    return new BridgeError(
      'VICIDIAL_AUTH',
      `VICIdial refused the API user for ${fn}: ${text} (check the user's password, "API Access"/"Agent API Access", user level >= 8, "Modify Leads", and api_allowed_functions)`,
      { fn, retryable: false, auth: true },
    );
  }
  return new BridgeError('VICIDIAL_API', `VICIdial ${fn} failed: ${text}`, { fn, retryable: false });
}

export class NonAgentApiClient {
  private readonly log: pino.Logger;
  readonly endpoint: string;

  constructor(
    private readonly cfg: ApiEndpointConfig,
    logger?: pino.Logger,
    path = '/vicidial/non_agent_api.php',
  ) {
    this.log = logger ?? pino({ level: 'silent' });
    this.endpoint = new URL(path, cfg.url.endsWith('/') ? cfg.url : cfg.url + '/').toString();
  }

  /** One request; resolves with the parsed reply whatever its kind, rejects on transport failure (retryable). */
  async raw(fn: string, params: ApiParams = {}): Promise<ApiReply> {
    const body = new URLSearchParams();
    body.set('source', this.cfg.source);
    body.set('user', this.cfg.user);
    body.set('pass', this.cfg.pass);
    body.set('function', fn);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) body.set(k, String(v));
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
      });
    } catch (err) {
      throw new BridgeError('VICIDIAL_API', `VICIdial unreachable at ${this.endpoint} (${fn}): ${errorMessage(err)}`, {
        fn,
        retryable: true,
      }, { cause: err });
    }
    const text = await res.text().catch(() => '');
    if (res.status === 401 || res.status === 403) {
      throw new BridgeError('VICIDIAL_AUTH', `VICIdial web server refused ${fn} with HTTP ${res.status}`, { fn, retryable: false, auth: true });
    }
    if (res.status >= 500 || res.status === 404 || res.status === 429) {
      // 404: wrong url (or web server restarting); worth keeping queued rather than dropping.
      throw new BridgeError('VICIDIAL_API', `VICIdial answered HTTP ${res.status} for ${fn} at ${this.endpoint}`, {
        fn,
        status: res.status,
        retryable: true,
      });
    }
    const reply = parseReply(text, fn);
    this.log.debug({ fn, kind: reply.kind }, 'vicidial api reply');
    return reply;
  }

  /** A request that must succeed: rejects with VICIDIAL_AUTH / VICIDIAL_API on an ERROR reply. */
  async call(fn: string, params: ApiParams = {}): Promise<ApiReply> {
    const reply = await this.raw(fn, params);
    if (reply.kind === 'error') throw apiError(fn, reply, [this.cfg.pass]);
    return reply;
  }

  /** All standard (and custom) fields of a lead, or undefined when VICIdial has no such lead. */
  async leadAllInfo(leadId: number, customFields = false): Promise<Record<string, string> | undefined> {
    const reply = await this.raw('lead_all_info', {
      lead_id: leadId,
      header: 'YES',
      stage: 'pipe',
      custom_fields: customFields ? 'Y' : undefined,
    });
    if (reply.kind === 'error') {
      if (reply.lines.some((l) => /NOT FOUND/.test(l.message))) return undefined;
      throw apiError('lead_all_info', reply, [this.cfg.pass]);
    }
    return parseHeaderRows(reply.data)[0];
  }

  /** One field of a lead (lead_field_info prints the bare value). */
  async leadFieldInfo(leadId: number, field: string): Promise<string | undefined> {
    const reply = await this.raw('lead_field_info', { lead_id: leadId, field_name: field });
    if (reply.kind === 'error') {
      if (reply.lines.some((l) => /NOT FOUND/.test(l.message))) return undefined;
      throw apiError('lead_field_info', reply, [this.cfg.pass]);
    }
    return reply.data.join('\n');
  }

  updateLead(params: ApiParams & { lead_id: number }): Promise<ApiReply> {
    return this.call('update_lead', params);
  }

  addDncPhone(phone: string, campaignId = 'SYSTEM_INTERNAL'): Promise<ApiReply> {
    return this.call('add_dnc_phone', { phone_number: phone, campaign_id: campaignId });
  }

  updateLogEntry(callId: string, group: string, status: string): Promise<ApiReply> {
    return this.call('update_log_entry', { call_id: callId, group, status });
  }

  /**
   * Start-up check: reachable (`version` needs no login), then the user may log in and update leads
   * (`update_lead` of lead 0 touches nothing: VICIdial answers NO MATCHES / NO VALID SEARCH METHOD
   * after its permission check). Rejects with a clear VICIDIAL_AUTH / VICIDIAL_API error.
   */
  async startupCheck(): Promise<{ version: string }> {
    const v = await this.raw('version');
    const version = (v.data[0] ?? '').split('|')[0]?.replace(/^VERSION:\s*/, '') ?? '';
    const probe = await this.raw('update_lead', { lead_id: 0, search_method: 'LEAD_ID' });
    if (probe.authFailure) throw apiError('update_lead', probe, [this.cfg.pass]);
    return { version };
  }
}
