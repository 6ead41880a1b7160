/**
 * Scripted providers for agent-loop tests: they implement the provider ports (not our own code) with
 * behaviour a test sets up: what the recognizer "hears" at each finalize, how long each synthesized
 * chunk is, and failures on demand.
 */
import type { Pcm } from '../../src/media/audio-frame.ts';
import type { VoiceDetector } from '../../src/agent/call.ts';
import { BridgeError } from '../../src/errors.ts';
import type {
  Expectations,
  ProviderOpenOptions,
  SpeechToText,
  SttEvent,
  SttSession,
  TextToSpeech,
  TtsSession,
} from '../../src/providers/types.ts';

export class ScriptedStt implements SpeechToText {
  readonly name = 'scripted-stt';
  /** Texts returned by successive finalize() calls ('' = heard but not understood). */
  readonly finals: string[] = [];
  readonly expectations: Expectations[] = [];
  framesWritten = 0;
  finalizeCalls = 0;
  closed = 0;
  emit: ((e: SttEvent) => void) | null = null;

  async open(opts: ProviderOpenOptions & { expect?: Expectations }, onEvent: (e: SttEvent) => void): Promise<SttSession> {
    if (opts.expect) this.expectations.push(opts.expect);
    this.emit = onEvent;
    const self = this;
    return {
      provider: this.name,
      write() {
        self.framesWritten++;
      },
      setExpectations(e) {
        self.expectations.push(e);
      },
      finalize() {
        self.finalizeCalls++;
        const text = self.finals.shift() ?? '';
        queueMicrotask(() => onEvent({ type: 'final', text, endOfUtterance: true }));
      },
      async close() {
        self.closed++;
      },
    };
  }
}

/** Speaks every chunk as a constant-level tone, `msPerChar` ms per character, in 100 ms pieces. */
export class ToneTts implements TextToSpeech {
  readonly name = 'tone-tts';
  readonly spoken: string[] = [];
  failOn: RegExp | null = null;
  /** Chunks matching this never produce audio (a stalled stream) until aborted. */
  stallOn: RegExp | null = null;
  closed = 0;
  aborted = 0;

  constructor(private readonly msPerChar = 40) {}

  async open(_opts: ProviderOpenOptions): Promise<TtsSession> {
    const self = this;
    return {
      provider: this.name,
      async *synthesize(text: string, signal: AbortSignal): AsyncGenerator<Pcm> {
        if (self.failOn?.test(text)) throw new BridgeError('PROVIDER_CLOSED', 'tone-tts: scripted failure');
        self.spoken.push(text);
        if (self.stallOn?.test(text)) {
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          return;
        }
        let samples = Math.round((text.length * self.msPerChar * 8000) / 1000);
        while (samples > 0) {
          await Promise.resolve();
          if (signal.aborted) {
            self.aborted++;
            return;
          }
          const n = Math.min(800, samples);
          yield new Int16Array(n).fill(8000);
          samples -= n;
        }
      },
      async close() {
        self.closed++;
      },
    };
  }
}

/**
 * An energy VAD with the real one's onset/hangover semantics, for synthetic test frames (a pure
 * constant "voice" is not speech to WebRTC VAD). The real VAD is tested on real speech in test/media.
 */
export class EnergyVad implements VoiceDetector {
  private run = 0;
  private quiet = 0;
  speaking = false;
  constructor(
    private readonly onsetMs = 60,
    private readonly hangoverMs = 200,
  ) {}

  process(frame: Pcm, opts?: { minLevelDbfs?: number }) {
    let sum = 0;
    for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
    const levelDbfs = sum > 0 ? 10 * Math.log10(sum / frame.length / (32768 * 32768)) : -120;
    const voiced = levelDbfs > Math.max(-45, opts?.minLevelDbfs ?? -Infinity);
    let event: 'start' | 'end' | null = null;
    if (voiced) {
      this.run += 20;
      this.quiet = 0;
      if (!this.speaking && this.run >= this.onsetMs) {
        this.speaking = true;
        event = 'start';
      }
    } else {
      this.quiet += 20;
      if (!this.speaking) this.run = 0;
      if (this.speaking && this.quiet >= this.hangoverMs) {
        this.speaking = false;
        this.run = 0;
        event = 'end';
      }
    }
    return { voiced, speaking: this.speaking, event, levelDbfs };
  }
  reset() {
    this.run = 0;
    this.quiet = 0;
    this.speaking = false;
  }
  close() {}
}
