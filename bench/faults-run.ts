/**
 * Fault scenarios on live calls (real Call, VAD, media session, sockets), all at once beside two
 * untouched control calls:
 *   - rtp-stops: the caller's RTP stops for `rtpGapMs` mid-call, then resumes;
 *   - stt-disconnect: the recognizer reports a lost connection mid-call;
 *   - tts-fails: synthesis of the first reply throws;
 *   - llm-fails: the brain throws on the caller's first turn;
 *   - tts-stall: synthesis of the first reply never yields: the Call's stall guard fails it over;
 *   - hangup-in-<state>: the caller hangs up in greeting, listening, thinking, speaking and
 *     transferring (the agent asked for a transfer; the PBX has not completed it).
 * Each checks the designed outcome, and at the end no socket, port, ticker subscriber or call is left.
 */
import { BridgeError } from '../src/errors.ts';
import type { Pcm } from '../src/media/audio-frame.ts';
import type { Brain, BrainInput, BrainOutput } from '../src/agent/brain/types.ts';
import type { CallState } from '../src/agent/call.ts';
import type { ProviderOpenOptions, SpeechToText, SttEvent, TextToSpeech, TtsSession } from '../src/providers/types.ts';
import { AGENT_LINES, loadBenchAudio } from './audio.ts';
import { LiveCalls, type LiveCall } from './live-calls.ts';
import { BenchBrain, InstantStt, InstantTts } from './providers.ts';

export interface FaultOutcome {
  scenario: string;
  ok: boolean;
  detail: string;
}

export interface FaultsReport {
  ok: boolean;
  outcomes: FaultOutcome[];
  leaks: string[];
}

/** The designed end after a provider failure: the apology, then a hang-up (or transfer) naming the failure. */
function endedByFailure(l: LiveCall): boolean {
  if (l.ended === 'error') return true;
  const last = l.call.record.actions.at(-1)?.action;
  return (l.ended === 'agent-hangup' && last?.type === 'hangup' && /failure/.test(last.reason)) || l.ended === 'transferred';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, maxMs: number, stepMs = 5): Promise<boolean> {
  const end = performance.now() + maxMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(stepMs);
  }
  return true;
}

/** An STT whose session reports a lost connection `afterMs` after opening. */
export class DisconnectingStt implements SpeechToText {
  readonly name = 'disconnecting-stt';
  private readonly inner = new InstantStt();
  constructor(private readonly afterMs: number) {}
  async open(opts: ProviderOpenOptions, onEvent: (e: SttEvent) => void) {
    const s = await this.inner.open(opts, onEvent);
    const t = setTimeout(() => onEvent({ type: 'error', error: new BridgeError('PROVIDER_CLOSED', 'bench: recognizer connection lost', {}) }), this.afterMs);
    opts.signal.addEventListener('abort', () => clearTimeout(t), { once: true });
    return s;
  }
}

/** A TTS that speaks the greeting, then fails (throws) or stalls (never yields until aborted) on anything else. */
export class FaultyTts implements TextToSpeech {
  readonly name = 'faulty-tts';
  stalledAborted = 0;
  private readonly inner: InstantTts;
  constructor(private readonly mode: 'fail' | 'stall') {
    const a = loadBenchAudio();
    this.inner = new InstantTts(a.agentGreeting, a.agentReply);
  }
  async open(opts: ProviderOpenOptions): Promise<TtsSession> {
    const inner = await this.inner.open(opts);
    const self = this;
    return {
      provider: this.name,
      async *synthesize(text: string, signal: AbortSignal): AsyncGenerator<Pcm> {
        if (AGENT_LINES.greeting.includes(text.trim())) {
          yield* inner.synthesize(text, signal);
          return;
        }
        if (self.mode === 'fail') throw new BridgeError('PROVIDER_CLOSED', 'bench: synthesis connection lost', {});
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        self.stalledAborted++;
      },
      close: () => inner.close(),
    };
  }
}

export class FailingBrain implements Brain {
  readonly name = 'failing-brain';
  private readonly inner = new BenchBrain();
  constructor(private readonly onFail: () => void = () => {}) {}
  expectations() {
    return this.inner.expectations();
  }
  async *respond(input: BrainInput, signal: AbortSignal): AsyncGenerator<BrainOutput> {
    if (input.kind !== 'greeting') {
      this.onFail();
      throw new BridgeError('PROVIDER_CLOSED', 'bench: model stream dropped', {});
    }
    yield* this.inner.respond(input, signal);
  }
  replyHeard(): void {}
}

/** Answers the caller's first turn with a transfer (the call then waits in 'transferring' for the PBX). */
export class TransferBrain implements Brain {
  readonly name = 'transfer-brain';
  private readonly inner = new BenchBrain();
  expectations() {
    return this.inner.expectations();
  }
  async *respond(input: BrainInput, signal: AbortSignal): AsyncGenerator<BrainOutput> {
    if (input.kind === 'greeting') {
      yield* this.inner.respond(input, signal);
      return;
    }
    yield { type: 'text', text: 'Connecting you now.' };
    yield { type: 'action', action: { type: 'transfer', target: 'closer', summary: 'bench' } };
  }
  replyHeard(): void {}
}

export async function runFaults(
  o: { rtpGapMs?: number; portMin?: number; portMax?: number; log?: (l: string) => void } = {},
): Promise<FaultsReport> {
  const log = o.log ?? (() => {});
  const gap = o.rtpGapMs ?? 10_000;
  const live = new LiveCalls({ portMin: o.portMin ?? 43000, portMax: o.portMax ?? 43999 });
  const outcomes: FaultOutcome[] = [];
  const record = (scenario: string, ok: boolean, detail: string): void => {
    outcomes.push({ scenario, ok, detail });
    log(`${ok ? 'ok  ' : 'FAIL'} ${scenario}: ${detail}`);
  };
  live.start();
  try {
    const controls = [await live.open(), await live.open()];
    const controlFramesBefore = controls.map((c) => c.counters().framesAudio);

    const rtpStops = async (): Promise<void> => {
      const l = await live.open();
      await sleep(3000);
      const before = l.counters();
      const sentBefore = l.received;
      l.mutedUntil = performance.now() + gap;
      await sleep(gap);
      const during = l.counters();
      await sleep(2500);
      const after = l.counters();
      const silenceFrames = during.framesSilence - before.framesSilence;
      const ok = l.ended === null && silenceFrames >= (gap / 20) * 0.8 && after.framesAudio - during.framesAudio > 50;
      record('rtp-stops', ok, `${gap} ms without RTP: call still up (${l.call.currentState}), ${silenceFrames} silence + ${during.framesConcealed - before.framesConcealed} concealed frames fed to the agent, agent sent ${l.received - sentBefore} packets meanwhile, ${after.framesAudio - during.framesAudio} audio frames after RTP resumed`);
      await live.close(l);
    };

    // The failure paths below keep the caller quiet once the fault hits, so the apology can play out;
    // llm-fails-caller-talks keeps talking over it: a closing reply (apology + hang-up) plays out anyway.
    const sttDisconnect = async (): Promise<void> => {
      const l = await live.open({ stt: new DisconnectingStt(2500) });
      setTimeout(() => (l.mutedUntil = Infinity), 2400);
      const ended = await until(() => l.ended !== null, 15_000, 20);
      const apology = l.call.record.transcript.some((t) => t.role === 'agent' && t.text.includes("I'm sorry"));
      const portFreed = !live.pool.isInUse(l.media.localPort);
      record('stt-disconnect', ended && endedByFailure(l) && apology && portFreed, `ended=${l.ended}, apology spoken=${apology}, RTP port released=${portFreed}, actions=${l.call.record.actions.map((a) => a.action.type).join(',')}`);
      await live.close(l);
    };

    const ttsFails = async (): Promise<void> => {
      const l = await live.open({ tts: new FaultyTts('fail') });
      const ended = await until(() => l.ended !== null, 20_000, 20);
      const portFreed = !live.pool.isInUse(l.media.localPort);
      record('tts-fails', ended && l.ended === 'error' && portFreed, `ended=${l.ended} (${l.call.record.endDetail ?? ''}), RTP port released=${portFreed}`);
      await live.close(l);
    };

    const llmFails = async (name: string, callerKeepsTalking: boolean): Promise<void> => {
      const holder: { l: LiveCall | null } = { l: null };
      const l = await live.open({ brain: new FailingBrain(() => {
        if (!callerKeepsTalking && holder.l) holder.l.mutedUntil = Infinity;
      }) });
      holder.l = l;
      const ended = await until(() => l.ended !== null, 25_000, 20);
      const apologies = l.call.record.transcript.filter((t) => t.role === 'agent' && t.intendedText === undefined && t.text.includes("I'm sorry")).length;
      const cut = l.call.record.transcript.filter((t) => t.role === 'agent' && t.interrupted && (t.intendedText ?? '').includes("I'm sorry")).length;
      record(name, ended && endedByFailure(l), `ended=${l.ended}, apologies played out=${apologies}, apologies cut by the caller=${cut}`);
      await live.close(l);
    };

    const ttsStall = async (): Promise<void> => {
      const tts = new FaultyTts('stall');
      const l = await live.open({ tts });
      const stuck = await until(() => l.call.currentState === 'thinking', 20_000, 5);
      l.mutedUntil = Infinity; // a quiet caller: nothing but the stalled synthesis can move the call on
      // agent.providerStallMs (6 s by default) turns the silent stall into a failure: no dead air
      const ended = await until(() => l.ended !== null, 12_000, 20);
      const portFreed = !live.pool.isInUse(l.media.localPort);
      record('tts-stall', stuck && ended && l.ended === 'error' && tts.stalledAborted === 1 && portFreed, `stalled in thinking=${stuck}, ended=${l.ended} (${l.call.record.endDetail ?? ''}), stalled synthesis aborted=${tts.stalledAborted === 1}, RTP port released=${portFreed}`);
      await live.close(l);
    };

    const hangupIn = async (state: CallState): Promise<void> => {
      // 'thinking' lasts one tick with instant providers: hold it open with a stalled synthesis
      const l = await live.open(state === 'thinking' ? { tts: new FaultyTts('stall') } : state === 'transferring' ? { brain: new TransferBrain() } : {});
      const reached = await until(() => l.call.currentState === state, 20_000, 2);
      await live.close(l, 'caller-hangup');
      const portFreed = !live.pool.isInUse(l.media.localPort);
      // The record must say the caller hung up, not that the call was transferred or errored.
      const recorded = l.call.record.endReason;
      record(`hangup-in-${state}`, reached && l.ended === 'caller-hangup' && recorded === 'caller-hangup' && portFreed && l.media.isClosed, `reached=${reached}, ended=${l.ended}, record=${recorded}, media closed=${l.media.isClosed}, port released=${portFreed}`);
    };

    await Promise.all([rtpStops(), sttDisconnect(), ttsFails(), llmFails('llm-fails', false), ttsStall(),
      llmFails('llm-fails-caller-talks', true), ...(['greeting', 'listening', 'thinking', 'speaking', 'transferring'] as const).map(hangupIn)]);

    const controlsOk = controls.every((c, i) => c.ended === null && c.counters().framesAudio - controlFramesBefore[i] > 100 && c.counters().callErrors === 0);
    record('controls-untouched', controlsOk, `control calls up=${controls.map((c) => c.ended === null).join(',')}, audio frames received meanwhile=${controls.map((c, i) => c.counters().framesAudio - controlFramesBefore[i]).join(',')}`);
    for (const c of controls) await live.close(c);
    await sleep(100);
    const leaks: string[] = [];
    if (live.pool.inUse !== 0) leaks.push(`${live.pool.inUse} RTP ports in use`);
    if (live.ticker.size !== 1) leaks.push(`${live.ticker.size - 1} media ticker subscribers left`);
    if (live.calls.size !== 0) leaks.push(`${live.calls.size} calls left`);
    if (live.ticker.counters.errors !== 0) leaks.push(`${live.ticker.counters.errors} ticker errors`);
    const udp = process.getActiveResourcesInfo().filter((r) => r === 'UDPWRAP').length;
    if (udp !== 0) leaks.push(`${udp} UDP sockets open`);
    log(leaks.length ? `leaks: ${leaks.join('; ')}` : 'no leaked sockets, ports, subscribers or calls');
    return { ok: leaks.length === 0 && outcomes.every((x) => x.ok), outcomes, leaks };
  } finally {
    live.stop();
    await live.closeAll();
  }
}
