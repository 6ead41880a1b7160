import { afterEach, describe, expect, it } from 'vitest';
import { ulawDecode } from '../../src/media/g711.ts';
import { NO_LEAKS, leakReport, rig, rms, ulawTone, waitFor, type Rig } from './helpers.ts';

let r: Rig | null = null;
afterEach(async () => {
  await r?.close();
  r = null;
});

const VICI_CID = 'V1241705010000012345';

describe('ARI adapter: one call through the real ari-client against the fake Asterisk', () => {
  it('answers, bridges, creates ExternalMedia at our socket, exchanges RTP, and cleans up on caller hang-up', async () => {
    r = await rig();
    await r.adapter.start();
    expect(r.adapter.state).toBe('connected');
    const caller = r.fake.startCall({
      callerName: VICI_CID,
      callerNumber: '5551234567',
      args: ['greeting=short', VICI_CID],
      vars: { CAMPCUST: 'AICAMP' },
      state: 'Ring',
    });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session start');
    const session = r.factory.sessions[0];

    // Context: Stasis args, channel variables, VICIdial lead from the CallerID name.
    expect(session.context).toMatchObject({ pbx: 'asterisk', channelId: caller.id, callerNumber: '5551234567', leadId: 12345, campaignId: 'AICAMP' });
    expect(session.context.fields).toMatchObject({ greeting: 'short', arg1: VICI_CID, CAMPCUST: 'AICAMP' });

    // REST sequence as the fixture: answer, bridge, caller in, ExternalMedia (pre-assigned id), EM in.
    const rest = r.fake.requests.filter((q) => !q.path.startsWith('/ari/api-docs') && !q.path.startsWith('/ari/asterisk/info') && q.method !== 'GET');
    const ops = rest.map((q) => `${q.method} ${q.path.split('?')[0].replace(caller.id, 'CALLER').replace(/aibridge-(em|br)-[^/?]+/g, 'aibridge-$1')}`);
    expect(ops.slice(0, 5)).toEqual([
      'POST /ari/channels/CALLER/answer',
      'POST /ari/bridges/aibridge-br',
      'POST /ari/bridges/aibridge-br/addChannel',
      'POST /ari/channels/externalMedia',
      'POST /ari/bridges/aibridge-br/addChannel',
    ]);
    const emReq = new URL('http://x' + rest[3].path).searchParams;
    expect(emReq.get('channelId')).toMatch(/^aibridge-em-/);
    expect(emReq.get('format')).toBe('ulaw');
    expect(emReq.get('app')).toBe('ai-agent');
    const [host, port] = emReq.get('external_host')!.split(':');
    expect(host).toBe('127.0.0.1');
    expect(r.pool.isInUse(Number(port))).toBe(true);

    // The ExternalMedia channel's own StasisStart (sent before the REST response) is not a call.
    expect(r.factory.sessions).toHaveLength(1);
    expect(r.adapter.snapshot().activeCalls).toBe(1);

    // Greeting reaches the UnicastRTP side with no inbound packet ever sent (Asterisk is silent).
    const um = r.fake.rtpFor(caller.id)!;
    await waitFor(() => um.received.length >= 20, 'greeting RTP at Asterisk');
    expect(um.counters.sent).toBe(0);
    const got = um.received.slice(0, 20);
    expect(got.every((p) => p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    expect(new Set(got.map((p) => p.ssrc)).size).toBe(1);
    for (let i = 1; i < got.length; i++) expect((got[i].sequence - got[i - 1].sequence) & 0xffff).toBe(1);
    expect(got[0].from).toBe(`127.0.0.1:${port}`); // from the socket we named as external_host
    expect(um.counters.strictDrops).toBe(0);
    expect(rms([ulawDecode(new Uint8Array(um.receivedPayload()))])).toBeGreaterThan(3000);

    // Caller audio (what Asterisk sends) reaches the session.
    await um.play(ulawTone(10));
    await waitFor(() => session.inbound.length >= 10, 'inbound frames');
    expect(rms(session.inbound.slice(0, 10))).toBeGreaterThan(2500);

    // Caller hangs up: Asterisk keeps UnicastRTP + bridge until we DELETE them.
    r.fake.hangup(caller.id);
    await waitFor(() => session.ended !== null && leakReport(r!).unicastChannels === 0 && r!.fake.bridges.size === 0, 'cleanup');
    expect(session.ended?.reason).toBe('caller-hangup');
    await waitFor(() => r!.adapter.snapshot().activeCalls === 0, 'call removed');
    expect(leakReport(r)).toEqual(NO_LEAKS);
    const deletes = r.fake.requests.filter((q) => q.method === 'DELETE').map((q) => q.path.replace(/aibridge-(em|br)-[^/?]+/, 'aibridge-$1'));
    expect(deletes).toEqual(['/ari/channels/aibridge-em?reason=normal', '/ari/bridges/aibridge-br']);
  });

  it('hangs up the caller when the agent asks, and leaves nothing behind', async () => {
    r = await rig();
    await r.adapter.start();
    const caller = r.fake.startCall({ callerName: 'John', callerNumber: '5550001111' });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session start');
    const session = r.factory.sessions[0];
    expect(session.context.leadId).toBeUndefined();
    expect(session.context.callerName).toBe('John');
    session.act({ type: 'hangup', reason: 'done' });
    await waitFor(() => !r!.fake.channels.has(caller.id), 'caller hung up');
    await waitFor(() => leakReport(r!).activeCalls === 0, 'call removed');
    expect(session.ended?.reason).toBe('agent-hangup');
    expect(leakReport(r)).toEqual(NO_LEAKS);
  });

  it('delivers ChannelDtmfReceived digits of the caller to the session', async () => {
    r = await rig();
    await r.adapter.start();
    const caller = r.fake.startCall({ callerNumber: '5550001111' });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session start');
    r.fake.dtmf(caller.id, '1');
    r.fake.dtmf(caller.id, '#');
    await waitFor(() => r!.factory.sessions[0].digits.length === 2, 'digits');
    expect(r.factory.sessions[0].digits).toEqual(['1', '#']);
  });

  it('transfers into a configured VICIdial in-group with the summary and disposition set first', async () => {
    r = await rig({
      transfers: {
        closer: { description: 'live agent', ingroup: 'AI_XFER', priority: 1 },
        sales: { description: 'sales', context: 'ai-transfer', extension: 'sales', priority: 2 },
      },
    });
    await r.adapter.start();
    const caller = r.fake.startCall({ callerName: VICI_CID, callerNumber: '5551234567' });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session start');
    const session = r.factory.sessions[0];
    session.act({ type: 'set_disposition', status: 'XFER' });
    session.act({ type: 'transfer', target: 'closer', summary: 'Wants a quote\nfor solar' });
    await waitFor(() => r!.fake.channels.get(caller.id)?.continuedTo !== undefined, 'continue');
    const ch = r.fake.channels.get(caller.id)!;
    expect(ch.continuedTo).toEqual({ context: 'default', extension: '90009*AI_XFER**12345**5551234567**VDAD**', priority: 1 });
    expect(ch.vars.get('AI_SUMMARY')).toBe('Wants a quote for solar');
    expect(ch.vars.get('AI_DISPOSITION')).toBe('XFER');
    expect(ch.vars.get('AI_BRIDGE_STATUS')).toBe('TRANSFER');
    await waitFor(() => leakReport(r!).activeCalls === 0, 'call removed');
    expect(session.ended?.reason).toBe('transferred');
    expect(leakReport(r)).toEqual(NO_LEAKS);
    expect(r.fake.channels.has(caller.id)).toBe(true); // the caller lives on in the dialplan
  });

  it('refuses a transfer target that is not in config: the caller goes back to the dialplan, not to it', async () => {
    r = await rig({ transfers: { sales: { description: 'sales', context: 'ai-transfer', extension: 'sales', priority: 2 } } });
    await r.adapter.start();
    const caller = r.fake.startCall({ callerNumber: '5551234567' });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session start');
    r.factory.sessions[0].act({ type: 'transfer', target: 'not-configured', summary: 'x' });
    await waitFor(() => r!.fake.channels.get(caller.id)?.continuedTo !== undefined, 'hand-back');
    expect(r.fake.channels.get(caller.id)?.continuedTo).toEqual({});
    expect(r.fake.channels.get(caller.id)?.vars.get('AI_BRIDGE_STATUS')).toBe('ERROR');
    await waitFor(() => leakReport(r!).activeCalls === 0, 'call removed');
    expect(leakReport(r)).toEqual(NO_LEAKS);
  });

  it('transfers to a plain dialplan target', async () => {
    r = await rig({ transfers: { sales: { description: 'sales', context: 'ai-transfer', extension: 'sales', priority: 2 } } });
    await r.adapter.start();
    const caller = r.fake.startCall({ callerNumber: '5551234567' });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session start');
    r.factory.sessions[0].act({ type: 'transfer', target: 'sales', summary: '' });
    await waitFor(() => r!.fake.channels.get(caller.id)?.continuedTo !== undefined, 'continue');
    expect(r.fake.channels.get(caller.id)?.continuedTo).toEqual({ context: 'ai-transfer', extension: 'sales', priority: 2 });
  });

  it('caller hangs up while the transfer is in flight: ends as caller-hangup, no hand-back, nothing left behind', async () => {
    r = await rig({ transfers: { closer: { description: 'live agent', ingroup: 'AI_XFER', priority: 1 } } });
    await r.adapter.start();
    const caller = r.fake.startCall({ callerName: VICI_CID, callerNumber: '5551234567' });
    await waitFor(() => r!.factory.sessions[0]?.started === true, 'session start');
    const session = r.factory.sessions[0];
    // The caller drops at the instant the first transfer request (the summary variable) reaches Asterisk.
    r.fake.beforeRequest = (method, path) => {
      if (method === 'POST' && path.includes(`/channels/${caller.id}/variable`)) {
        r!.fake.beforeRequest = null;
        r!.fake.hangup(caller.id);
      }
    };
    session.act({ type: 'transfer', target: 'closer', summary: 'Wants a quote' });
    await waitFor(() => leakReport(r!).activeCalls === 0, 'call removed');
    expect(session.ended?.reason).toBe('caller-hangup');
    expect(leakReport(r)).toEqual(NO_LEAKS);
    const afterHangup = r.fake.requests.filter((q) => q.path.includes(caller.id) && q.method === 'POST' && q.path.includes('/continue'));
    expect(afterHangup).toEqual([]); // no transfer or hand-back sent for a channel that is gone
    expect(r.adapter.snapshot().transfersAbandoned).toBe(1);
  });
});
