/**
 * The JSON record of one call. Times are milliseconds from call start, measured on the audio the
 * daemon actually received and sent (frame counts), not on internal events.
 */
import type { CallAction, CallContext, EndReason } from './call-port.ts';

/** endDetail of a call whose transfer the PBX never confirmed within agent.transferConfirmMs. */
export const TRANSFER_UNCONFIRMED = 'transfer not confirmed by the PBX';

export interface TranscriptEntry {
  role: 'caller' | 'agent';
  text: string;
  startMs: number;
  endMs: number;
  /** Agent only: the caller barged in; `text` is then the part actually heard. */
  interrupted?: boolean;
  /** Agent only: the full text we meant to say, when interrupted. */
  intendedText?: string;
}

export interface TurnTiming {
  /** End of caller speech (last voiced inbound frame) in call time. */
  callerEndMs: number;
  /** Recognizer final transcript arrived. */
  sttFinalMs?: number;
  /** First token/text from the brain. */
  llmFirstTokenMs?: number;
  /** First synthesized audio available. */
  ttsFirstAudioMs?: number;
  /** First reply frame handed to the transport. */
  firstReplyMs?: number;
}

export interface ProviderEvent {
  atMs: number;
  role: 'stt' | 'llm' | 'tts';
  provider: string;
  kind: 'error' | 'fallback';
  detail: string;
}

export interface CallRecord {
  callId: string;
  pbx: CallContext['pbx'];
  channelId?: string;
  leadId?: number;
  campaignId?: string;
  callerNumber?: string;
  startedAt: string;
  endedAt?: string;
  endReason?: EndReason;
  endDetail?: string;
  disposition?: string;
  transcript: TranscriptEntry[];
  actions: Array<{ atMs: number; action: CallAction }>;
  dtmf: Array<{ atMs: number; digit: string }>;
  providers: { stt: string; llm: string; tts: string };
  providerEvents: ProviderEvent[];
  metrics: {
    /** End of caller speech -> first reply frame out, per turn. */
    turnLatencyMs: number[];
    /** Caller speech onset -> our audio stopped, per barge-in. */
    bargeInStopMs: number[];
    turns: TurnTiming[];
    framesIn: number;
    framesOut: number;
    /** What each provider reported of its own timing (first token, first audio, final), ms from its request. */
    providerTimings?: Array<{ role: 'stt' | 'llm' | 'tts'; provider: string; metric: string; ms: number }>;
  };
}
