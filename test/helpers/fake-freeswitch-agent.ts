/**
 * A test double of the CallSession port (not of our adapter): greets with a tone, echoes what the
 * caller says after the greeting, and lets a test make it hang up, transfer or barge-in. It records
 * everything it was given so tests can check what crossed the adapter.
 */
import { EventEmitter } from 'node:events';
import type { CallAction, CallContext, CallFactory, CallSession, CallSessionEvents, EndReason } from '../../src/agent/call-port.ts';
import type { CallRecord } from '../../src/agent/call-record.ts';
import { FRAME_SAMPLES, type Pcm } from '../../src/media/audio-frame.ts';

export function tone(frames: number, hz = 440, amplitude = 8000, startFrame = 0): Pcm[] {
  const out: Pcm[] = [];
  for (let f = 0; f < frames; f++) {
    const frame = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const n = (startFrame + f) * FRAME_SAMPLES + i;
      frame[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / 8000));
    }
    out.push(frame);
  }
  return out;
}

export function energy(frame: Int16Array): number {
  let s = 0;
  for (let i = 0; i < frame.length; i++) s += Math.abs(frame[i]!);
  return s / frame.length;
}

export class ToneEchoAgent extends EventEmitter implements CallSession {
  readonly inbound: Pcm[] = [];
  readonly digits: string[] = [];
  readonly outbound: Pcm[] = [];
  pulled = 0;
  pulledAudio = 0;
  started = false;
  /** performance.now() when the first audio frame left the agent (latency runs). */
  firstAudioAt: number | null = null;
  endReason: EndReason | null = null;
  endDetail: string | undefined;
  echo = true;
  private queue: Pcm[] = [];

  constructor(
    readonly id: string,
    readonly context: CallContext,
    private readonly greetingFrames = 10,
  ) {
    super();
  }

  async start(): Promise<void> {
    this.started = true;
    this.queue.push(...tone(this.greetingFrames));
  }

  pushInbound(frame: Pcm): void {
    if (this.endReason) return;
    this.inbound.push(frame);
    if (this.echo && energy(frame) > 500) this.queue.push(Int16Array.from(frame));
  }

  pullOutbound(): Pcm | null {
    this.pulled++;
    const f = this.queue.shift() ?? null;
    if (f) {
      if (this.firstAudioAt === null) this.firstAudioAt = performance.now();
      this.pulledAudio++;
      this.outbound.push(f);
    }
    return f;
  }

  dtmf(digit: string): void {
    this.digits.push(digit);
  }

  /** Queue speech to send (e.g. a long reply to barge into). */
  speak(frames: Pcm[]): void {
    this.queue.push(...frames);
  }

  /** Barge-in as the real agent does it: stop our audio now, tell the transport to drop what it holds. */
  bargeIn(): void {
    this.queue = [];
    this.emit('flush');
  }

  act(action: CallAction): void {
    this.emit('action', action);
    if (action.type === 'hangup') this.end('agent-hangup', action.reason);
    // A transfer is the PBX's to complete: like the real Call, the session waits for end().
  }

  end(reason: EndReason, detail?: string): void {
    if (this.endReason) return;
    this.endReason = reason;
    this.endDetail = detail;
    this.queue = [];
    const record: CallRecord = {
      callId: this.id,
      pbx: 'freeswitch',
      startedAt: new Date(0).toISOString(),
      endReason: reason,
      transcript: [],
      actions: [],
      dtmf: this.digits.map((digit) => ({ atMs: 0, digit })),
      providers: { stt: 'none', llm: 'none', tts: 'none' },
      providerEvents: [],
      metrics: { turnLatencyMs: [], bargeInStopMs: [], turns: [], framesIn: this.inbound.length, framesOut: this.pulledAudio },
    };
    // async like the real Call (providers close first)
    queueMicrotask(() => this.emit('ended', record));
  }

  override on<E extends keyof CallSessionEvents>(event: E, listener: (...args: CallSessionEvents[E]) => void): this;
  override on(event: string, listener: (...args: never[]) => void): this;
  override on(event: string, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }
}

export class ToneEchoFactory implements CallFactory {
  readonly created: ToneEchoAgent[] = [];
  constructor(private readonly greetingFrames = 10) {}
  create(init: { readonly callId: string; readonly context: CallContext }): ToneEchoAgent {
    const a = new ToneEchoAgent(init.callId, init.context, this.greetingFrames);
    this.created.push(a);
    return a;
  }
  get(id: string): ToneEchoAgent | undefined {
    return this.created.find((a) => a.id === id);
  }
}
