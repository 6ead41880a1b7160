/**
 * End to end through the FreeSWITCH path with the REAL agent: startDaemon with a `freeswitch`
 * section (default playback: unicast) against the fake FreeSWITCH, driven by the real modesl. The
 * fake runs its own 20 ms media clock: it sends the caller's audio (CNG when silent) and keeps
 * every frame we write into the channel. Greeting heard, one answer understood, hang-up clean-up.
 */
import { describe, expect, it } from 'vitest';
import { FakeFreeswitch } from '../helpers/fake-freeswitch.ts';
import { agentText, callerText, callerVoice, frames, readRecords, rms, startTestDaemon, waitFor, waitQuiet, closeAfterEach } from './helpers.ts';

const closing = closeAfterEach();

describe('e2e: daemon + real agent + fake FreeSWITCH (unicast)', () => {
  it('greets, understands "sure go ahead", asks the homeowner question, cleans up on hang-up', async () => {
    const voice = await callerVoice(['sure go ahead']);
    const fs = closing(await FakeFreeswitch.start());
    fs.startRealtime();
    const rig = await startTestDaemon({
      freeswitch: { port: fs.port, password: fs.password, unicast: { freeswitchPortMin: 38080, freeswitchPortMax: 38099 } },
      media: { rtpPortMin: 38100, rtpPortMax: 38119 },
    });
    closing(rig);
    const { daemon } = rig;
    expect(daemon.freeswitch!.state).toBe('ready');
    expect(daemon.freeswitch!.wsPort).toBe(0); // unicast is the default: no WebSocket server

    const ch = fs.placeCall({ callerNumber: '15551234567', vars: { ai_field_first_name: 'Ada', ai_lead_id: '42', ai_campaign: 'SOLAR' } });
    await waitFor(() => fs.commands.includes(`sendmsg ${ch.uuid}`), 'unicast started', 10_000);

    // 1. The greeting is written into the channel: the caller hears it.
    const heard = () => ch.heard.filter((h) => h.source === 'unicast').length;
    await waitQuiet(heard, 100, 1200, 'the greeting to finish', 30_000);
    const greeting = ch.heard.slice();
    expect(greeting.every((h) => h.frame.length === 160)).toBe(true);
    expect(rms(concatFrames(greeting.map((h) => h.frame)))).toBeGreaterThan(1000);

    // 2. The caller answers; the agent moves on to the homeowner question.
    ch.say(frames(voice.get('sure go ahead')!));
    const before = heard();
    await waitFor(() => heard() - before >= 50, 'the agent’s next prompt', 15_000);
    expect(rms(concatFrames(ch.heard.slice(before, before + 50).map((h) => h.frame)))).toBeGreaterThan(1000);

    // 3. Caller hangs up: the call and its resources are gone; FreeSWITCH was not asked to kill it.
    ch.hangup();
    await waitFor(() => daemon.activeCalls() === 0 && daemon.freeswitch!.counters().activeCalls === 0, 'cleanup', 10_000);
    expect(fs.commands.some((c) => c.startsWith('api uuid_kill'))).toBe(false);
    expect(daemon.freeswitch!.counters()).toMatchObject({ callsStarted: 1, callsEnded: 1, hangupsByCaller: 1 });
    await waitFor(() => readRecords(rig.recordsDir).length === 1, 'the call record', 10_000);
    const [{ record, wav }] = readRecords(rig.recordsDir);
    expect(record.pbx).toBe('freeswitch');
    expect(record.endReason).toBe('caller-hangup');
    expect(record.leadId).toBe(42);
    expect(callerText(record)).toContain('sure go ahead');
    expect(agentText(record)[0]).toMatch(/^Hi Ada,/);
    expect(agentText(record).join(' ')).toMatch(/homeowner/i);
    expect(wav).not.toBeNull();
  }, 60_000);
});

function concatFrames(list: Int16Array[]): Int16Array {
  const out = new Int16Array(list.length * 160);
  list.forEach((f, i) => out.set(f.subarray(0, 160), i * 160));
  return out;
}
