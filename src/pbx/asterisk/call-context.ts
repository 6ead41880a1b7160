/**
 * What one Stasis() entry tells us about the call, as pure functions: `key=value` arguments, the
 * caller/connected names and numbers, chosen channel variables, and VICIdial's lead/campaign.
 */
import type { CallContext } from '../../agent/call-port.ts';
import { findLeadId, type LeadSource } from '../../vicidial/caller-id.ts';

export interface AriChannelJson {
  readonly id: string;
  readonly name: string;
  readonly state?: string;
  readonly caller?: { readonly name?: string; readonly number?: string };
  readonly connected?: { readonly name?: string; readonly number?: string };
  readonly channelvars?: Readonly<Record<string, string>>;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/**
 * `Stasis(app,lead_id=12,campaign=X,V124...)`: key=value pairs become fields; a bare value is kept
 * as arg1, arg2, ... (VICIdial passes the CallerID name bare).
 */
export function parseStasisArgs(args: readonly unknown[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  for (const a of args ?? []) {
    if (typeof a !== 'string') continue;
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(0, eq).trim() : '';
    if (eq > 0 && KEY.test(key)) out[key] = a.slice(eq + 1).slice(0, 1024);
    else if (a !== '') out[`arg${++n}`] = a.slice(0, 1024);
  }
  return out;
}

export interface BuiltContext {
  readonly context: CallContext;
  readonly lead?: LeadSource;
  readonly phone?: string;
}

export function buildCallContext(input: {
  channel: AriChannelJson;
  args: Readonly<Record<string, string>>;
  vars: Readonly<Record<string, string>>;
  leadFields?: Readonly<Record<string, string>>;
}): BuiltContext {
  const { channel, args, vars } = input;
  const callerName = nonEmpty(channel.caller?.name);
  const connectedName = nonEmpty(channel.connected?.name);
  const lead = findLeadId({ callerName, connectedName, args });
  const callerNumber = nonEmpty(channel.caller?.number) ?? nonEmpty(channel.connected?.number) ?? nonEmpty(args.phone);
  const campaignId = nonEmpty(vars.CAMPCUST) ?? nonEmpty(args.campaign) ?? nonEmpty(args.campaign_id);
  // Lead fields first so PBX facts (args, variables) win on a name clash.
  const fields: Record<string, string> = { ...(input.leadFields ?? {}), ...vars, ...args };
  const context: CallContext = {
    pbx: 'asterisk',
    channelId: channel.id,
    ...(callerNumber ? { callerNumber } : {}),
    ...(callerName && !lead?.callId ? { callerName } : {}),
    ...(lead ? { leadId: lead.leadId } : {}),
    ...(campaignId ? { campaignId } : {}),
    fields,
  };
  return { context, ...(lead ? { lead } : {}), ...(callerNumber ? { phone: callerNumber } : {}) };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s !== undefined && s.trim() !== '' ? s.trim() : undefined;
}
