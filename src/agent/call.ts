/**
 * One call's agent: 20 ms frames in, 20 ms frames out, control events. It knows nothing about the
 * PBX. Time is call time from the injected clock; every decision is taken on a frame boundary
 * (pushInbound / pullOutbound) or when the transport asks (pollTurnEnd, at the instant turnEndDueAt
 * gave it), so the Call owns no timers and a test drives it frame by frame.
 *
 * Turn-taking: greeting -> listening -> thinking -> speaking -> listening ...
 * Barge-in, in stages (phone lines have no echo cancellation):
 *   1. VAD onset while our audio plays: playout PAUSES at once (the queue is kept).
 *   2. Speech shorter than bargeIn.confirmMs: a false start; playout resumes.
 *   3. Longer speech: wait for the recognizer's words. A backchannel ("uh-huh"), or no words within
 *      bargeIn.falseStartMs, resumes the reply; real words (or speech going on for long) cancel the
 *      model and TTS work, keep in memory only what was heard, and take the words as the next turn.
 *
 * Answering machines (agent.amd): a beep or a long opening monologue on the caller side ends the
 * conversation: the reply is dropped (not a barge-in turn), the machine status is set, and the call
 * hangs up, or first leaves agent.amd.message once the beep has ended (or the greeting went quiet).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { BridgeError, errorMessage } from '../errors.ts';
import { concatPcm, FRAME_MS, FRAME_SAMPLES, type Pcm } from '../media/audio-frame.ts';
import { levelDbfs } from '../media/vad.ts';
import type { Clock } from '../media/clock.ts';
import type { EncodedFrame, SpeechToText, SttEvent, SttSession, TextToSpeech, TtsSession } from '../providers/types.ts';
import type { AgentConfig, TransferTarget, VadConfig } from '../config/schema.ts';
import type { Brain, BrainInput } from './brain/types.ts';
import type { CallAction, CallContext, CallSession, CallSessionEvents, EndReason, InboundTiming } from './call-port.ts';
import { TRANSFER_UNCONFIRMED, type CallRecord, type TranscriptEntry, type TurnTiming } from './call-record.ts';
import { AnsweringMachineDetector, type AmdDecision, type AmdReason } from './answering-machine.ts';
import { AudioCache, sharedGreetingCache } from './audio-cache.ts';
import { Reply, type Segment } from './reply.ts';
import { normalizeText as normalize } from './normalize-text.ts';
import { SentenceChunker } from './sentence-chunker.ts';

/** The VAD as the Call uses it (media/vad.ts implements it). */
export interface VoiceDetector {
  process(frame: Pcm, opts?: { minLevelDbfs?: number }): {
    voiced: boolean;
    speaking: boolean;
    event: 'start' | 'end' | null;
    levelDbfs: number;
  };
  reset(): void;
  close(): void;
}

/** The port's events, plus what a recorder journals while the call runs. */
export interface CallEvents extends CallSessionEvents {
  transcript: [TranscriptEntry];
  turn: [TurnTiming];
}

export type CallState = 'idle' | 'greeting' | 'listening' | 'thinking' | 'speaking' | 'transferring' | 'ended';

export interface CallDeps {
  readonly agent: AgentConfig;
  readonly vad: VadConfig;
  readonly transfers: Readonly<Record<string, TransferTarget>>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly brain: Brain;
  readonly stt: SpeechToText;
  readonly tts: TextToSpeech;
  readonly createVad: () => Promise<VoiceDetector>;
  readonly greetingCache?: AudioCache;
  /** Called once per inbound and outbound frame (recording); frames are only valid during the call. */
  readonly tap?: { inbound(frame: Pcm): void; outbound(frame: Pcm | null): void };
}

const NO_WORDS_TIMEOUT_MS = 3000;
/** Speech this long during a paused reply is an interruption whatever the words turn out to be. */
const SURE_INTERRUPTION_MS = 1200;

interface BargeIn {
  onsetMs: number;
  voicedMs: number;
  speechEnded: boolean;
  endedAtMs: number;
  finalizeRequested: boolean;
  /** Paused on a first voiced frame; the VAD has not confirmed an onset yet. */
  tentative: boolean;
}

export class Call extends EventEmitter implements CallSession {
  readonly id: string;
  readonly record: CallRecord;
  private readonly deps: CallDeps;
  private readonly log: Logger;
  private state: CallState = 'idle';
  private t0 = 0;
  private vad: VoiceDetector | null = null;
  private stt: SttSession | null = null;
  private tts: TtsSession | null = null;
  private readonly out = new Int16Array(FRAME_SAMPLES);
  private reply: Reply | null = null;
  private synthChain: Promise<void> = Promise.resolve();
  private paused: BargeIn | null = null;
  /** Our audio's stop time relative to the barge-in onset, recorded when the onset is confirmed. */
  private pauseStopMs = 0;

  // listening state
  private callerSpeaking = false;
  private callerStartMs = 0;
  private callerEndMs = 0;
  private callerSpoke = false;
  /** finalize() was asked at this call time and its final has not come back yet. */
  private finalizeAtMs: number | null = null;
  private pendingText = '';
  private pendingConfidence: number | undefined;
  private lastActivityMs = 0;
  private silenceCount = 0;
  /** Recent outgoing level (echo guard), dBFS. */
  private outLevelDbfs = -120;
  private outLevelHoldFrames = 0;
  private framesIn = 0;
  private framesOut = 0;
  private startPromise: Promise<void> | null = null;
  /** Aborted when the call ends: providers close their sockets and processes. */
  private readonly lifetime = new AbortController();
  private readonly amd: AnsweringMachineDetector | null;
  private transferStartedMs = 0;
  /** The transport's buffering of the frame being processed (null: none, or not told). */
  private inbound: InboundTiming | null = null;
  /** An answering machine was detected: the conversation is over; `message` is the reply leaving agent.amd.message. */
  private machine: { reason: AmdReason; message: Reply | null } | null = null;

  constructor(id: string, context: CallContext, deps: CallDeps) {
    super();
    this.id = id;
    this.deps = deps;
    this.log = deps.logger.child({ callId: id });
    this.amd = deps.agent.amd.enabled ? new AnsweringMachineDetector(deps.agent.amd) : null;
    this.record = {
      callId: id,
      pbx: context.pbx,
      channelId: context.channelId,
      leadId: context.leadId,
      campaignId: context.campaignId,
      callerNumber: context.callerNumber,
      startedAt: new Date().toISOString(),
      transcript: [],
      actions: [],
      dtmf: [],
      providers: { stt: deps.stt.name, llm: deps.brain.name, tts: deps.tts.name },
      providerEvents: [],
      metrics: { turnLatencyMs: [], bargeInStopMs: [], turns: [], framesIn: 0, framesOut: 0 },
    };
  }

  get currentState(): CallState {
    return this.state;
  }

  /** Call time in ms. */
  now(): number {
    return this.deps.clock.now() - this.t0;
  }

  start(): Promise<void> {
    this.startPromise ??= this.doStart();
    return this.startPromise;
  }

  private async doStart(): Promise<void> {
    this.t0 = this.deps.clock.now();
    this.state = 'greeting';
    const signal = this.lifetime.signal;
    try {
      const [vad, stt, tts] = await Promise.all([
        this.deps.createVad(),
        this.deps.stt.open({ callId: this.id, signal, expect: this.initialExpectations() }, (e) => this.onStt(e)),
        this.deps.tts.open({ callId: this.id, signal }),
      ]);
      if ((this.state as CallState) === 'ended') {
        vad.close();
        void stt.close();
        void tts.close();
        return;
      }
      this.vad = vad;
      this.stt = stt;
      this.tts = tts;
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'providers failed to open');
      this.providerEvent('stt', 'open', errorMessage(err));
      this.end('error', `providers failed to open: ${errorMessage(err)}`);
      return;
    }
    this.startReply({ kind: 'greeting' }, null);
  }

  private initialExpectations() {
    const e = this.deps.brain.expectations();
    this.sentExpectations = e.phrases.join('\n');
    return e;
  }

  // ------------------------------------------------------------------ inbound

  pushInbound(frame: Pcm, encoded?: EncodedFrame, timing?: InboundTiming): void {
    if (this.state === 'transferring') {
      // A PBX that never confirms must not keep the call (and its providers) forever.
      if (this.now() - this.transferStartedMs >= this.deps.agent.transferConfirmMs) this.end('transferred', TRANSFER_UNCONFIRMED);
      return;
    }
    if (this.over || this.state === 'idle') return;
    this.framesIn++;
    this.inbound = timing ?? null;
    this.deps.tap?.inbound(frame);
    const now = this.now();
    if (now >= this.deps.agent.maxCallSeconds * 1000) {
      this.log.info('maximum call duration reached');
      this.terminate({ type: 'hangup', reason: 'maximum call duration' }, 'max-duration');
      return;
    }
    if (!this.vad || !this.stt) return; // still opening providers: the greeting cannot be interrupted yet anyway

    if (!this.machine) this.stt.write(frame, encoded);
    const v = this.vad.process(frame, { minLevelDbfs: this.echoGate() });
    if (this.amd) {
      const decision = this.amd.push(frame, v.voiced, now, v.levelDbfs);
      if (decision) this.onMachine(decision);
      if (this.machine) {
        this.awaitMessageCue();
        return;
      }
    }
    if (this.paused?.tentative && !v.voiced && v.event !== 'start') {
      this.paused = null; // a click, not speech: play on
    } else if (v.voiced && !v.speaking && !this.paused) {
      this.maybePause(now, now - FRAME_MS, true);
    }
    if (v.event === 'start') this.onSpeechStart(now);
    else if (v.event === 'end') this.onSpeechEnd(now);
    if (this.paused) this.trackBargeIn(now, v.voiced);
    this.checkTurnEnd(now);
    this.checkSilence(now);
    this.checkStall(now);
  }

  /**
   * A provider that neither fails nor answers (a stalled stream the adapter did not catch) must not
   * leave the caller in dead air: no first audio within agent.providerStallMs fails the call over.
   */
  private checkStall(now: number): void {
    const reply = this.reply;
    if (!reply || reply.audible || this.paused || now - reply.startedMs < this.deps.agent.providerStallMs) return;
    const role = reply.intended === '' && !reply.brainDone ? 'llm' : 'tts';
    const err = new BridgeError('PROVIDER_STALL', `no ${role === 'llm' ? 'reply from the brain' : 'audio from TTS'} within ${this.deps.agent.providerStallMs} ms`, { role });
    this.providerEvent(role, 'stall', err.message);
    reply.ctrl.abort();
    this.fail(reply.terminal ? 'tts' : role, err);
  }

  /** While we talk, caller audio must stand clear of the echo of our own voice. */
  private echoGate(): number | undefined {
    if (this.outLevelHoldFrames <= 0) return undefined;
    return this.outLevelDbfs - this.deps.agent.bargeIn.echoGuardDb;
  }

  /**
   * Stage 1 of barge-in: stop our audio now. `tentative` = on the first voiced frame, before the VAD
   * has confirmed an onset (saves onsetMs of our audio talking over the caller); an unvoiced frame
   * before the onset resumes at once, so a click costs the caller a 20-40 ms gap at most.
   */
  private maybePause(now: number, onset: number, tentative: boolean): void {
    const reply = this.reply;
    if (!reply || !reply.audible || this.paused || !this.deps.agent.bargeIn.enabled) return;
    if (reply.terminal) return; // a closing reply plays out: the goodbye, then the hang-up or transfer
    const guard = reply.input.kind === 'greeting' && reply.firstFrameMs !== null && now - reply.firstFrameMs < this.deps.agent.bargeIn.greetingGuardMs;
    if (guard) return;
    this.paused = { onsetMs: onset, voicedMs: tentative ? FRAME_MS : this.deps.vad.onsetMs, speechEnded: false, endedAtMs: 0, finalizeRequested: false, tentative };
    this.pauseStopMs = Math.max(0, (reply.lastFrameMs ?? now) + FRAME_MS - onset);
    this.emit('flush');
    this.log.debug({ onset, tentative }, 'barge-in: paused');
  }

  private onSpeechStart(now: number): void {
    const onset = now - this.deps.vad.onsetMs;
    const reply = this.reply;
    if (this.paused?.tentative) {
      // the onset is confirmed: this is a barge-in, measured from its first voiced frame
      this.paused.tentative = false;
      this.record.metrics.bargeInStopMs.push(this.pauseStopMs);
    } else if (reply && reply.audible && !this.paused) {
      this.maybePause(now, onset, false);
      if (this.paused) this.record.metrics.bargeInStopMs.push(this.pauseStopMs);
    } else if (reply && !reply.audible && !reply.terminal && this.state === 'thinking' && reply.input.kind !== 'greeting') {
      // The caller goes on talking before we said anything: drop the half-made reply, keep listening.
      this.cancelReply();
      if (reply.input.kind === 'utterance') this.pendingText = reply.input.text;
      this.state = 'listening';
    }
    if (!this.reply || this.paused) {
      this.callerSpeaking = true;
      this.callerSpoke = true;
      this.callerStartMs = this.paused ? this.paused.onsetMs : onset;
      this.finalizeAtMs = null;
    }
  }

  private onSpeechEnd(now: number): void {
    const end = now - this.deps.vad.hangoverMs;
    if (this.paused) {
      this.paused.speechEnded = true;
      this.paused.endedAtMs = end;
      if (this.paused.voicedMs < this.deps.agent.bargeIn.confirmMs) {
        this.log.debug('barge-in: false start, resuming');
        this.resumeReply();
        return;
      }
    }
    if (this.callerSpeaking) {
      this.callerSpeaking = false;
      this.callerEndMs = Math.max(end, this.callerStartMs);
      // The silence is timed from when the caller's audio arrived, not from when the jitter buffer
      // played it out: the end-of-turn wait does not also pay for the buffer's hold.
      this.lastActivityMs = now - (this.inbound?.ageMs ?? 0);
      if (this.state === 'listening' && !this.paused && this.finalizeAtMs === null) {
        // Ask for the final now, while the end-of-turn silence runs: decoding overlaps the wait. If
        // the caller goes on, the next final is appended to this one.
        this.finalizeAtMs = now;
        this.stt!.finalize();
      }
    }
  }

  private trackBargeIn(now: number, voiced: boolean): void {
    const b = this.paused!;
    if (b.tentative) {
      if (voiced) b.voicedMs += FRAME_MS;
      return;
    }
    if (voiced && !b.speechEnded) b.voicedMs += FRAME_MS;
    if (!b.speechEnded && b.voicedMs >= SURE_INTERRUPTION_MS) {
      this.interruptForGood();
      return;
    }
    if (b.speechEnded && b.voicedMs >= this.deps.agent.bargeIn.confirmMs) {
      if (!b.finalizeRequested) {
        b.finalizeRequested = true;
        this.stt?.finalize();
      } else if (now - b.endedAtMs > this.deps.agent.bargeIn.falseStartMs) {
        this.log.debug('barge-in: no words, resuming');
        this.pendingText = '';
        this.resumeReply();
      }
    }
  }

  private resumeReply(): void {
    this.paused = null;
    this.callerSpeaking = false;
    this.callerSpoke = false;
    this.finalizeAtMs = null;
  }

  /** Stage 3 with real words: the reply is over; what was heard stays in memory. */
  private interruptForGood(): void {
    if (!this.paused) return;
    this.log.debug('barge-in: interrupted');
    this.paused = null;
    this.cancelReply();
    this.state = 'listening';
  }

  /** The caller has spoken and stopped, and nothing else holds the turn open. */
  private turnMayEnd(): boolean {
    return this.state === 'listening' && !this.paused && this.callerSpoke && !this.callerSpeaking;
  }

  private checkTurnEnd(now: number): void {
    if (!this.turnMayEnd()) return;
    if (this.finalizeAtMs !== null) {
      if (now - this.finalizeAtMs > NO_WORDS_TIMEOUT_MS) {
        this.log.warn('recognizer gave no final in time: treating as not understood');
        this.completeTurn();
      }
      return;
    }
    if (now - this.lastActivityMs >= this.deps.agent.endOfTurnMs && !this.speechBuffered()) this.completeTurn();
  }

  /** Audio that arrived but is still in the transport's buffer is loud enough to be speech. */
  private speechBuffered(): boolean {
    return this.inbound?.pendingAbove(this.deps.vad.energyGateDbfs) ?? false;
  }

  private checkSilence(now: number): void {
    if (this.state !== 'listening' || this.callerSpeaking || this.callerSpoke || this.paused) return;
    if (now - this.lastActivityMs < this.deps.agent.silence.repromptAfterMs) return;
    this.lastActivityMs = now;
    this.silenceCount++;
    if (this.silenceCount > this.deps.agent.silence.maxReprompts) {
      this.sayThen(this.deps.agent.silence.goodbye, [
        { type: 'set_disposition', status: this.deps.agent.silence.disposition },
      ], { type: 'hangup', reason: 'caller silent' });
    } else {
      this.startReply({ kind: 'silence', count: this.silenceCount }, null);
    }
  }

  private onStt(e: SttEvent): void {
    if (this.over || this.machine) return;
    switch (e.type) {
      case 'partial':
        if (this.paused && wordsOf(e.text) && !this.isBackchannel(e.text)) this.interruptWithWords();
        return;
      case 'final':
        if (this.paused) {
          const text = e.text.trim();
          if (!text || this.isBackchannel(text)) {
            if (text) this.addTranscript({ role: 'caller', text, startMs: this.paused.onsetMs, endMs: this.paused.endedAtMs || this.now() });
            this.log.debug({ backchannel: text }, 'barge-in: backchannel or no words, resuming');
            this.resumeReply();
          } else {
            this.pendingText = text;
            this.pendingConfidence = e.confidence;
            this.interruptWithWords();
          }
          return;
        }
        if (e.text.trim()) {
          this.pendingText = this.pendingText ? `${this.pendingText} ${e.text.trim()}` : e.text.trim();
          this.pendingConfidence = e.confidence;
        }
        this.finalizeAtMs = null;
        // The turn is committed by checkTurnEnd once the end-of-turn silence has also passed.
        if (e.endOfUtterance && this.state === 'listening' && this.callerSpoke && !this.callerSpeaking && this.now() - this.lastActivityMs >= this.deps.agent.endOfTurnMs && !this.speechBuffered()) {
          this.completeTurn();
        }
        return;
      case 'utterance-end':
        if (this.state === 'listening' && this.callerSpoke && !this.callerSpeaking && this.pendingText) this.completeTurn();
        return;
      case 'speech-start':
        return; // our own VAD decides; the recognizer's is later and weaker on phone audio
      case 'error':
        this.providerEvent('stt', 'error', e.error.message);
        this.fail('stt', e.error);
        return;
    }
  }

  private interruptWithWords(): void {
    const wasPaused = this.paused;
    this.interruptForGood();
    if (!wasPaused) return;
    this.callerSpoke = true;
    this.callerStartMs = wasPaused.onsetMs;
    if (wasPaused.speechEnded) {
      this.callerSpeaking = false;
      this.callerEndMs = wasPaused.endedAtMs;
      if (this.pendingText) this.completeTurn();
    } else {
      this.callerSpeaking = true;
    }
  }

  /** An answering machine: drop the conversation (no barge-in turn), set its status, hang up or wait to leave the message. */
  private onMachine(d: AmdDecision): void {
    const amd = this.deps.agent.amd;
    this.log.info({ reason: d.reason, atMs: d.atMs, action: amd.action }, 'answering machine detected');
    this.machine = { reason: d.reason, message: null };
    if (this.reply) this.cancelReply();
    this.paused = null;
    this.callerSpeaking = false;
    this.callerSpoke = false;
    this.pendingText = '';
    this.pendingConfidence = undefined;
    this.finalizeAtMs = null;
    this.emitAction({ type: 'set_disposition', status: amd.status });
    if (amd.action === 'hangup') this.terminate({ type: 'hangup', reason: `answering machine (${d.reason})` }, 'agent-hangup');
  }

  /** leave-message: speak once the detector says the recording has started (beep over, or silence). */
  private awaitMessageCue(): void {
    const m = this.machine!;
    const cue = this.amd!.messageCue;
    if (m.message || !cue || this.over) return;
    this.log.info({ cue }, 'answering machine: leaving the message');
    this.sayThen(this.deps.agent.amd.message, [], { type: 'hangup', reason: `answering machine (${m.reason}): message left after ${cue}` });
    m.message = this.reply;
  }

  private isBackchannel(text: string): boolean {
    const t = normalize(text);
    return this.deps.agent.bargeIn.backchannels.some((b) => normalize(b) === t);
  }

  private completeTurn(): void {
    const text = this.pendingText.trim();
    const now = this.now();
    this.addTranscript({ role: 'caller', text: text || '(not understood)', startMs: this.callerStartMs, endMs: this.callerEndMs });
    const turn: TurnTiming = { callerEndMs: this.callerEndMs, sttFinalMs: now };
    this.pendingText = '';
    this.callerSpoke = false;
    this.finalizeAtMs = null;
    this.silenceCount = 0;
    const input: BrainInput = text ? { kind: 'utterance', text, confidence: this.pendingConfidence } : { kind: 'no-match' };
    this.startReply(input, turn);
  }

  dtmf(digit: string): void {
    if (this.over || this.state === 'idle') return;
    if (!/^[0-9A-D*#]$/.test(digit)) {
      this.log.warn({ digit }, 'ignoring invalid DTMF digit');
      return;
    }
    this.record.dtmf.push({ atMs: this.now(), digit });
    if (this.machine) return; // a machine's tones are no answer; the message goes on
    if (this.reply?.terminal) return; // the goodbye plays out and the call ends as decided
    if (this.reply) this.cancelReply();
    this.paused = null;
    this.silenceCount = 0;
    this.callerSpoke = false;
    this.pendingText = '';
    this.addTranscript({ role: 'caller', text: `[DTMF ${digit}]`, startMs: this.now(), endMs: this.now() });
    this.startReply({ kind: 'dtmf', digit }, { callerEndMs: this.now() });
  }

  // ------------------------------------------------------------------ replies

  private startReply(input: BrainInput, turn: TurnTiming | null): void {
    if (this.over) return;
    const reply = new Reply(input, turn);
    reply.startedMs = this.now();
    this.reply = reply;
    this.state = input.kind === 'greeting' ? 'greeting' : 'thinking';
    void this.runBrain(reply);
  }

  private async runBrain(reply: Reply): Promise<void> {
    const chunker = new SentenceChunker();
    const signal = reply.ctrl.signal;
    try {
      for await (const out of this.deps.brain.respond(reply.input, signal)) {
        if (signal.aborted) break;
        if (out.type === 'text') {
          if (reply.turn && reply.turn.llmFirstTokenMs === undefined) reply.turn.llmFirstTokenMs = this.now();
          reply.intended += out.text;
          for (const chunk of chunker.push(out.text)) this.addSegment(reply, chunk);
        } else {
          this.onAction(reply, out.action);
        }
      }
      if (!signal.aborted) for (const chunk of chunker.flush()) this.addSegment(reply, chunk);
    } catch (err) {
      if (signal.aborted) return;
      this.log.error({ err: errorMessage(err) }, 'brain failed');
      this.providerEvent('llm', 'error', errorMessage(err));
      reply.brainDone = true;
      this.fail('llm', err);
      return;
    }
    reply.brainDone = true;
    // The brain has moved on (e.g. to its next question): listen for the answers to that, even
    // while the question still plays, so a caller who answers over it is understood.
    this.syncExpectations();
    if (reply === this.reply && reply.segments.length === 0) this.finishReply(reply, false);
  }

  private onAction(reply: Reply, action: CallAction): void {
    if (action.type === 'hangup' || action.type === 'transfer') {
      reply.terminal ??= action;
      return;
    }
    this.emitAction(action);
  }

  private emitAction(action: CallAction): void {
    this.record.actions.push({ atMs: this.now(), action });
    if (action.type === 'set_disposition') this.record.disposition = action.status;
    this.log.info({ action: action.type }, 'action');
    this.emit('action', action);
  }

  private addSegment(reply: Reply, text: string): void {
    const seg = reply.addSegment(text);
    this.synthChain = this.synthChain.then(() => this.synthesize(reply, seg));
  }

  private async synthesize(reply: Reply, seg: Segment): Promise<void> {
    const signal = reply.ctrl.signal;
    if (signal.aborted || !this.tts) {
      seg.done = true;
      return;
    }
    const cache = reply.input.kind === 'greeting' ? (this.deps.greetingCache ?? sharedGreetingCache) : null;
    const key = cache ? `${this.tts.provider}\u0000${seg.text}` : '';
    const cached = cache?.get(key);
    if (cached) {
      this.markFirstAudio(reply);
      seg.chunks.push(cached);
      seg.available = cached.length;
      seg.done = true;
      this.audioArrived(reply);
      return;
    }
    try {
      for await (const pcm of this.tts.synthesize(seg.text, signal)) {
        if (signal.aborted) break;
        if (pcm.length === 0) continue;
        this.markFirstAudio(reply);
        seg.chunks.push(pcm);
        seg.available += pcm.length;
        this.audioArrived(reply);
      }
      if (cache && !signal.aborted) cache.set(key, concatPcm(seg.chunks));
    } catch (err) {
      if (!signal.aborted) {
        seg.failed = true;
        this.providerEvent('tts', 'error', errorMessage(err));
        this.fail('tts', err);
      }
    } finally {
      seg.done = true;
    }
  }

  /** The current reply's first frame is ready and nothing has played yet: say so once (see 'ready'). */
  private audioArrived(reply: Reply): void {
    if (reply !== this.reply || reply.readySignalled || reply.firstFrameMs !== null || this.paused || !reply.ready) return;
    reply.readySignalled = true;
    this.emit('ready');
  }

  private markFirstAudio(reply: Reply): void {
    if (reply.turn && reply.turn.ttsFirstAudioMs === undefined) reply.turn.ttsFirstAudioMs = this.now();
  }

  turnEndDueAt(): number | null {
    if (this.over || !this.turnMayEnd() || this.finalizeAtMs !== null) return null;
    return this.t0 + this.lastActivityMs + this.deps.agent.endOfTurnMs;
  }

  pollTurnEnd(): boolean {
    if (this.turnEndDueAt() === null) return false;
    this.checkTurnEnd(this.now());
    return this.state !== 'listening';
  }

  hasOutbound(): boolean {
    return !this.over && this.state !== 'idle' && this.reply !== null && !this.paused && this.reply.ready;
  }

  pullOutbound(): Pcm | null {
    if (this.over || this.state === 'idle') return null;
    const reply = this.reply;
    let frame: Pcm | null = null;
    if (reply && !this.paused && reply.pull(this.out)) {
      frame = this.out;
      const now = this.now();
      if (reply.firstFrameMs === null) {
        reply.firstFrameMs = now;
        if (reply.turn) {
          reply.turn.firstReplyMs = now;
          this.record.metrics.turnLatencyMs.push(Math.max(0, now - reply.turn.callerEndMs));
          this.record.metrics.turns.push(reply.turn);
          this.emit('turn', reply.turn);
        }
        if (this.state === 'thinking') this.state = 'speaking';
      }
      reply.lastFrameMs = now;
      this.framesOut++;
      this.trackOutLevel(frame);
    } else {
      if (this.outLevelHoldFrames > 0) this.outLevelHoldFrames--;
      if (reply && !this.paused && reply.finished) this.finishReply(reply, false);
    }
    this.deps.tap?.outbound(frame);
    return frame;
  }

  private trackOutLevel(frame: Pcm): void {
    const db = levelDbfs(frame);
    // hold the loudest recent level for ~200 ms: the echo comes back a little later than we send
    if (db > this.outLevelDbfs || this.outLevelHoldFrames <= 0) this.outLevelDbfs = db;
    this.outLevelHoldFrames = 10;
  }

  /** The reply ended (played out, or cut): record it, tell the brain what was heard, carry out a deferred action. */
  private finishReply(reply: Reply, cut: boolean): void {
    if (this.reply !== reply) return;
    this.reply = null;
    const heard = cut ? reply.heard() : reply.spokenText();
    const intended = reply.intended.trim() || reply.spokenText();
    if (reply.audible) {
      this.addTranscript({
        role: 'agent',
        text: heard,
        startMs: reply.firstFrameMs!,
        endMs: reply.lastFrameMs! + FRAME_MS,
        ...(cut ? { interrupted: true, intendedText: intended } : {}),
      });
    }
    this.deps.brain.replyHeard(heard, intended, cut);
    this.lastActivityMs = this.now();
    if (this.over) return;
    this.state = 'listening';
    if (!cut && reply.terminal) {
      if (reply === this.machine?.message) this.emitAction({ type: 'set_disposition', status: this.deps.agent.amd.messageStatus });
      this.terminate(reply.terminal, reply.endReason ?? (reply.terminal.type === 'transfer' ? 'transferred' : 'agent-hangup'));
      return;
    }
    this.syncExpectations();
  }

  private sentExpectations = '';

  /**
   * Give the recognizer the brain's current expectations — but never while the caller is talking:
   * a grammar switch restarts a grammar recognizer's utterance, and the words in flight would be lost.
   */
  private syncExpectations(): void {
    if (!this.stt?.setExpectations || this.callerSpeaking || this.callerSpoke || this.paused || this.over) return;
    const expect = this.deps.brain.expectations();
    const key = expect.phrases.join('\n');
    if (key === this.sentExpectations) return;
    this.sentExpectations = key;
    this.stt.setExpectations(expect);
  }

  /** Stop the current reply now (barge-in, DTMF, call end): pending model and TTS work is aborted. */
  private cancelReply(): void {
    const reply = this.reply;
    if (!reply) return;
    reply.ctrl.abort();
    if (reply.audible && !this.paused) this.emit('flush');
    this.finishReply(reply, true);
  }

  /** Speak `text` as its own reply, emit `actions`, then carry out `terminal`. */
  private sayThen(text: string, actions: CallAction[], terminal: CallAction, endReason?: EndReason): void {
    for (const a of actions) this.emitAction(a);
    const reply = new Reply({ kind: 'no-match' }, null);
    reply.startedMs = this.now();
    if (endReason) reply.endReason = endReason;
    if (this.reply) this.cancelReply();
    this.paused = null;
    this.reply = reply;
    this.state = 'speaking';
    reply.intended = text;
    reply.terminal = terminal;
    reply.brainDone = true;
    if (this.tts) this.addSegment(reply, text);
    else this.finishReply(reply, false);
  }

  private terminate(action: CallAction, reason: EndReason): void {
    if (this.over) return;
    if (action.type === 'transfer' && reason === 'transferred') {
      // The PBX moves the caller and then ends the call ('transferred'), or reports that the caller
      // hung up first ('caller-hangup'): the record says what happened, not what was asked for.
      if (this.reply) this.cancelReply();
      this.state = 'transferring';
      this.transferStartedMs = this.now();
      this.emitAction(action);
      return;
    }
    this.emitAction(action);
    this.end(reason, action.type === 'transfer' ? `transfer to ${action.target}` : action.type === 'hangup' ? action.reason : action.type);
  }

  /** Ended, or handed to the PBX for a transfer: nothing more is heard, said or decided. */
  private get over(): boolean {
    return this.state === 'ended' || this.state === 'transferring';
  }

  /** A provider failed beyond its fallbacks: apologize if we still can, then transfer or hang up. */
  private fail(role: 'stt' | 'llm' | 'tts', err: unknown): void {
    if (this.over) return;
    const code = err instanceof BridgeError ? err.code : 'INTERNAL';
    this.log.error({ role, code, err: errorMessage(err) }, 'provider failed; ending the conversation gracefully');
    const target = this.deps.agent.failureTransfer;
    const terminal: CallAction =
      target && this.deps.transfers[target]
        ? { type: 'transfer', target, summary: `AI agent could not continue (${role} failure)` }
        : { type: 'hangup', reason: `${role} failure` };
    if (role === 'tts' || !this.tts) {
      if (this.reply) this.cancelReply();
      this.terminate(terminal, terminal.type === 'transfer' ? 'transferred' : 'error');
      return;
    }
    this.sayThen(this.deps.agent.apology, [], terminal, terminal.type === 'transfer' ? 'transferred' : 'error');
  }

  private providerEvent(role: 'stt' | 'llm' | 'tts', kind: string, detail: string): void {
    const provider = role === 'stt' ? this.deps.stt.name : role === 'tts' ? this.deps.tts.name : this.deps.brain.name;
    this.record.providerEvents.push({ atMs: this.now(), role, provider, kind: 'error', detail: `${kind}: ${detail}` });
  }

  /** Every transcript line also goes out as an event, so a recorder can journal it as it happens. */
  private addTranscript(entry: TranscriptEntry): void {
    this.record.transcript.push(entry);
    this.emit('transcript', entry);
  }

  // ------------------------------------------------------------------ end

  end(reason: EndReason, detail?: string): void {
    if (this.state === 'ended') return;
    if (this.reply) this.cancelReply();
    this.state = 'ended';
    this.lifetime.abort();
    this.record.endedAt = new Date().toISOString();
    this.record.endReason = reason;
    if (detail) this.record.endDetail = detail;
    this.record.metrics.framesIn = this.framesIn;
    this.record.metrics.framesOut = this.framesOut;
    this.vad?.close();
    const closing = [this.stt?.close(), this.tts?.close()].filter(Boolean) as Promise<void>[];
    void Promise.allSettled(closing).then((results) => {
      for (const r of results) if (r.status === 'rejected') this.log.warn({ err: errorMessage(r.reason) }, 'provider close failed');
    });
    this.log.info({ reason, detail }, 'call ended');
    this.emit('ended', this.record);
  }

  override on<E extends keyof CallEvents>(event: E, listener: (...args: CallEvents[E]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off<E extends keyof CallEvents>(event: E, listener: (...args: CallEvents[E]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }
}

function wordsOf(text: string): boolean {
  return normalize(text).length > 0;
}
