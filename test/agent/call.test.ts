import { describe, expect, it } from 'vitest';
import { BridgeError } from '../../src/errors.ts';
import { makeCall, QUIET, StreamingBrain, VOICE } from './harness.ts';

const LONG = 'This is a fairly long reply that goes on for a while so that the caller has time to interrupt it. And here is a second sentence to be sure.';

describe('Call turn-taking', () => {
  it('plays the greeting, listens, and answers a caller turn with measured latency', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hello there, do you have a minute?' }, { text: 'Great, thank you.' }];
    const h = makeCall({ brain });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    expect(h.tts.spoken[0]).toMatch(/Hello there/);
    expect(h.outLog.some((o) => o.audible)).toBe(true);

    h.stt.finals.push('yes');
    await h.run(400, VOICE); // caller speaks 400 ms
    await h.until(() => h.call.currentState === 'speaking');
    await h.until(() => h.call.currentState === 'listening');

    expect(brain.inputs[1]).toEqual({ kind: 'utterance', text: 'yes', confidence: undefined });
    const rec = h.call.record;
    expect(rec.transcript.map((t) => t.role)).toEqual(['agent', 'caller', 'agent']);
    expect(rec.transcript[1].text).toBe('yes');
    expect(rec.metrics.turnLatencyMs).toHaveLength(1);
    // end of speech -> reply >= the configured end-of-turn silence, and not absurdly more
    expect(rec.metrics.turnLatencyMs[0]).toBeGreaterThanOrEqual(h.cfg.agent.endOfTurnMs);
    expect(rec.metrics.turnLatencyMs[0]).toBeLessThan(h.cfg.agent.endOfTurnMs + h.cfg.media.vad.hangoverMs + 200);
    expect(rec.metrics.turns[0].sttFinalMs).toBeDefined();
  });

  it('between frames: says when the turn will end on silence, ends it exactly then, and has the reply ready', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hello there.' }, { text: 'Great.' }];
    const h = makeCall({ brain });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    expect(h.call.turnEndDueAt()).toBeNull(); // nobody spoke yet: a reprompt is no turn end
    h.stt.finals.push('yes');
    await h.run(400, VOICE);
    expect(h.call.turnEndDueAt()).toBeNull(); // still speaking
    await h.until(() => h.call.turnEndDueAt() !== null);
    const due = h.call.turnEndDueAt()!;
    expect(due).toBeGreaterThan(h.clock.now());
    expect(due - h.clock.now()).toBeLessThanOrEqual(h.cfg.agent.endOfTurnMs);
    // Frames go on until the tick before it; then, between frames, a millisecond short and on time.
    while (h.clock.now() + 20 < due) await h.tick();
    expect(h.call.currentState).toBe('listening');
    h.clock.advance(due - h.clock.now() - 1);
    expect(h.call.pollTurnEnd()).toBe(false);
    expect(h.call.hasOutbound()).toBe(false);
    h.clock.advance(1);
    expect(h.call.pollTurnEnd()).toBe(true);
    expect(h.call.currentState).toBe('thinking');
    expect(h.call.turnEndDueAt()).toBeNull();
    expect(h.call.pollTurnEnd()).toBe(false);
    for (let i = 0; i < 20; i++) await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    expect(h.call.hasOutbound()).toBe(true);
    expect(h.call.pullOutbound()).not.toBeNull();
    // the turn's latency is counted to this frame, pulled between ticks
    const turn = h.call.record.metrics.turns[0];
    expect(turn.firstReplyMs! - turn.callerEndMs).toBe(h.call.record.metrics.turnLatencyMs[0]);
    expect(h.call.record.metrics.turnLatencyMs[0]).toBeGreaterThanOrEqual(h.cfg.agent.endOfTurnMs);
  });

  it("says 'ready' once per reply, when its first audio has arrived and nothing of it has played", async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hello there. How are you today?' }, { text: 'Great. Thanks.' }];
    const h = makeCall({ brain });
    const ready: Array<{ state: string; hasOutbound: boolean }> = [];
    h.call.on('ready', () => ready.push({ state: h.call.currentState, hasOutbound: h.call.hasOutbound() }));
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    expect(ready).toEqual([{ state: 'greeting', hasOutbound: true }]); // two sentences, one signal
    h.stt.finals.push('fine');
    await h.run(400, VOICE);
    await h.until(() => h.call.currentState === 'speaking');
    await h.until(() => h.call.currentState === 'listening');
    expect(ready).toHaveLength(2);
    expect(ready[1].state).toBe('thinking'); // before its first frame was pulled
    expect(ready[1].hasOutbound).toBe(true);
  });

  it('gives the recognizer the brain expectations at open and only switches when they change', async () => {
    const brain = new StreamingBrain();
    let phrases = ['yes', 'no'];
    brain.expectations = () => ({ phrases });
    brain.replies = [{ text: 'Hi.' }, { text: 'Next question?' }];
    const h = makeCall({ brain });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    expect(h.stt.expectations.map((e) => e.phrases)).toEqual([['yes', 'no']]);
    phrases = ['maybe'];
    h.stt.finals.push('yes');
    await h.run(300, VOICE);
    await h.until(() => h.stt.expectations.length === 2);
    expect(h.stt.expectations[1].phrases).toEqual(['maybe']);
  });

  it('treats speech the recognizer could not match as no-match', async () => {
    const brain = new StreamingBrain();
    const h = makeCall({ brain });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    h.stt.finals.push('');
    await h.run(300, VOICE);
    await h.until(() => brain.inputs.length === 2);
    expect(brain.inputs[1]).toEqual({ kind: 'no-match' });
  });
});

describe('Call barge-in', () => {
  async function speakingLongReply() {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hi.' }, { text: LONG }, { text: 'Sure, what would you like?' }];
    const h = makeCall({ brain, agent: { bargeIn: { greetingGuardMs: 0 } } });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    h.stt.finals.push('tell me more');
    await h.run(300, VOICE);
    await h.until(() => h.call.currentState === 'speaking');
    await h.run(1000); // 1 s of the long reply plays
    return { h, brain };
  }

  it('stops our audio within two frames of the VAD onset and keeps only what was heard', async () => {
    const { h, brain } = await speakingLongReply();
    h.stt.finals.push('no wait');
    const onsetIdx = h.outLog.length;
    await h.run(600, VOICE);
    // the VAD needs onsetMs of voice; after that at most one more frame may go out
    const audibleAfter = h.outLog.slice(onsetIdx).filter((o) => o.audible).length;
    expect(audibleAfter).toBeLessThanOrEqual(h.cfg.media.vad.onsetMs / 20 + 1);
    await h.until(() => brain.inputs.length === 3);
    expect(brain.inputs[2]).toEqual({ kind: 'utterance', text: 'no wait', confidence: undefined });

    const cut = brain.heard.find((x) => x.interrupted)!;
    expect(cut).toBeDefined();
    expect(cut.heard.length).toBeGreaterThan(0);
    expect(cut.heard.length).toBeLessThan(cut.intended.length);
    expect(LONG.startsWith(cut.heard)).toBe(true);
    const entry = h.call.record.transcript.find((t) => t.interrupted)!;
    expect(entry.text).toBe(cut.heard);
    expect(entry.intendedText).toBe(LONG);
    expect(h.call.record.metrics.bargeInStopMs).toHaveLength(1);
    expect(h.call.record.metrics.bargeInStopMs[0]).toBeLessThanOrEqual(h.cfg.media.vad.onsetMs + 40);
    expect(h.tts.aborted + 0).toBeGreaterThanOrEqual(0);
  });

  it('resumes the reply after a backchannel', async () => {
    const { h, brain } = await speakingLongReply();
    h.stt.finals.push('uh huh');
    await h.run(300, VOICE);
    await h.until(() => h.call.currentState === 'listening');
    expect(brain.inputs).toHaveLength(2); // no new turn for "uh huh"
    const last = brain.heard.at(-1)!;
    expect(last.interrupted).toBe(false);
    expect(last.heard).toBe(LONG);
    expect(h.call.record.transcript.some((t) => t.role === 'caller' && t.text === 'uh huh')).toBe(true);
  });

  it('resumes after a false start shorter than confirmMs', async () => {
    const { h, brain } = await speakingLongReply();
    await h.run(80, VOICE); // onset reached, then silence
    await h.until(() => h.call.currentState === 'listening');
    expect(brain.inputs).toHaveLength(2);
    expect(brain.heard.at(-1)!.interrupted).toBe(false);
    expect(h.stt.finalizeCalls).toBe(1); // only the first turn's
  });

  it('pauses on the first voiced frame and plays on after a one-frame click', async () => {
    const { h, brain } = await speakingLongReply();
    const before = h.outLog.length;
    await h.tick(VOICE); // one voiced frame: tentative pause
    expect(h.outLog.at(-1)!.audible).toBe(false);
    await h.run(100);
    expect(h.outLog.slice(before + 1).some((o) => o.audible)).toBe(true);
    expect(h.call.record.metrics.bargeInStopMs).toHaveLength(0); // not a barge-in
    await h.until(() => h.call.currentState === 'listening');
    expect(brain.heard.at(-1)!.interrupted).toBe(false);
  });

  it('ignores speech during the greeting guard', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: LONG }];
    const h = makeCall({ brain, agent: { bargeIn: { greetingGuardMs: 5000 } } });
    await h.call.start();
    await h.until(() => h.outLog.some((o) => o.audible));
    await h.run(400, VOICE);
    expect(h.call.record.metrics.bargeInStopMs).toHaveLength(0);
    await h.until(() => h.call.currentState === 'listening');
    expect(brain.heard[0].interrupted).toBe(false);
  });
});

describe('Call silence, DTMF, actions, failures', () => {
  it('reprompts on silence and hangs up politely after maxReprompts', async () => {
    const brain = new StreamingBrain();
    const h = makeCall({ brain, agent: { silence: { repromptAfterMs: 1000, maxReprompts: 2 } } });
    await h.call.start();
    await h.until(() => h.ended !== null, 20_000);
    expect(brain.inputs.filter((i) => i.kind === 'silence').map((i) => (i as { count: number }).count)).toEqual([1, 2]);
    expect(h.actions).toContainEqual({ type: 'set_disposition', status: 'NA' });
    expect(h.actions.at(-1)).toEqual({ type: 'hangup', reason: 'caller silent' });
    expect(h.ended!.endReason).toBe('agent-hangup');
    expect(h.tts.spoken.at(-1)).toMatch(/can't hear you/);
  });

  it('sends DTMF digits to the brain and rejects invalid ones', async () => {
    const brain = new StreamingBrain();
    const h = makeCall({ brain });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    h.call.dtmf('x');
    h.call.dtmf('1');
    await h.until(() => brain.inputs.length === 2);
    expect(brain.inputs[1]).toEqual({ kind: 'dtmf', digit: '1' });
    expect(h.call.record.dtmf.map((d) => d.digit)).toEqual(['1']);
  });

  it('carries out a terminal action only after the words before it have played', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hi.' }, { text: 'Please hold while I connect you.', actions: [{ type: 'set_disposition', status: 'XFER' }, { type: 'transfer', target: 'sales', summary: 's' }] }];
    const h = makeCall({ brain, transfers: { sales: { context: 'default', extension: '8300' } } });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    h.stt.finals.push('yes');
    await h.run(300, VOICE);
    await h.until(() => h.actions.length === 1);
    expect(h.actions[0].type).toBe('set_disposition');
    const t = await h.until(() => h.ended !== null);
    expect(t).toBeGreaterThan(500); // the sentence played first
    expect(h.actions[1]).toEqual({ type: 'transfer', target: 'sales', summary: 's' });
    expect(h.ended!.endReason).toBe('transferred');
    expect(h.ended!.disposition).toBe('XFER');
    expect(h.stt.closed).toBe(1);
    expect(h.tts.closed).toBe(1);
  });

  it('times the end-of-turn wait from when the audio arrived, and never ends a turn over speech still buffered', async () => {
    // Frames pushed with the transport's timing: each arrived `ageMs` before it is played out.
    const turnAfter = async (timing: { ageMs: number; pendingAbove(l: number): boolean } | undefined) => {
      const brain = new StreamingBrain();
      brain.replies = [{ text: 'Hi.' }, { text: 'Ok.' }];
      const h = makeCall({ brain });
      await h.call.start();
      await h.until(() => h.call.currentState === 'listening');
      h.stt.finals.push('yes');
      const push = async (frame: Int16Array) => {
        h.clock.advance(20);
        h.call.pushInbound(frame, undefined, timing);
        h.call.pullOutbound();
        for (let i = 0; i < 8; i++) await Promise.resolve();
        await new Promise((r) => setImmediate(r));
      };
      for (let t = 0; t < 300; t += 20) await push(VOICE);
      let ms = 0;
      while (brain.inputs.length < 2 && ms < 3000) {
        await push(QUIET);
        ms += 20;
      }
      return ms;
    };
    const plain = await turnAfter(undefined);
    const held = await turnAfter({ ageMs: 40, pendingAbove: () => false });
    expect(plain - held).toBe(40); // the 40 ms the buffer held the audio are not waited twice
    // speech already in the buffer keeps the turn open, however long the silence heard so far
    const blocked = await turnAfter({ ageMs: 40, pendingAbove: () => true }).catch(() => Infinity);
    expect(blocked).toBeGreaterThanOrEqual(3000);
  });

  it('waits in transferring for the PBX: silent, deaf, and the record says how the transfer ended', async () => {
    const transferTurn = { text: 'Connecting you now.', actions: [{ type: 'transfer' as const, target: 'sales', summary: 's' }] };
    const setup = async () => {
      const brain = new StreamingBrain();
      brain.replies = [{ text: 'Hi.' }, transferTurn, { text: 'never said' }];
      const h = makeCall({ brain, transfers: { sales: { context: 'default', extension: '8300' } }, pbxConfirmsTransfer: false });
      await h.call.start();
      await h.until(() => h.call.currentState === 'listening');
      h.stt.finals.push('yes');
      await h.run(300, VOICE);
      await h.until(() => h.call.currentState === 'transferring');
      return { h, brain };
    };
    // The caller hangs up before the PBX completed the transfer.
    const { h, brain } = await setup();
    expect(h.actions.at(-1)).toEqual({ type: 'transfer', target: 'sales', summary: 's' });
    expect(h.ended).toBeNull();
    const inputs = brain.inputs.length;
    h.stt.finals.push('hello?');
    await h.run(1000, VOICE); // the caller talks on: nothing is heard or answered
    expect(brain.inputs.length).toBe(inputs);
    expect(h.call.pullOutbound()).toBeNull();
    h.call.end('caller-hangup', 'caller hung up during the transfer');
    expect(h.ended!.endReason).toBe('caller-hangup');
    expect(h.ended!.endDetail).toBe('caller hung up during the transfer');
    expect(h.stt.closed).toBe(1);

    // A PBX that never confirms: the call ends on its own after agent.transferConfirmMs.
    const quiet = await setup();
    const waited = await quiet.h.until(() => quiet.h.ended !== null, 30_000);
    expect(waited).toBeGreaterThanOrEqual(15_000);
    expect(quiet.h.ended!.endReason).toBe('transferred');
    expect(quiet.h.ended!.endDetail).toBe('transfer not confirmed by the PBX');
  });

  it('apologizes and hangs up when the brain fails mid-call', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hi.' }, new BridgeError('PROVIDER_CLOSED', 'llm went away')];
    const h = makeCall({ brain });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    h.stt.finals.push('yes');
    await h.run(300, VOICE);
    await h.until(() => h.ended !== null);
    expect(h.tts.spoken.at(-1)).toMatch(/trouble/);
    expect(h.actions.at(-1)).toMatchObject({ type: 'hangup' });
    expect(h.ended!.providerEvents.some((e) => e.role === 'llm')).toBe(true);
  });

  it('transfers to the failure target when TTS fails beyond its fallbacks', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hi.' }, { text: 'BROKEN reply' }];
    const h = makeCall({ brain, agent: { failureTransfer: 'humans' }, transfers: { humans: { extension: '8300' } } });
    h.tts.failOn = /BROKEN/;
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    h.stt.finals.push('yes');
    await h.run(300, VOICE);
    await h.until(() => h.ended !== null);
    expect(h.actions.at(-1)).toMatchObject({ type: 'transfer', target: 'humans' });
  });

  it('lets a closing reply play out: neither barge-in nor DTMF stops the hang-up', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hi.' }, { text: 'Thank you for your time, I have removed your number from our list. Goodbye.', actions: [{ type: 'hangup', reason: 'dnc' }] }];
    const h = makeCall({ brain });
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    h.stt.finals.push('stop calling me');
    await h.run(300, VOICE);
    await h.until(() => h.call.currentState === 'speaking');
    await h.run(400, VOICE); // the caller talks over the goodbye
    h.call.dtmf('5');
    await h.until(() => h.ended !== null);
    expect(h.call.record.metrics.bargeInStopMs).toHaveLength(0);
    expect(h.actions.at(-1)).toEqual({ type: 'hangup', reason: 'dnc' });
    expect(h.ended!.transcript.at(-1)).toMatchObject({ role: 'agent', text: expect.stringMatching(/Goodbye\.$/) });
    expect(h.ended!.endReason).toBe('agent-hangup');
  });

  it('fails over when TTS stalls without an error, instead of leaving dead air', async () => {
    const brain = new StreamingBrain();
    brain.replies = [{ text: 'Hi.' }, { text: 'STALL this reply.' }];
    const h = makeCall({ brain, agent: { providerStallMs: 2000 } });
    h.tts.stallOn = /STALL/;
    await h.call.start();
    await h.until(() => h.call.currentState === 'listening');
    h.stt.finals.push('yes');
    await h.run(300, VOICE);
    const t = await h.until(() => h.ended !== null);
    expect(t).toBeGreaterThanOrEqual(1500);
    expect(h.ended!.endReason).toBe('error');
    expect(h.ended!.providerEvents.some((e) => e.detail.includes('stall'))).toBe(true);
  });

  it('ends at the maximum call duration and is idempotent to end()', async () => {
    const h = makeCall({ agent: { maxCallSeconds: 10 } });
    await h.call.start();
    await h.until(() => h.ended !== null, 15_000);
    expect(h.ended!.endReason).toBe('max-duration');
    h.call.end('caller-hangup');
    expect(h.ended!.endReason).toBe('max-duration');
  });
});
