import { mkdtempSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/media/clock.ts';
import { isBridgeError } from '../../src/errors.ts';
import { NonAgentApiClient } from '../../src/vicidial/non-agent-api.ts';
import { AgentApiClient } from '../../src/vicidial/agent-api.ts';
import { createVicidial } from '../../src/vicidial/action-sink.ts';
import { vicidialSchema, type VicidialConfig } from '../../src/config/vicidial.ts';
import { FakeVicidial } from '../helpers/fake-vicidial.ts';

let fake: FakeVicidial;
let dir: string;

beforeEach(async () => {
  fake = await new FakeVicidial().start();
  fake.addLead({ lead_id: 12345, first_name: 'Ann', last_name: "O'Neil", phone_number: '5551234567' });
  dir = mkdtempSync(join(tmpdir(), 'vdq-'));
});
afterEach(async () => {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Poll a condition (bounded): the outbox works on real sockets, its back-off on the manual clock. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function endpoint(pass = 'apipass') {
  return { url: fake.url, user: 'aiapi', pass, source: 'aibridge', timeoutMs: 2000 };
}
function config(over: Record<string, unknown> = {}): VicidialConfig {
  return vicidialSchema.parse({ url: fake.url, user: 'aiapi', pass: 'apipass', queueDir: dir, retries: { attempts: 2, baseMs: 10, maxMs: 100 }, ...over })!;
}

describe('Non-Agent API client against the fake VICIdial', () => {
  it('fetches lead fields by header name and POSTs credentials (not in the URL)', async () => {
    const api = new NonAgentApiClient(endpoint());
    const lead = await api.leadAllInfo(12345);
    expect(lead).toMatchObject({ first_name: 'Ann', last_name: "O'Neil", lead_id: '12345', phone_number: '5551234567' });
    expect(await api.leadAllInfo(999)).toBeUndefined();
    expect(await api.leadFieldInfo(12345, 'first_name')).toBe('Ann');
    const req = fake.requests[0];
    expect(req.method).toBe('POST');
    expect(req.fields).toMatchObject({ function: 'lead_all_info', source: 'aibridge', user: 'aiapi', pass: 'apipass', header: 'YES' });
  });

  it('updates status, adds DNC and updates log entries with typed results', async () => {
    const api = new NonAgentApiClient(endpoint());
    const r = await api.updateLead({ lead_id: 12345, status: 'SALE' });
    expect(r.kind).toBe('success');
    expect(fake.leads.get(12345)?.status).toBe('SALE');
    await api.addDncPhone('5551234567');
    expect(fake.dnc.has('SYSTEM_INTERNAL:5551234567')).toBe(true);
    await expect(api.addDncPhone('5551234567')).rejects.toMatchObject({ code: 'VICIDIAL_API' });
    await api.updateLogEntry('V1241705010000012345', 'AICAMP', 'AIEND');
    expect(fake.logStatus.get('V1241705010000012345')).toBe('AIEND');
    await expect(api.updateLead({ lead_id: 1, status: 'X' })).rejects.toThrow(/NO MATCHES FOUND/);
  });

  it('reports a bad login as VICIDIAL_AUTH without the password', async () => {
    const api = new NonAgentApiClient(endpoint('wrong-secret'));
    const err = await api.updateLead({ lead_id: 12345, status: 'SALE' }).catch((e: unknown) => e);
    expect(isBridgeError(err, 'VICIDIAL_AUTH')).toBe(true);
    expect((err as Error).message).toMatch(/Login incorrect/);
    expect((err as Error).message).not.toContain('wrong-secret');
    await expect(api.startupCheck()).rejects.toMatchObject({ code: 'VICIDIAL_AUTH' });
  });

  it('start-up check passes for a user with permissions and fails for one without', async () => {
    expect((await new NonAgentApiClient(endpoint()).startupCheck()).version).toBe('2.14-917a');
    fake.users.set('lowuser', { pass: 'p1', userLevel: 7, modifyLeads: false, functions: ['ALL_FUNCTIONS'] });
    const low = new NonAgentApiClient({ ...endpoint(), user: 'lowuser', pass: 'p1' });
    await expect(low.startupCheck()).rejects.toThrow(/PERMISSION/);
  });

  it('ra_call_control hangs up and transfers with the call id and agent user', async () => {
    const agent = new AgentApiClient(endpoint());
    expect(await agent.raCallControl({ callId: 'V1241705010000012345', agentUser: 'ra1', stage: 'HANGUP', status: 'AIEND' })).toBe('hungup');
    expect(await agent.raCallControl({ callId: 'V1241705010000012345', agentUser: 'ra1', stage: 'INGROUPTRANSFER', ingroup: 'AI_XFER' })).toBe('transferred');
    expect(fake.raCalls[1]).toMatchObject({ ingroup_choices: 'AI_XFER', stage: 'INGROUPTRANSFER', agent_user: 'ra1' });
    expect(fake.requests.at(-1)?.path).toBe('/agc/api.php');
  });
});

describe('action sink, retries and the durable queue', () => {
  it('turns actions and the end of a call into API calls', async () => {
    const vd = createVicidial(config());
    const info = { leadId: 12345, phone: '5551234567', campaignId: 'AICAMP', callId: 'V1241705010000012345' };
    vd.sink.handle('c1', info, { type: 'schedule_callback', when: '2026-12-01T10:00', comments: 'after lunch' });
    vd.sink.handle('c1', info, { type: 'set_disposition', status: 'SALE' });
    vd.sink.callEnded('c1', info, 'agent-hangup');
    vd.sink.handle('c2', info, { type: 'add_to_dnc', reason: 'asked' });
    vd.sink.callEnded('c2', info, 'caller-hangup');
    await vd.outbox.idle();
    expect(fake.callbacks).toEqual([{ lead_id: 12345, status: 'CALLBK', datetime: '2026-12-01 10:00:00', type: 'ANYONE', comments: 'after lunch' }]);
    expect(fake.dnc.has('SYSTEM_INTERNAL:5551234567')).toBe(true);
    expect(fake.leads.get(12345)?.status).toBe('DNC');
    const statuses = fake.requests.filter((r) => r.fields.function === 'update_lead' && r.fields.status).map((r) => r.fields.status);
    expect(statuses).toEqual(['SALE', 'DNC']);
    expect(vd.outbox.pending).toBe(0);
    vd.close();
  });

  it('retries a failing request and sends it once VICIdial answers', async () => {
    const clock = new ManualClock();
    const vd = createVicidial(config(), undefined, clock);
    fake.mode = 'http503';
    vd.sink.callEnded('c1', { leadId: 12345 }, 'agent-hangup', 'NI');
    await until(() => vd.outbox.stats.retries === 1 && clock.pendingTimers() === 1); // waiting between attempts
    clock.advance(10);
    await until(() => vd.outbox.stats.retries === 2 && clock.pendingTimers() === 1); // attempts used up: back-off
    expect(vd.outbox.pending).toBe(1);
    expect(fake.leads.get(12345)?.status).toBe('NEW');
    fake.mode = 'up';
    clock.advance(10); // the back-off timer fires and drains
    await until(() => vd.outbox.pending === 0);
    expect(fake.leads.get(12345)?.status).toBe('NI');
    expect(fake.requests.filter((r) => r.fields.function === 'update_lead')).toHaveLength(3);
    vd.close();
  });

  it('keeps a disposition and a DNC request on disk while VICIdial is unreachable and sends them after a restart', async () => {
    const clock = new ManualClock();
    fake.mode = 'reset';
    const first = createVicidial(config({ retries: { attempts: 1, baseMs: 10, maxMs: 100 } }), undefined, clock);
    first.sink.handle('c1', { leadId: 12345, phone: '5551234567' }, { type: 'add_to_dnc', reason: 'asked' });
    first.sink.callEnded('c1', { leadId: 12345, phone: '5551234567' }, 'caller-hangup');
    await first.outbox.idle();
    expect(first.outbox.pending).toBe(2);
    first.close(); // the daemon stops (or crashes) here
    const journal = readFileSync(join(dir, 'vicidial-queue.jsonl'), 'utf8');
    expect(journal).toContain('add_dnc_phone');
    expect(journal).not.toContain('"op":"done"');
    appendFileSync(join(dir, 'vicidial-queue.jsonl'), '{"op":"add","req":{"id":"torn'); // crash mid-write
    expect(fake.dnc.size).toBe(0);

    fake.mode = 'up';
    const second = createVicidial(config());
    await second.outbox.idle();
    expect(fake.dnc.has('SYSTEM_INTERNAL:5551234567')).toBe(true);
    expect(fake.leads.get(12345)?.status).toBe('DNC');
    expect(second.outbox.pending).toBe(0);
    second.close();
    const third = createVicidial(config());
    expect(third.outbox.pending).toBe(0); // nothing is sent twice
    third.close();
  });

  it('keeps requests queued on an auth failure (nothing lost) and drops a definite rejection', async () => {
    const clock = new ManualClock();
    const vd = createVicidial(config({ pass: 'bad-pass' }), undefined, clock);
    vd.sink.callEnded('c1', { leadId: 12345 }, 'agent-hangup', 'SALE');
    await vd.outbox.idle();
    expect(vd.outbox.stats.authFailures).toBe(1);
    expect(vd.outbox.pending).toBe(1);
    vd.close();
    const ok = createVicidial(config());
    ok.sink.callEnded('c9', { leadId: 424242 }, 'agent-hangup', 'SALE'); // no such lead
    await ok.outbox.idle();
    expect(fake.leads.get(12345)?.status).toBe('SALE'); // the queued one went through
    expect(ok.outbox.stats.rejected).toBe(1);
    expect(ok.outbox.pending).toBe(0);
    ok.close();
  });
});
