/**
 * Lead id from VICIdial's CallerID-name codes. AST_VDauto_dial.pl builds
 * VqueryCID = "V" + CIDdate (mmddhhmmss minus its first digit: 9 digits) + lead_id zero-padded to 10,
 * exactly 20 characters; see docs/CALLER_ID_NAME_CODES.txt in the VICIdial source.
 */
const AUTO_DIAL_CID = /^V\d{19}$/;

/** `V1241705010000012345` -> 12345; anything else (short, non-numeric, other prefix) -> undefined. */
export function leadIdFromCallerIdName(name: string | undefined | null): number | undefined {
  if (typeof name !== 'string') return undefined;
  const cid = name.trim();
  if (!AUTO_DIAL_CID.test(cid)) return undefined;
  const lead = parseInt(cid.substring(10, 20), 10);
  return Number.isSafeInteger(lead) && lead > 0 ? lead : undefined;
}

export function isVicidialCallId(name: string | undefined | null): boolean {
  return typeof name === 'string' && AUTO_DIAL_CID.test(name.trim());
}

export interface LeadSource {
  /** Where the id came from, for logs. */
  readonly from: 'caller.name' | 'connected.name' | 'stasis-arg';
  readonly leadId: number;
  /** The 20-character call id (ra_call_control `value`), when the id came from a CallerID name. */
  readonly callId?: string;
}

/** VICIdial itself falls back to CONNECTEDLINE(name); a `lead_id=` Stasis argument wins over both. */
export function findLeadId(input: {
  callerName?: string;
  connectedName?: string;
  args?: Readonly<Record<string, string>>;
}): LeadSource | undefined {
  const fromArg = input.args?.lead_id;
  if (fromArg !== undefined && /^\d{1,10}$/.test(fromArg.trim())) {
    const leadId = parseInt(fromArg.trim(), 10);
    if (leadId > 0) {
      const callId = [input.callerName, input.connectedName].find(isVicidialCallId)?.trim();
      return { from: 'stasis-arg', leadId, ...(callId ? { callId } : {}) };
    }
  }
  const c = leadIdFromCallerIdName(input.callerName);
  if (c !== undefined) return { from: 'caller.name', leadId: c, callId: input.callerName!.trim() };
  const k = leadIdFromCallerIdName(input.connectedName);
  if (k !== undefined) return { from: 'connected.name', leadId: k, callId: input.connectedName!.trim() };
  return undefined;
}
