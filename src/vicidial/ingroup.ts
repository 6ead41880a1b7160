/**
 * VICIdial's own transfer-to-in-group dial string (agi-VDAD_ALL_inbound.agi splits it on `*`:
 * [1] in-group, [3] lead id, [5] phone, [6] fronter user). Dialled in servers.ext_context, priority 1.
 */
import { BridgeError } from '../errors.ts';

const GROUP = /^[A-Za-z0-9_-]{2,20}$/;
const USER = /^[A-Za-z0-9_-]{0,20}$/;

export function ingroupExtension(p: { ingroup: string; leadId?: number; phone?: string; user?: string }): string {
  if (!GROUP.test(p.ingroup)) {
    throw new BridgeError('TOOL_FORBIDDEN_TARGET', `in-group name is not a VICIdial group id: ${JSON.stringify(p.ingroup)}`, {
      ingroup: p.ingroup,
    });
  }
  const user = p.user ?? '';
  if (!USER.test(user)) throw new BridgeError('CONFIG_INVALID', 'in-group transfer user must be a VICIdial user id', {});
  // Digits only: the string goes through a Local/ dial and an AGI split on `*`.
  const phone = (p.phone ?? '').replace(/\D/g, '');
  const lead = p.leadId !== undefined && Number.isSafeInteger(p.leadId) && p.leadId > 0 ? String(p.leadId) : '';
  return `90009*${p.ingroup}**${lead}**${phone}**${user}**`;
}
