/**
 * Fallback chains: each implements the same port as its members and moves to the next member when
 * the current one fails, so a vendor outage degrades the call instead of leaving dead air.
 * - TTS: the failed chunk is synthesized again at once on the next provider (the caller hears audio
 *   within the next provider's first-audio time) and the call stays on that provider.
 * - STT: the next recognizer is opened and fed from the next frame on; frames during the switch are
 *   dropped (counted), a pending finalize() is replayed.
 * - LLM: the turn is retried on the next model when nothing was streamed yet; a model that failed
 *   sits out for its Retry-After (or 30 s) so the next calls don't wait on it.
 * Every switch is logged and reported through onFallback (metrics count it).
 */
import pino from 'pino';
import { BridgeError, errorMessage, isBridgeError } from '../errors.ts';
import type { Pcm } from '../media/audio-frame.ts';
import type {
  EncodedFrame,
  Expectations,
  LanguageModel,
  LlmChunk,
  LlmRequest,
  ProviderOpenOptions,
  SpeechToText,
  SttEvent,
  SttSession,
  TextToSpeech,
  TtsSession,
} from './types.ts';

export type ProviderRole = 'stt' | 'tts' | 'llm';
/** `callId` lets the Call put the switch in its own record (the reporter is shared by all calls). */
export type FallbackReporter = (role: ProviderRole, from: string, to: string, error: BridgeError, callId: string) => void;

export interface FallbackDeps {
  readonly logger?: pino.Logger;
  readonly onFallback?: FallbackReporter;
}

function asBridgeError(err: unknown): BridgeError {
  return isBridgeError(err) ? err : new BridgeError('PROVIDER_UNAVAILABLE', errorMessage(err), {}, { cause: err });
}

function chainName(role: string, chain: readonly { name: string }[]): string {
  return chain.length === 1 ? chain[0].name : `${role}-chain(${chain.map((p) => p.name).join('>')})`;
}

// ---------------------------------------------------------------- TTS

export class FallbackTts implements TextToSpeech {
  readonly name: string;
  private readonly log: pino.Logger;

  constructor(
    private readonly chain: readonly TextToSpeech[],
    private readonly deps: FallbackDeps = {},
  ) {
    if (chain.length === 0) throw new BridgeError('CONFIG_INVALID', 'tts chain is empty');
    this.name = chainName('tts', chain);
    this.log = deps.logger ?? pino({ level: 'silent' });
  }

  async open(opts: ProviderOpenOptions): Promise<TtsSession> {
    const { index, session } = await openFirst(this.chain, 0, (p) => p.open(opts), 'tts', this.deps, this.log, opts.callId);
    return new FallbackTtsSession(this.chain, index, session, opts, this.deps, this.log);
  }
}

class FallbackTtsSession implements TtsSession {
  private switching: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly chain: readonly TextToSpeech[],
    private index: number,
    private current: TtsSession,
    private readonly opts: ProviderOpenOptions,
    private readonly deps: FallbackDeps,
    private readonly log: pino.Logger,
  ) {}

  get provider(): string {
    return this.current.provider;
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Pcm> {
    for (;;) {
      const session = this.current;
      try {
        for await (const pcm of session.synthesize(text, signal)) yield pcm;
        return;
      } catch (err) {
        if (signal.aborted || this.closed) return;
        // Same chunk again, now, on the next provider (the loop); throws when the chain is exhausted.
        await this.switchFrom(session, asBridgeError(err));
      }
    }
  }

  private async switchFrom(failed: TtsSession, error: BridgeError): Promise<void> {
    // Overlapping chunks can fail together: switch once, the others just retry on the new session.
    while (this.switching) await this.switching;
    if (this.current !== failed) return;
    this.switching = (async () => {
      void failed.close().catch(() => {});
      const from = this.chain[this.index].name;
      if (this.index + 1 >= this.chain.length) throw error;
      const next = await openFirst(this.chain, this.index + 1, (p) => p.open(this.opts), 'tts', this.deps, this.log, this.opts.callId, { from, error });
      this.index = next.index;
      this.current = next.session;
      if (this.closed) await next.session.close();
    })();
    try {
      await this.switching;
    } finally {
      this.switching = null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.current.close();
  }
}

/**
 * Open chain[start..] in order until one opens. `after` says a running provider failed first;
 * each hop is reported (from -> to) with the error that caused it.
 */
async function openFirst<P extends { name: string }, S>(
  chain: readonly P[],
  start: number,
  open: (p: P) => Promise<S>,
  role: ProviderRole,
  deps: FallbackDeps,
  log: pino.Logger,
  callId: string,
  after?: { from: string; error: BridgeError },
): Promise<{ index: number; session: S }> {
  let pending = after;
  let last: BridgeError | undefined = after?.error;
  for (let i = start; i < chain.length; i++) {
    if (pending) {
      log.warn({ callId, role, from: pending.from, to: chain[i].name, code: pending.error.code, err: pending.error.message }, 'provider fallback');
      deps.onFallback?.(role, pending.from, chain[i].name, pending.error, callId);
    }
    try {
      return { index: i, session: await open(chain[i]) };
    } catch (err) {
      last = asBridgeError(err);
      pending = { from: chain[i].name, error: last };
    }
  }
  throw last ?? new BridgeError('PROVIDER_UNAVAILABLE', `${role}: no provider could be opened`);
}

// ---------------------------------------------------------------- STT

export class FallbackStt implements SpeechToText {
  readonly name: string;
  private readonly log: pino.Logger;

  constructor(
    private readonly chain: readonly SpeechToText[],
    private readonly deps: FallbackDeps = {},
  ) {
    if (chain.length === 0) throw new BridgeError('CONFIG_INVALID', 'stt chain is empty');
    this.name = chainName('stt', chain);
    this.log = deps.logger ?? pino({ level: 'silent' });
  }

  async open(opts: ProviderOpenOptions & { expect?: Expectations }, onEvent: (event: SttEvent) => void): Promise<SttSession> {
    const s = new FallbackSttSession(this.chain, opts, onEvent, this.deps, this.log);
    await s.start();
    return s;
  }
}

class FallbackSttSession implements SttSession {
  private current: SttSession | null = null;
  private index = 0;
  private generation = 0;
  private closed = false;
  private pendingFinalize = false;
  private expect: Expectations | undefined;
  /** Frames dropped while switching recognizers. */
  droppedFrames = 0;

  constructor(
    private readonly chain: readonly SpeechToText[],
    private readonly opts: ProviderOpenOptions & { expect?: Expectations },
    private readonly onEvent: (event: SttEvent) => void,
    private readonly deps: FallbackDeps,
    private readonly log: pino.Logger,
  ) {
    this.expect = opts.expect;
  }

  get provider(): string {
    return this.current?.provider ?? this.chain[this.index].name;
  }

  async start(): Promise<void> {
    await this.openFrom(0);
  }

  private async openFrom(start: number, after?: { from: string; error: BridgeError }): Promise<void> {
    const gen = ++this.generation;
    const { index, session } = await openFirst(
      this.chain,
      start,
      (p) => p.open({ ...this.opts, expect: this.expect }, (e) => this.onProviderEvent(gen, e)),
      'stt',
      this.deps,
      this.log,
      this.opts.callId,
      after,
    );
    if (this.closed || gen !== this.generation) {
      await session.close();
      return;
    }
    this.index = index;
    this.current = session;
    if (this.pendingFinalize) {
      this.pendingFinalize = false;
      session.finalize();
    }
  }

  private onProviderEvent(gen: number, e: SttEvent): void {
    if (gen !== this.generation || this.closed) return; // a replaced recognizer's late events
    if (e.type !== 'error') return this.onEvent(e);
    const failed = this.current;
    this.current = null;
    if (failed) void failed.close().catch(() => {});
    const from = this.chain[this.index].name;
    if (this.index + 1 >= this.chain.length) return this.onEvent(e);
    this.openFrom(this.index + 1, { from, error: e.error }).catch((err: unknown) => {
      if (!this.closed) this.onEvent({ type: 'error', error: asBridgeError(err) });
    });
  }

  write(frame: Pcm, encoded?: EncodedFrame): void {
    if (this.current) this.current.write(frame, encoded);
    else if (!this.closed) this.droppedFrames++;
  }

  setExpectations(expect: Expectations): void {
    this.expect = expect;
    this.current?.setExpectations?.(expect);
  }

  finalize(): void {
    if (this.current) this.current.finalize();
    else this.pendingFinalize = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.current;
    this.current = null;
    if (s) await s.close();
  }
}

// ---------------------------------------------------------------- LLM

export class FallbackLlm implements LanguageModel {
  readonly name: string;
  private readonly log: pino.Logger;
  private readonly benchedUntil: number[];

  constructor(
    private readonly chain: readonly LanguageModel[],
    private readonly deps: FallbackDeps & { now?: () => number } = {},
  ) {
    if (chain.length === 0) throw new BridgeError('CONFIG_INVALID', 'llm chain is empty');
    this.name = chainName('llm', chain);
    this.log = deps.logger ?? pino({ level: 'silent' });
    this.benchedUntil = chain.map(() => 0);
  }

  async *stream(req: LlmRequest): AsyncIterable<LlmChunk> {
    const now = this.deps.now?.() ?? Date.now();
    // Healthy models first in chain order, then benched ones as a last resort.
    const order = this.chain.map((_, i) => i).sort((a, b) => Number(this.benchedUntil[a] > now) - Number(this.benchedUntil[b] > now) || a - b);
    let last: BridgeError | undefined;
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      let streamed = false;
      try {
        for await (const chunk of this.chain[i].stream(req)) {
          if (chunk.type !== 'usage') streamed = true;
          yield chunk;
        }
        return;
      } catch (err) {
        if (req.signal.aborted) return;
        last = asBridgeError(err);
        const retryAfter = typeof last.context.retryAfterMs === 'number' ? last.context.retryAfterMs : 30_000;
        this.benchedUntil[i] = (this.deps.now?.() ?? Date.now()) + retryAfter;
        // Part of this reply already went to the caller: replaying the turn elsewhere would repeat it.
        if (streamed) throw last;
        const next = order[k + 1];
        if (next !== undefined) {
          this.log.warn({ callId: req.callId, from: this.chain[i].name, to: this.chain[next].name, code: last.code }, 'llm fallback');
          this.deps.onFallback?.('llm', this.chain[i].name, this.chain[next].name, last, req.callId);
        }
      }
    }
    throw last ?? new BridgeError('PROVIDER_UNAVAILABLE', 'llm: no provider');
  }
}
