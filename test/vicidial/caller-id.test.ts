import { describe, expect, it } from 'vitest';
import { findLeadId, leadIdFromCallerIdName } from '../../src/vicidial/caller-id.ts';
import { ingroupExtension } from '../../src/vicidial/ingroup.ts';
import { parseHeaderRows, parseReply } from '../../src/vicidial/api-reply.ts';
import { vicidialDateTime } from '../../src/vicidial/action-sink.ts';

describe('VICIdial CallerID-name lead id', () => {
  it('parses the 20-character auto-dial code', () => {
    expect(leadIdFromCallerIdName('V1241705010000012345')).toBe(12345);
    expect(leadIdFromCallerIdName('V0101000009876543210')).toBe(9876543210);
  });
  it('rejects short, long, non-numeric, other prefixes and missing names', () => {
    expect(leadIdFromCallerIdName('V124170501000001234')).toBeUndefined(); // 19 chars
    expect(leadIdFromCallerIdName('V12417050100000123456')).toBeUndefined(); // 21 chars
    expect(leadIdFromCallerIdName('V12417050100000123x5')).toBeUndefined();
    expect(leadIdFromCallerIdName('M1241705010000012345')).toBeUndefined();
    expect(leadIdFromCallerIdName('V1241705010000000000')).toBeUndefined(); // lead 0 is no lead
    expect(leadIdFromCallerIdName('')).toBeUndefined();
    expect(leadIdFromCallerIdName(undefined)).toBeUndefined();
  });
  it('reads caller.name, then connected.name, and a lead_id= Stasis arg wins', () => {
    expect(findLeadId({ callerName: 'V1241705010000012345' })).toEqual({ from: 'caller.name', leadId: 12345, callId: 'V1241705010000012345' });
    expect(findLeadId({ callerName: 'John', connectedName: 'V1241705010000000777' })).toMatchObject({ from: 'connected.name', leadId: 777 });
    expect(findLeadId({ callerName: 'V1241705010000012345', args: { lead_id: '42' } })).toMatchObject({ from: 'stasis-arg', leadId: 42, callId: 'V1241705010000012345' });
    expect(findLeadId({ callerName: 'John', args: { lead_id: 'abc' } })).toBeUndefined();
    expect(findLeadId({})).toBeUndefined();
  });
});

describe('in-group transfer string', () => {
  it('builds VICIdial 90009 string with lead, digits-only phone and user', () => {
    expect(ingroupExtension({ ingroup: 'AI_XFER', leadId: 12345, phone: '(555) 123-4567', user: 'VDAD' })).toBe(
      '90009*AI_XFER**12345**5551234567**VDAD**',
    );
    expect(ingroupExtension({ ingroup: 'SALES' })).toBe('90009*SALES********');
  });
  it('refuses group names that are not VICIdial ids', () => {
    expect(() => ingroupExtension({ ingroup: 'X*1' })).toThrow(/in-group/);
  });
});

describe('API reply parsing', () => {
  it('takes the worst line of a multi-line reply', () => {
    const r = parseReply('SUCCESS: update_lead LEAD HAS BEEN UPDATED - 6666|193716\nNOTICE: update_lead SCHEDULED CALLBACK ADDED - 1|2\n', 'update_lead');
    expect(r.kind).toBe('success');
    expect(r.lines[0]).toEqual({ kind: 'success', fn: 'update_lead', message: 'LEAD HAS BEEN UPDATED', detail: ['6666', '193716'] });
    expect(r.lines[1].kind).toBe('notice');
  });
  it('recognises login and permission failures and never keeps the echoed password', () => {
    const login = parseReply('ERROR: Login incorrect, please try again: |aiapi|secretpw|', 'update_lead');
    expect(login.kind).toBe('error');
    expect(login.authFailure).toBe(true);
    expect(JSON.stringify(login)).not.toContain('secretpw');
    const perm = parseReply('ERROR: add_dnc_phone USER DOES NOT HAVE PERMISSION TO ADD DNC NUMBERS - 6666|0', 'add_dnc_phone');
    expect(perm.authFailure).toBe(true);
    const other = parseReply('ERROR: update_lead NO MATCHES FOUND IN THE SYSTEM - 6666|||', 'update_lead');
    expect(other.authFailure).toBe(false);
  });
  it('parses header rows by name', () => {
    expect(parseHeaderRows(['status|first_name|lead_id', 'NEW|Ann|7'])).toEqual([{ status: 'NEW', first_name: 'Ann', lead_id: '7' }]);
    expect(parseHeaderRows(['only header'])).toEqual([]);
  });
  it('formats callback times the way update_lead takes them', () => {
    expect(vicidialDateTime('2026-12-01T14:30')).toBe('2026-12-01 14:30:00');
    expect(vicidialDateTime('NOW')).toBe('NOW');
    expect(vicidialDateTime('3DAYS')).toBe('3DAYS');
  });
});
