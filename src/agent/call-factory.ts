/**
 * Builds one Call per answered call from the configuration: the brain (scripted campaign, or the LLM
 * brain when a model is configured), the provider chains, a VAD. Adapters get this as their CallFactory.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../media/clock.ts';
import type { LanguageModel, SpeechToText, TextToSpeech } from '../providers/types.ts';
import { createVad } from '../media/vad.ts';
import { Call, type VoiceDetector } from './call.ts';
import type { CallContext, CallFactory } from './call-port.ts';
import type { Campaign } from './brain/campaign.ts';
import { ScriptBrain } from './brain/script-brain.ts';
import { LlmBrain } from './brain/llm-brain.ts';
import type { Brain } from './brain/types.ts';
import { AudioCache } from './audio-cache.ts';
import type { CallRecorderHooks } from './call-taps.ts';

export interface AgentRuntime {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly campaign: Campaign;
  readonly stt: SpeechToText;
  readonly tts: TextToSpeech;
  /** null: the scripted campaign brain. */
  readonly llm: LanguageModel | null;
  readonly greetingCache?: AudioCache;
  readonly createVad?: () => Promise<VoiceDetector>;
  /** Called for every call created (records, metrics). */
  readonly onCall?: (call: Call, context: CallContext) => CallRecorderHooks | void;
}

export class AgentCallFactory implements CallFactory {
  private readonly greetingCache: AudioCache;
  private rt: AgentRuntime;

  constructor(rt: AgentRuntime) {
    this.rt = rt;
    this.greetingCache = rt.greetingCache ?? new AudioCache();
  }

  /** SIGHUP: calls created from now on use the new agent settings and campaign; calls in progress keep theirs. */
  reload(config: Config, campaign: Campaign): void {
    this.rt = { ...this.rt, config: { ...this.rt.config, agent: config.agent }, campaign };
  }

  brainFor(context: CallContext, callId: string): Brain {
    const { config, llm } = this.rt;
    if (!llm) return new ScriptBrain(this.rt.campaign, context, config.transfers);
    return new LlmBrain({
      model: llm,
      systemPrompt: config.agent.systemPrompt ?? defaultSystemPrompt(this.rt.campaign),
      context,
      transfers: config.transfers,
      maxTokens: config.agent.maxReplyTokens,
      logger: this.rt.logger,
      callId,
      greeting: config.agent.greeting,
      apology: config.agent.apology,
      failureTransfer: config.agent.failureTransfer,
    });
  }

  create(init: { callId: string; context: CallContext }): Call {
    const { config } = this.rt;
    let tap: CallRecorderHooks | undefined;
    const call = new Call(init.callId, init.context, {
      agent: config.agent,
      vad: config.media.vad,
      transfers: config.transfers,
      clock: this.rt.clock,
      logger: this.rt.logger,
      brain: this.brainFor(init.context, init.callId),
      stt: this.rt.stt,
      tts: this.rt.tts,
      createVad: this.rt.createVad ?? (() => createVad(config.media.vad)),
      greetingCache: this.greetingCache,
      tap: {
        inbound: (f) => tap?.inbound(f),
        outbound: (f) => tap?.outbound(f),
      },
    });
    tap = this.rt.onCall?.(call, init.context) ?? undefined;
    return call;
  }
}

function defaultSystemPrompt(c: Campaign): string {
  return (
    `You are ${c.agentName}, a friendly phone agent for ${c.company || 'our company'} on an outbound call to {{first_name}}. ` +
    'Qualify the caller: are they interested, are they the homeowner, is their electric bill over one hundred dollars a month. ' +
    'Transfer qualified, interested callers to a live specialist. Book a callback when asked. ' +
    'If the caller asks not to be called again, add them to the do-not-call list, apologize and end the call.'
  );
}
