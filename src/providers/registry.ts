/**
 * Builds the provider chains from config: one adapter per entry, wrapped in a fallback chain when
 * there is more than one. Adapters are shared by all calls; per-call state lives in the sessions they
 * open, so one call's provider failure never touches another call.
 */
import pino from 'pino';
import type { Config } from '../config/schema.ts';
import type { LlmEntry, SttEntry, TtsEntry } from '../config/providers.ts';
import { FallbackLlm, FallbackStt, FallbackTts, type FallbackReporter } from './fallback.ts';
import { OpenAiLlm } from './llm/openai.ts';
import type { TimingSink } from './common.ts';
import { DeepgramStt } from './stt/deepgram.ts';
import { PocketsphinxStt } from './stt/pocketsphinx.ts';
import { WhisperStt } from './stt/whisper.ts';
import { CartesiaTts } from './tts/cartesia.ts';
import { ElevenLabsTts } from './tts/elevenlabs.ts';
import { FliteTts } from './tts/flite.ts';
import { OpenAiTts } from './tts/openai-tts.ts';
import type { LanguageModel, SpeechToText, TextToSpeech } from './types.ts';

export interface ProviderDeps {
  readonly logger: pino.Logger;
  readonly onFallback?: FallbackReporter;
  /** Per-turn provider latencies (first token, first audio, STT final), for the call record. */
  readonly onTiming?: TimingSink;
  /** The PBX codec: lets Deepgram take µ-law payloads as they arrive. Default 'ulaw'. */
  readonly codec?: 'ulaw' | 'alaw';
  readonly env?: NodeJS.ProcessEnv;
}

export interface Providers {
  readonly stt: SpeechToText;
  readonly tts: TextToSpeech;
  /** null when the chain starts with 'embedded' = the scripted brain runs, no model. */
  readonly llm: LanguageModel | null;
}

export function createProviders(cfg: Config['providers'], deps: ProviderDeps): Providers {
  const log = deps.logger;
  const stt = cfg.stt.map((e, i) => makeStt(e, `providers.stt[${i}].apiKey`, deps));
  const tts = cfg.tts.map((e, i) => makeTts(e, `providers.tts[${i}].apiKey`, deps));
  let llm: LanguageModel | null = null;
  if (cfg.llm[0].type !== 'embedded') {
    const models = cfg.llm.flatMap((e, i) => (e.type === 'embedded' ? [] : [makeLlm(e, `providers.llm[${i}].apiKey`, deps)]));
    if (models.length < cfg.llm.length) {
      // A model chain cannot end in the scripted brain at this level; the brain's failure policy
      // (apology + transfer/hangup) covers the "all models down" case instead.
      log.info('providers.llm: "embedded" after a model entry is ignored (the LLM brain handles total model failure)');
    }
    llm = models.length === 1 ? models[0] : new FallbackLlm(models, { logger: log, onFallback: deps.onFallback });
  }
  return {
    stt: stt.length === 1 ? stt[0] : new FallbackStt(stt, { logger: log, onFallback: deps.onFallback }),
    tts: tts.length === 1 ? tts[0] : new FallbackTts(tts, { logger: log, onFallback: deps.onFallback }),
    llm,
  };
}

function makeStt(e: SttEntry, configKey: string, d: ProviderDeps): SpeechToText {
  const logger = d.logger.child({ provider: e.type, role: 'stt' });
  switch (e.type) {
    case 'embedded':
      return new PocketsphinxStt({ logger });
    case 'deepgram':
      return new DeepgramStt({ config: e, configKey, codec: d.codec, logger, onTiming: d.onTiming, env: d.env });
    case 'whisper':
      return new WhisperStt({ config: e, configKey, logger, onTiming: d.onTiming, env: d.env });
  }
}

function makeTts(e: TtsEntry, configKey: string, d: ProviderDeps): TextToSpeech {
  const logger = d.logger.child({ provider: e.type, role: 'tts' });
  switch (e.type) {
    case 'embedded':
      return new FliteTts({ voice: e.voice, logger });
    case 'elevenlabs':
      return new ElevenLabsTts({ config: e, configKey, logger, onTiming: d.onTiming, env: d.env });
    case 'cartesia':
      return new CartesiaTts({ config: e, configKey, logger, onTiming: d.onTiming, env: d.env });
    case 'openai':
      return new OpenAiTts({ config: e, configKey, logger, onTiming: d.onTiming, env: d.env });
  }
}

function makeLlm(e: Exclude<LlmEntry, { type: 'embedded' }>, configKey: string, d: ProviderDeps): LanguageModel {
  return new OpenAiLlm({ config: e, configKey, logger: d.logger.child({ provider: e.type, role: 'llm' }), onTiming: d.onTiming, env: d.env });
}
