/**
 * All vendor protocol servers at once, with realistic delays by default (STT final 150 ms, LLM first
 * token 300 ms, TTS first audio 120 ms), plus a matching `providers` config section: for the
 * simulator's latency demo and end-to-end tests. Keys are fixed test values.
 */
import type { ConfigInput } from '../../../src/config/schema.ts';
import { CartesiaTestServer } from './cartesia.ts';
import { DeepgramTestServer } from './deepgram.ts';
import { ElevenLabsTestServer } from './elevenlabs.ts';
import { OpenAiTestServer } from './openai.ts';

export interface Delays {
  readonly sttFinalMs: number;
  readonly llmFirstTokenMs: number;
  readonly llmTokenMs: number;
  readonly ttsFirstAudioMs: number;
}

export const REALISTIC: Delays = { sttFinalMs: 150, llmFirstTokenMs: 300, llmTokenMs: 15, ttsFirstAudioMs: 120 };
export const TEST_KEYS = { deepgram: 'dg-test-key', openai: 'sk-test-key', elevenlabs: 'xi-test-key', cartesia: 'ca-test-key' } as const;

export interface ProviderServers {
  readonly deepgram: DeepgramTestServer;
  readonly openai: OpenAiTestServer;
  readonly elevenlabs: ElevenLabsTestServer;
  readonly cartesia: CartesiaTestServer;
  /** `providers` section pointing at these servers: Deepgram -> Whisper, OpenAI, ElevenLabs -> Cartesia. */
  readonly config: NonNullable<ConfigInput['providers']>;
  stop(): Promise<void>;
}

export async function startProviderServers(opts: { delays?: Delays; utterances?: readonly string[] } = {}): Promise<ProviderServers> {
  const d = opts.delays ?? REALISTIC;
  const deepgram = new DeepgramTestServer({ apiKey: TEST_KEYS.deepgram, utterances: opts.utterances, finalDelayMs: d.sttFinalMs });
  const openai = new OpenAiTestServer({ apiKey: TEST_KEYS.openai, firstTokenDelayMs: d.llmFirstTokenMs, tokenDelayMs: d.llmTokenMs, transcriptionDelayMs: d.sttFinalMs, speechFirstAudioDelayMs: d.ttsFirstAudioMs });
  const elevenlabs = new ElevenLabsTestServer({ apiKey: TEST_KEYS.elevenlabs, firstAudioDelayMs: d.ttsFirstAudioMs });
  const cartesia = new CartesiaTestServer({ apiKey: TEST_KEYS.cartesia, firstAudioDelayMs: d.ttsFirstAudioMs });
  const [dg, oa, el, ca] = await Promise.all([deepgram.start(), openai.start(), elevenlabs.start(), cartesia.start()]);
  return {
    deepgram,
    openai,
    elevenlabs,
    cartesia,
    config: {
      stt: [
        { type: 'deepgram', apiKey: TEST_KEYS.deepgram, baseUrl: dg },
        { type: 'whisper', apiKey: TEST_KEYS.openai, baseUrl: oa },
      ],
      llm: [{ type: 'openai', apiKey: TEST_KEYS.openai, baseUrl: oa }],
      tts: [
        { type: 'elevenlabs', apiKey: TEST_KEYS.elevenlabs, baseUrl: el, voiceId: 'test-voice' },
        { type: 'cartesia', apiKey: TEST_KEYS.cartesia, baseUrl: ca, voiceId: 'test-voice' },
      ],
    },
    async stop() {
      await Promise.all([deepgram.stop(), openai.stop(), elevenlabs.stop(), cartesia.stop()]);
    },
  };
}
