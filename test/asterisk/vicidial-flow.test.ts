import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { vicidialSchema } from '../../src/config/vicidial.ts';
import { createVicidial, type Vicidial } from '../../src/vicidial/action-sink.ts';
import { FakeVicidial } from '../helpers/fake-vicidial.ts';
import { leakReport, rig, waitFor, type Rig } from './helpers.ts';

let r: Rig | null = null;
let vd: Vicidial | null = null;
let fv: FakeVicidial | null = null;
let dir = '';
afterEach(async () => {
  await r?.close();
  vd?.close();
  await fv?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  r = null;
  vd = null;
  fv = null;
});

async function setup(mode: 'routing-extension' | 'remote-agent') {
  fv = await new FakeVicidial().start();
  fv.addLead({ lead_id: 12345, first_name: 'Ann', last_name: 'Lee', phone_number: '5551234567' });
  dir = mkdtempSync(join(tmpdir(), 'vdflow-'));
  vd = createVicidial(
    vicidialSchema.parse({ url: fv.url, user: 'aiapi', pass: 'apipass', queueDir: dir, handoffMode: mode, remoteAgentUser: 'ra8001', retries: { attempts: 1, baseMs: 10, maxMs: 100 } })!,
  );
  r = await rig({ vicidial: vd, transfers: { closer: { description: 'agent', ingroup: 'AI_XFER', priority: 1 } } });
  await r.adapter.start();
}

describe('ARI adapter with VICIdial', () => {
  it('puts the lead fields in the call context and sends the disposition and DNC at the end', async () => {
    await setup('routing-extension');
    const caller = r!.fake.startCall({ callerName: 'V1241705010000012345', callerNumber: '5551234567', vars: { CAMPCUST: 'AICAMP' } });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session');
    const s = r!.factory.sessions[0];
    expect(s.context.fields).toMatchObject({ first_name: 'Ann', last_name: 'Lee', CAMPCUST: 'AICAMP' });
    s.act({ type: 'add_to_dnc', reason: 'asked' });
    r!.fake.hangup(caller.id);
    await waitFor(() => leakReport(r!).activeCalls === 0, 'ended');
    await vd!.outbox.idle();
    expect(fv!.dnc.has('SYSTEM_INTERNAL:5551234567')).toBe(true);
    expect(fv!.leads.get(12345)?.status).toBe('DNC');
  });

  it('remote-agent mode: the agent hangs up through ra_call_control, and transfers to an in-group through it', async () => {
    await setup('remote-agent');
    const a = r!.fake.startCall({ callerName: 'V1241705010000012345', callerNumber: '5551234567' });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session');
    r!.factory.sessions[0].act({ type: 'set_disposition', status: 'NI' });
    r!.factory.sessions[0].act({ type: 'hangup', reason: 'done' });
    await waitFor(() => fv!.raCalls.length === 1, 'ra_call_control');
    expect(fv!.raCalls[0]).toMatchObject({ stage: 'HANGUP', value: 'V1241705010000012345', agent_user: 'ra8001', status: 'NI' });
    // VICIdial then hangs the channel up over AMI:
    r!.fake.hangup(a.id);
    await waitFor(() => leakReport(r!).activeCalls === 0, 'ended');
    expect(r!.factory.sessions[0].ended?.reason).toBe('agent-hangup');

    r!.fake.startCall({ callerName: 'V1241705010000012345', callerNumber: '5551234567' });
    await waitFor(() => r!.factory.sessions[1]?.started === true, 'session 2');
    r!.factory.sessions[1].act({ type: 'transfer', target: 'closer', summary: 'wants an agent' });
    await waitFor(() => fv!.raCalls.length === 2, 'ra transfer');
    expect(fv!.raCalls[1]).toMatchObject({ stage: 'INGROUPTRANSFER', ingroup_choices: 'AI_XFER' });
    await vd!.outbox.idle();
    expect(fv!.leads.get(12345)?.comments).toBe('wants an agent');
  });
});
