/**
 * A test double of the CallSession port for adapter tests (the real agent Call needs providers):
 * greets with a 440 Hz tone, records what it hears and the digits it gets, and asks for hangup /
 * transfer / VICIdial actions when the test says so. Emits 'ended' exactly once, as the port requires.
 */
import { EventEmitter } from 'node:events';
import type { CallAction, CallContext, CallFactory, CallSession, EndReason } from '../../src/agent/call-port.ts';
import type { CallRecord } from '../../src/agent/call-record.ts';
import { FRAME_SAMPLES, type Pcm } from '../../src/media/audio-frame.ts';

export class ToneSession extends EventEmitter implements CallSession {
  readonly inbound: Pcm[] = [];
  readonly digits: string[] = [];
  readonly actions: CallAction[] = [];
  started = false;
  ended: { reason: EndReason; detail?: string } | null = null;
  outboundFrames = 0;
  private greetingLeft: number;
  private phase = 0;

  constructor(
    readonly id: string,
    readonly context: CallContext,
    greetingFrames = 25,
    private readonly startDelayMs = 0,
  ) {
    super();
    this.greetingLeft = greetingFrames;
  }

  async start(): Promise<void> {
    if (this.startDelayMs) await new Promise((r) => setTimeout(r, this.startDelayMs));
    this.started = true;
  }

  pushInbound(frame: Pcm): void {
    if (this.inbound.length < 5000) this.inbound.push(Int16Array.from(frame));
  }

  pullOutbound(): Pcm | null {
    if (!this.started || this.ended || this.greetingLeft <= 0) return null;
    this.greetingLeft--;
    const f = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < f.length; i++, this.phase++) f[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * this.phase) / 8000));
    this.outboundFrames++;
    return f;
  }

  /** Speak again (a reply after silence). */
  say(frames: number): void {
    this.greetingLeft += frames;
  }

  dtmf(digit: string): void {
    this.digits.push(digit);
  }

  /** Like the agent's Call: hangup/transfer are emitted and the call ends right after. */
  act(action: CallAction): void {
    this.actions.push(action);
    this.emit('action', action);
    if (action.type === 'hangup') this.end('agent-hangup', action.reason);
    // A transfer is the PBX's to complete: like the real Call, the session waits for end().
  }

  end(reason: EndReason, detail?: string): void {
    if (this.ended) return;
    this.ended = { reason, ...(detail ? { detail } : {}) };
    const record: CallRecord = {
      callId: this.id,
      pbx: this.context.pbx,
      startedAt: new Date().toISOString(),
      endedAt: new Date().toISOString(),
      endReason: reason,
      ...(detail ? { endDetail: detail } : {}),
      transcript: [],
      actions: [],
      dtmf: this.digits.map((digit) => ({ atMs: 0, digit })),
      providers: { stt: 'test', llm: 'test', tts: 'test' },
      providerEvents: [],
      metrics: { turnLatencyMs: [], bargeInStopMs: [], turns: [], framesIn: this.inbound.length, framesOut: this.outboundFrames },
    };
    this.emit('ended', record);
  }
}

export class ToneSessionFactory implements CallFactory {
  readonly sessions: ToneSession[] = [];
  constructor(private readonly opts: { greetingFrames?: number; startDelayMs?: number } = {}) {}
  create(init: { callId: string; context: CallContext }): ToneSession {
    const s = new ToneSession(init.callId, init.context, this.opts.greetingFrames, this.opts.startDelayMs);
    this.sessions.push(s);
    return s;
  }
  byChannel(channelId: string): ToneSession | undefined {
    return this.sessions.find((s) => s.context.channelId === channelId);
  }
}
