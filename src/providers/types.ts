/**
 * Provider ports. The agent core talks only to these; each vendor (and each embedded engine) is an
 * adapter in stt/, llm/ or tts/. Audio at these ports is the core's format: 8 kHz signed 16-bit mono
 * PCM (see media/audio-frame.ts); an adapter that needs another rate or encoding converts at its edge.
 */
import type { BridgeError } from '../errors.ts';
import type { Pcm } from '../media/audio-frame.ts';

/** What the dialog expects the caller to say next; grammar-based recognizers compile it, cloud ones use it as keywords. */
export interface Expectations {
  readonly phrases: readonly string[];
}

export interface ProviderOpenOptions {
  readonly callId: string;
  /** Aborted when the call ends: adapters close their sockets/processes. */
  readonly signal: AbortSignal;
}

// ---------------------------------------------------------------- speech to text

export type SttEvent =
  /** The recognizer's own voice-activity start (e.g. Deepgram SpeechStarted); a barge-in hint. */
  | { readonly type: 'speech-start' }
  | { readonly type: 'partial'; readonly text: string }
  /**
   * A final transcript for a stretch of audio. `text` is '' when the recognizer heard speech but
   * matched nothing it trusts (out of grammar / low confidence): the dialog treats it as "didn't understand".
   * `endOfUtterance` is true when the recognizer believes the caller finished the turn.
   */
  | {
      readonly type: 'final';
      readonly text: string;
      readonly confidence?: number;
      readonly endOfUtterance: boolean;
    }
  /** The recognizer's end-of-utterance marker without new text (e.g. Deepgram UtteranceEnd). */
  | { readonly type: 'utterance-end' }
  /** The session failed; no more events follow. The agent falls back (see providers/fallback). */
  | { readonly type: 'error'; readonly error: BridgeError };

export interface EncodedFrame {
  readonly codec: 'ulaw' | 'alaw';
  /** The G.711 payload exactly as received (lets µ-law-native recognizers skip transcoding). */
  readonly payload: Uint8Array;
}

export interface SttSession {
  readonly provider: string;
  /** One 20 ms frame, called continuously (silence included) while the call is live. */
  write(frame: Pcm, encoded?: EncodedFrame): void;
  /** The dialog moved on: narrow/extend recognition. Optional for recognizers that cannot use it. */
  setExpectations?(expect: Expectations): void;
  /** Our VAD saw the caller stop: produce the final for the audio so far now (utterance-based recognizers rely on this). */
  finalize(): void;
  close(): Promise<void>;
}

export interface SpeechToText {
  readonly name: string;
  open(opts: ProviderOpenOptions & { expect?: Expectations }, onEvent: (event: SttEvent) => void): Promise<SttSession>;
}

// ---------------------------------------------------------------- language model

export type ToolName = 'hangup' | 'transfer' | 'set_disposition' | 'schedule_callback' | 'add_to_dnc';

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | 'tool';
  readonly content: string;
  readonly toolCalls?: readonly RawToolCall[];
  readonly toolCallId?: string;
}

/** A tool call as the model produced it: arguments are unvalidated JSON text. */
export interface RawToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

export interface ToolSpec {
  readonly name: ToolName;
  readonly description: string;
  /** JSON Schema of the arguments object. */
  readonly parameters: Readonly<Record<string, unknown>>;
}

export type LlmChunk =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'tool-call'; readonly call: RawToolCall }
  | { readonly type: 'usage'; readonly promptTokens: number; readonly completionTokens: number };

export interface LlmRequest {
  readonly callId: string;
  readonly messages: readonly ChatMessage[];
  readonly tools: readonly ToolSpec[];
  readonly maxTokens?: number;
  /** Aborted on barge-in or call end: the adapter must stop the HTTP stream at once. */
  readonly signal: AbortSignal;
}

export interface LanguageModel {
  readonly name: string;
  /** Streams the reply. Throws (or the iterator rejects) with a BridgeError on provider failure. */
  stream(req: LlmRequest): AsyncIterable<LlmChunk>;
}

// ---------------------------------------------------------------- text to speech

export interface TtsSession {
  readonly provider: string;
  /**
   * Synthesize one speakable chunk (a sentence or clause). Yields 8 kHz PCM chunks of any length as
   * they arrive. Abort `signal` on barge-in: the iterator ends promptly and the session stays usable
   * for the next chunk. Several calls may overlap (the next sentence is requested while one plays).
   */
  synthesize(text: string, signal: AbortSignal): AsyncIterable<Pcm>;
  close(): Promise<void>;
}

export interface TextToSpeech {
  readonly name: string;
  open(opts: ProviderOpenOptions): Promise<TtsSession>;
}

export type ProviderError = BridgeError;
