import { afterEach, describe, expect, it } from 'vitest';
import { energy, tone } from '../helpers/fake-freeswitch-agent.ts';
import { makeHarness, waitFor, type Harness } from './harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

for (const playback of ['unicast', 'stream-audio'] as const) {
  describe(`call lifecycle (${playback})`, () => {
    it('greets, hears the caller, echoes back, and ends when the caller hangs up', async () => {
      h = await makeHarness({ playback });
      const ch = h.fs.placeCall({ vars: { ai_field_first_name: 'Ada', ai_lead_id: '42' } });
      await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
      const agent = h.factory.get(ch.uuid)!;
      expect(agent.context).toMatchObject({ pbx: 'freeswitch', channelId: ch.uuid, leadId: 42, fields: { first_name: 'Ada' } });
      if (playback === 'stream-audio') {
        const start = h.fs.commands.find((c) => c.startsWith('api uuid_audio_stream'))!;
        expect(start).toMatch(new RegExp(`^api uuid_audio_stream ${ch.uuid} start ws://127\\.0\\.0\\.1:\\d+/[^/]+/${ch.uuid} mono 8k \\{`));
        expect(start).not.toMatch(/ \{.* .*\}$/); // compact metadata, one argument
      } else {
        expect(h.fs.commands).toContain(`sendmsg ${ch.uuid}`);
      }
      // greeting (10 frames of tone) reaches the caller's ear
      for (let i = 0; i < 60 && ch.heard.filter((x) => energy(x.frame) > 1000).length < 10; i++) await h.step();
      expect(ch.heard.filter((x) => energy(x.frame) > 1000).length).toBeGreaterThanOrEqual(10);
      // caller speaks: the agent receives exactly that audio (160-sample frames), and echoes it
      const speech = tone(8, 1000, 6000);
      ch.say(speech);
      for (let i = 0; i < 60 && agent.outbound.length < 18; i++) await h.step();
      const got = agent.inbound.filter((f) => energy(f) > 1000);
      expect(got.length).toBe(8);
      expect(Array.from(got[0]!)).toEqual(Array.from(speech[0]!));
      expect(agent.outbound.length).toBe(18);
      ch.hangup();
      await waitFor(() => h!.adapter.counters().activeCalls === 0, 'call cleaned up');
      expect(agent.endReason).toBe('caller-hangup');
      expect(h.adapter.counters()).toMatchObject({ callsStarted: 1, callsEnded: 1, hangupsByCaller: 1 });
      expect(h.ticker.size).toBe(0);
    });

    it('agent hangup kills the channel (uuid_kill) and releases everything', async () => {
      h = await makeHarness({ playback });
      const ch = h.fs.placeCall();
      await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
      await h.step(3);
      h.factory.get(ch.uuid)!.act({ type: 'hangup', reason: 'done' });
      await waitFor(() => !ch.up && h!.adapter.counters().activeCalls === 0, 'hung up');
      expect(h.fs.commands).toContain(`api uuid_kill ${ch.uuid} NORMAL_CLEARING`);
      expect(h.fs.commands.filter((c) => c.startsWith('api uuid_kill')).length).toBe(1);
      expect(h.adapter.counters().hangupsByAgent).toBe(1);
      if (playback === 'stream-audio') await waitFor(() => ch.wsCloseCodes.includes(1000), 'ws closed 1000');
    });

    it('transfer sets the summary variable, then uuid_transfer to the configured target only', async () => {
      h = await makeHarness({ playback });
      const ch = h.fs.placeCall();
      await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
      const agent = h.factory.get(ch.uuid)!;
      agent.act({ type: 'transfer', target: 'sales', summary: 'wants a quote\nfor 3 panels' });
      await waitFor(() => ch.transferredTo !== null && h!.adapter.counters().activeCalls === 0, 'transferred');
      expect(ch.transferredTo).toBe('5000 XML agents');
      expect(ch.vars.ai_summary).toBe('wants a quote for 3 panels');
      const setvar = h.fs.commands.findIndex((c) => c.startsWith('api uuid_setvar'));
      const xfer = h.fs.commands.findIndex((c) => c.startsWith('api uuid_transfer'));
      expect(setvar).toBeGreaterThanOrEqual(0);
      expect(xfer).toBeGreaterThan(setvar);
      expect(ch.up).toBe(true); // transferred, not killed
      expect(h.fs.commands.some((c) => c.startsWith('api uuid_kill'))).toBe(false);
      expect(agent.endReason).toBe('transferred');
    });

    it('caller hangs up while the transfer is in flight: ends as caller-hangup, nothing killed or transferred', async () => {
      h = await makeHarness({ playback });
      const ch = h.fs.placeCall();
      await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
      const agent = h.factory.get(ch.uuid)!;
      h.fs.beforeApi = (cmd) => {
        if (cmd === 'uuid_setvar') {
          h!.fs.beforeApi = null;
          ch.hangup('NORMAL_CLEARING'); // the caller drops as the transfer's first command arrives
        }
      };
      agent.act({ type: 'transfer', target: 'sales', summary: 'x' });
      await waitFor(() => h!.adapter.counters().activeCalls === 0, 'call released');
      expect(agent.endReason).toBe('caller-hangup');
      expect(h.adapter.counters().transfersAbandoned).toBe(1);
      expect(ch.transferredTo).toBeNull();
      expect(h.fs.commands.some((c) => c.startsWith('api uuid_kill'))).toBe(false);
    });

    it('an unknown transfer target is refused: the call ends as an error and the caller is hung up', async () => {
      h = await makeHarness({ playback });
      const ch = h.fs.placeCall();
      await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
      const agent = h.factory.get(ch.uuid)!;
      agent.act({ type: 'transfer', target: 'nowhere', summary: 'x' });
      await waitFor(() => h!.adapter.counters().activeCalls === 0, 'call released');
      expect(h.adapter.counters().transfersRejected).toBe(1);
      expect(h.fs.commands.some((c) => c.startsWith('api uuid_transfer'))).toBe(false);
      expect(h.fs.commands.filter((c) => c.includes('uuid_kill')), h.fs.commands.join('\n')).toHaveLength(1);
      expect(agent.endReason).toBe('error');
    });

    it('DTMF events reach the agent', async () => {
      h = await makeHarness({ playback });
      const ch = h.fs.placeCall();
      await waitFor(() => h!.factory.get(ch.uuid)?.started === true, 'agent started');
      ch.dtmf('5');
      ch.dtmf('#');
      await waitFor(() => h!.factory.get(ch.uuid)!.digits.length === 2, 'digits');
      expect(h.factory.get(ch.uuid)!.digits).toEqual(['5', '#']);
    });
  });
}

describe('which calls are ours', () => {
  it('ignores channels without the marker variable', async () => {
    h = await makeHarness();
    h.fs.placeCall({ marked: false });
    await h.step(3);
    expect(h.factory.created.length).toBe(0);
  });

  it('hands calls past maxCalls back to the dialplan instead of killing them', async () => {
    h = await makeHarness({ maxCalls: 1 });
    const a = h.fs.placeCall();
    const b = h.fs.placeCall();
    await waitFor(() => h!.fs.commands.some((c) => c.startsWith(`api uuid_transfer ${b.uuid} `)), 'second call handed back');
    expect(h.fs.commands).toContain(`api uuid_setvar ${b.uuid} AI_BRIDGE_REFUSED max-calls`);
    expect(h.fs.commands.some((c) => c.startsWith('api uuid_kill'))).toBe(false);
    expect(a.up).toBe(true);
    expect(h.adapter.counters().callsRejectedBusy).toBe(1);
  });
});
