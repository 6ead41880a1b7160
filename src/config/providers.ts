/**
 * Provider chains per role: the first entry is used, the next ones are fallbacks in order.
 * `embedded` needs no key and no network. Cloud entries take their key from `apiKey` or, when that is
 * absent, from the environment variable named by `apiKeyEnv` (keeps secrets out of config files);
 * `baseUrl` points at the vendor by default and at a self-hosted / compatible server (or a test
 * server) when set.
 */
import { z } from 'zod';

const embeddedStt = z.object({ type: z.literal('embedded') }).strict();
const embeddedLlm = z.object({ type: z.literal('embedded') }).strict();
const embeddedTts = z
  .object({
    type: z.literal('embedded'),
    /** flite voice: kal is natively 8 kHz; kal16/rms are clearer and downsampled 2:1. */
    voice: z.enum(['kal', 'kal16', 'rms', 'slt', 'awb']).default('kal16'),
  })
  .strict();

/** Fields every network provider shares. */
const keyed = (apiKeyEnv: string, baseUrl: string) => ({
  apiKey: z.string().min(1).optional(),
  apiKeyEnv: z.string().default(apiKeyEnv),
  baseUrl: z.string().url().default(baseUrl),
  /** Connection (handshake / HTTP headers) must complete within this. */
  connectTimeoutMs: z.number().int().min(50).max(60000).default(3000),
});

const deepgramStt = z
  .object({
    type: z.literal('deepgram'),
    ...keyed('DEEPGRAM_API_KEY', 'wss://api.deepgram.com'),
    model: z.string().default('nova-2-phonecall'),
    language: z.string().default('en-US'),
    /** Boost words. nova-3 models take them as `keyterm`, older ones as `keywords` (word:boost). */
    keywords: z.array(z.string()).default([]),
    /** Silence (ms) after which Deepgram marks a final as speech_final. */
    endpointingMs: z.number().int().min(10).max(5000).default(300),
    /** Gap (ms) in words after which Deepgram sends UtteranceEnd (min 1000 per Deepgram docs). */
    utteranceEndMs: z.number().int().min(1000).max(5000).default(1000),
    /** Send KeepAlive when no audio was sent for this long (Deepgram closes after ~10 s without data). */
    keepAliveSeconds: z.number().min(0.05).max(9).default(4),
    /** No message from Deepgram for this long while audio flows -> PROVIDER_STALL. */
    stallSeconds: z.number().min(0.05).max(120).default(10),
  })
  .strict();

const whisperStt = z
  .object({
    type: z.literal('whisper'),
    ...keyed('OPENAI_API_KEY', 'https://api.openai.com/v1'),
    model: z.string().default('whisper-1'),
    language: z.string().default('en'),
    /** Sent as the transcription `prompt`: spelling hints for names and products. */
    keywords: z.array(z.string()).default([]),
    /** Whole request (upload + transcription) must finish within this. */
    timeoutMs: z.number().int().min(100).max(120000).default(10000),
    /** Longest utterance kept; older audio is dropped. */
    maxUtteranceSeconds: z.number().int().min(1).max(120).default(30),
  })
  .strict();

const openaiLlm = z
  .object({
    type: z.literal('openai'),
    ...keyed('OPENAI_API_KEY', 'https://api.openai.com/v1'),
    model: z.string().default('gpt-4o-mini'),
    temperature: z.number().min(0).max(2).default(0.6),
    /** Overrides agent.maxReplyTokens for this provider. */
    maxTokens: z.number().int().min(16).max(4096).optional(),
    /** OpenAI's newer models want max_completion_tokens; Groq/Ollama/vLLM/llama.cpp take max_tokens. */
    maxTokensParam: z.enum(['max_tokens', 'max_completion_tokens']).default('max_tokens'),
    /** Ask for a final usage chunk (stream_options.include_usage); turn off for servers that reject it. */
    includeUsage: z.boolean().default(true),
    /** No streamed chunk for this long (first token included) -> PROVIDER_STALL. */
    stallSeconds: z.number().min(0.05).max(120).default(8),
  })
  .strict();

const elevenlabsTts = z
  .object({
    type: z.literal('elevenlabs'),
    ...keyed('ELEVENLABS_API_KEY', 'wss://api.elevenlabs.io'),
    voiceId: z.string().min(1),
    modelId: z.string().default('eleven_flash_v2_5'),
    stability: z.number().min(0).max(1).default(0.5),
    similarityBoost: z.number().min(0).max(1).default(0.8),
    /** No audio for this long after a chunk was sent -> PROVIDER_STALL (the fallback then speaks it). */
    stallSeconds: z.number().min(0.05).max(60).default(1),
  })
  .strict();

const cartesiaTts = z
  .object({
    type: z.literal('cartesia'),
    ...keyed('CARTESIA_API_KEY', 'wss://api.cartesia.ai'),
    /** Cartesia-Version (sent as the cartesia_version query parameter). */
    version: z.string().default('2024-11-13'),
    modelId: z.string().default('sonic-2'),
    voiceId: z.string().min(1),
    language: z.string().default('en'),
    stallSeconds: z.number().min(0.05).max(60).default(1),
  })
  .strict();

const openaiTts = z
  .object({
    type: z.literal('openai'),
    ...keyed('OPENAI_API_KEY', 'https://api.openai.com/v1'),
    model: z.string().default('gpt-4o-mini-tts'),
    voice: z.string().default('alloy'),
    /** Speaking style for gpt-4o-mini-tts (ignored by tts-1). */
    instructions: z.string().optional(),
    stallSeconds: z.number().min(0.05).max(60).default(1.5),
  })
  .strict();

export const sttEntry = z.discriminatedUnion('type', [embeddedStt, deepgramStt, whisperStt]);
export const llmEntry = z.discriminatedUnion('type', [embeddedLlm, openaiLlm]);
export const ttsEntry = z.discriminatedUnion('type', [embeddedTts, elevenlabsTts, cartesiaTts, openaiTts]);

export const providersSchema = z
  .object({
    stt: z.array(sttEntry).min(1).default([{ type: 'embedded' }]),
    llm: z.array(llmEntry).min(1).default([{ type: 'embedded' }]),
    tts: z.array(ttsEntry).min(1).default([{ type: 'embedded', voice: 'kal16' }]),
  })
  .strict()
  .default({});

export type SttEntry = z.infer<typeof sttEntry>;
export type LlmEntry = z.infer<typeof llmEntry>;
export type TtsEntry = z.infer<typeof ttsEntry>;
export type DeepgramConfig = z.infer<typeof deepgramStt>;
export type WhisperConfig = z.infer<typeof whisperStt>;
export type OpenAiLlmConfig = z.infer<typeof openaiLlm>;
export type ElevenLabsConfig = z.infer<typeof elevenlabsTts>;
export type CartesiaConfig = z.infer<typeof cartesiaTts>;
export type OpenAiTtsConfig = z.infer<typeof openaiTts>;
/** Input shapes (defaults optional), for tests and programmatic construction. */
export type DeepgramConfigInput = z.input<typeof deepgramStt>;
export type WhisperConfigInput = z.input<typeof whisperStt>;
export type OpenAiLlmConfigInput = z.input<typeof openaiLlm>;
export type ElevenLabsConfigInput = z.input<typeof elevenlabsTts>;
export type CartesiaConfigInput = z.input<typeof cartesiaTts>;
export type OpenAiTtsConfigInput = z.input<typeof openaiTts>;
