/**
 * Zero-latency local providers for the load benchmark, so only the daemon is measured: an STT that
 * returns a scripted final the instant finalize() is called, a TTS that returns pre-made speech PCM
 * at once, and a brain that answers every turn with the same reply. They implement the provider /
 * brain ports; the Call, VAD, jitter buffer and pacer they run under are the real ones.
 */
import type { Pcm } from '../src/media/audio-frame.ts';
import type { Brain, BrainInput, BrainOutput } from '../src/agent/brain/types.ts';
import type {
  Expectations,
  ProviderOpenOptions,
  SpeechToText,
  SttEvent,
  SttSession,
  TextToSpeech,
  TtsSession,
} from '../src/providers/types.ts';
import { AGENT_LINES } from './audio.ts';

export const BENCH_CALLER_TEXT = 'tell me more about the price';

export class InstantStt implements SpeechToText {
  readonly name = 'bench-stt';
  framesWritten = 0;
  finals = 0;
  open(_opts: ProviderOpenOptions & { expect?: Expectations }, onEvent: (e: SttEvent) => void): Promise<SttSession> {
    const self = this;
    return Promise.resolve({
      provider: this.name,
      write() {
        self.framesWritten++;
      },
      finalize() {
        self.finals++;
        queueMicrotask(() => onEvent({ type: 'final', text: BENCH_CALLER_TEXT, endOfUtterance: true }));
      },
      close() {
        return Promise.resolve();
      },
    });
  }
}

/** Speaks the greeting text as the synthesized greeting, anything else as (a slice of) the reply speech. */
export class InstantTts implements TextToSpeech {
  readonly name = 'bench-tts';
  constructor(
    private readonly greeting: Pcm,
    private readonly reply: Pcm,
  ) {}

  open(_opts: ProviderOpenOptions): Promise<TtsSession> {
    const { greeting, reply } = this;
    return Promise.resolve({
      provider: this.name,
      async *synthesize(text: string, signal: AbortSignal): AsyncGenerator<Pcm> {
        if (signal.aborted) return;
        // The Call cuts text into sentences: a piece of the greeting gets its share of the greeting audio.
        const at = AGENT_LINES.greeting.indexOf(text.trim());
        if (at >= 0) {
          const len = AGENT_LINES.greeting.length;
          const from = Math.floor((at / len) * greeting.length);
          const to = Math.floor(((at + text.trim().length) / len) * greeting.length);
          yield greeting.subarray(from, Math.max(from + 160, to));
          return;
        }
        // ~70 ms per character, like the flite voice; a view, not a copy (the Call only reads it)
        const samples = Math.min(reply.length, Math.max(1600, Math.round(text.length * 70 * 8)));
        yield reply.subarray(0, samples);
      },
      close() {
        return Promise.resolve();
      },
    });
  }
}

export class BenchBrain implements Brain {
  readonly name = 'bench-brain';
  expectations(): Expectations {
    return { phrases: [] };
  }
  async *respond(input: BrainInput, signal: AbortSignal): AsyncGenerator<BrainOutput> {
    if (signal.aborted) return;
    yield { type: 'text', text: input.kind === 'greeting' ? AGENT_LINES.greeting : AGENT_LINES.reply };
  }
  replyHeard(): void {}
}
