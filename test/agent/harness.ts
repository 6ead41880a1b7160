/** Drives a Call frame by frame on a ManualClock, the way a PBX adapter's ticker would. */
import pino from 'pino';
import { Call, type CallDeps } from '../../src/agent/call.ts';
import type { CallAction } from '../../src/agent/call-port.ts';
import type { CallRecord } from '../../src/agent/call-record.ts';
import type { Brain, BrainInput, BrainOutput } from '../../src/agent/brain/types.ts';
import { AudioCache } from '../../src/agent/audio-cache.ts';
import { validateConfig } from '../../src/config/load.ts';
import { ManualClock } from '../../src/media/clock.ts';
import { FRAME_SAMPLES } from '../../src/media/audio-frame.ts';
import { EnergyVad, ScriptedStt, ToneTts } from '../helpers/scripted-providers.ts';

export const VOICE = new Int16Array(FRAME_SAMPLES).fill(6000);
export const QUIET = new Int16Array(FRAME_SAMPLES);

/** A brain double: replies with the scripted texts word by word, records what it was told was heard. */
export class StreamingBrain implements Brain {
  readonly name = 'streaming-brain';
  readonly inputs: BrainInput[] = [];
  readonly heard: Array<{ heard: string; intended: string; interrupted: boolean }> = [];
  replies: Array<{ text: string; actions?: CallAction[] } | Error> = [];
  expectations() {
    return { phrases: ['yes', 'no'] };
  }
  async *respond(input: BrainInput, signal: AbortSignal): AsyncGenerator<BrainOutput> {
    this.inputs.push(input);
    const r = this.replies.shift() ?? { text: 'Okay.' };
    if (r instanceof Error) throw r;
    for (const w of r.text.split(/(?<= )/)) {
      await Promise.resolve();
      if (signal.aborted) return;
      yield { type: 'text', text: w };
    }
    for (const a of r.actions ?? []) yield { type: 'action', action: a };
  }
  replyHeard(heard: string, intended: string, interrupted: boolean) {
    this.heard.push({ heard, intended, interrupted });
  }
}

export function makeCall(over: { brain?: Brain; agent?: Record<string, unknown>; transfers?: Record<string, unknown>; pbxConfirmsTransfer?: boolean } = {}) {
  const cfg = validateConfig({ agent: over.agent ?? {}, transfers: over.transfers ?? {} });
  const clock = new ManualClock(1000);
  const stt = new ScriptedStt();
  const tts = new ToneTts();
  const brain = over.brain ?? new StreamingBrain();
  const outLog: Array<{ t: number; audible: boolean }> = [];
  const deps: CallDeps = {
    agent: cfg.agent,
    vad: cfg.media.vad,
    transfers: cfg.transfers,
    clock,
    logger: pino({ level: 'silent' }),
    brain,
    stt,
    tts,
    createVad: async () => new EnergyVad(cfg.media.vad.onsetMs, cfg.media.vad.hangoverMs),
    greetingCache: new AudioCache(),
  };
  const call = new Call('test-call', { pbx: 'sim', fields: { first_name: 'John' } }, deps);
  const actions: CallAction[] = [];
  let ended: CallRecord | null = null;
  call.on('action', (a) => {
    actions.push(a);
    // The harness plays the PBX: it completes a transfer at once unless a test wants to see the wait.
    if (a.type === 'transfer' && over.pbxConfirmsTransfer !== false) call.end('transferred', `transfer to ${a.target}`);
  });
  call.on('ended', (r) => (ended = r));

  /** One 20 ms tick: advance time, push a frame in, pull one out. */
  async function tick(frame = QUIET) {
    clock.advance(20);
    call.pushInbound(frame);
    const out = call.pullOutbound();
    outLog.push({ t: call.now(), audible: out !== null });
    // let provider promises (scripted TTS/STT) make progress, as real I/O would between ticks
    for (let i = 0; i < 8; i++) await Promise.resolve();
    await new Promise((r) => setImmediate(r));
  }
  async function run(ms: number, frame = QUIET) {
    for (let t = 0; t < ms; t += 20) await tick(frame);
  }
  /** Tick until `cond` or `maxMs`; returns the ms elapsed. */
  async function until(cond: () => boolean, maxMs = 30_000) {
    let t = 0;
    while (!cond() && t < maxMs) {
      await tick();
      t += 20;
    }
    if (!cond()) throw new Error(`condition not met within ${maxMs} ms (state ${call.currentState})`);
    return t;
  }
  return { call, clock, stt, tts, brain, actions, outLog, tick, run, until, get ended() { return ended; }, cfg };
}
