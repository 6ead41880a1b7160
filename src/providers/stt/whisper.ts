/**
 * Utterance-based recognition through an OpenAI-compatible POST {baseUrl}/audio/transcriptions
 * (multipart: file, model, language, prompt; reply {"text": "..."} —
 * https://platform.openai.com/docs/api-reference/audio/createTranscription). Works with OpenAI Whisper
 * and self-hosted faster-whisper / whisper.cpp servers exposing the same route.
 *
 * Audio is kept in a preallocated ring (no allocation per frame) between finalize() calls, which our
 * VAD drives at end of turn; each finalize sends that stretch as one 8 kHz WAV and emits one final.
 */
import OpenAI, { toFile } from 'openai';
import pino from 'pino';
import type { WhisperConfig } from '../../config/providers.ts';
import { BridgeError } from '../../errors.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import type { Expectations, ProviderOpenOptions, SpeechToText, SttEvent, SttSession } from '../types.ts';
import { fromOpenAiError, protocolError, resolveApiKey, type ProviderIdentity, type CloudProviderOptions, type TimingSink } from '../common.ts';

export type WhisperSttOptions = CloudProviderOptions<WhisperConfig>;

export class WhisperStt implements SpeechToText {
  readonly name = 'whisper';
  private readonly o: WhisperSttOptions;
  private readonly id: ProviderIdentity;
  private readonly log: pino.Logger;
  private client: OpenAI | null = null;
  private key = '';

  constructor(opts: WhisperSttOptions) {
    this.o = opts;
    this.id = { provider: `stt whisper (${opts.config.model})`, configKey: opts.configKey ?? 'providers.stt[].apiKey' };
    this.log = opts.logger ?? pino({ level: 'silent' });
  }

  async open(opts: ProviderOpenOptions & { expect?: Expectations }, onEvent: (event: SttEvent) => void): Promise<SttSession> {
    if (!this.client) {
      // Self-hosted servers often need no key: fall back to a placeholder rather than refusing.
      this.key = this.o.config.apiKey ?? this.o.env?.[this.o.config.apiKeyEnv] ?? process.env[this.o.config.apiKeyEnv] ?? '';
      if (this.key === '' && this.o.config.baseUrl.includes('api.openai.com')) resolveApiKey(this.o.config, this.id, this.o.env);
      this.client = new OpenAI({ apiKey: this.key || 'none', baseURL: this.o.config.baseUrl, maxRetries: 0 });
    }
    return new WhisperSession(this.client, this.o.config, this.id, this.key, onEvent, this.log, opts, this.o.onTiming);
  }
}

class WhisperSession implements SttSession {
  readonly provider = 'whisper';
  private readonly ring: Int16Array;
  private write_ = 0;
  private filled = 0;
  private closed = false;
  private phrases: readonly string[];
  private readonly inflight = new Set<AbortController>();

  constructor(
    private readonly client: OpenAI,
    private readonly cfg: WhisperConfig,
    private readonly id: ProviderIdentity,
    private readonly secret: string,
    private readonly onEvent: (e: SttEvent) => void,
    private readonly log: pino.Logger,
    private readonly opts: ProviderOpenOptions & { expect?: Expectations },
    private readonly onTiming?: TimingSink,
  ) {
    this.ring = new Int16Array(cfg.maxUtteranceSeconds * 8000);
    this.phrases = opts.expect?.phrases ?? [];
    opts.signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  write(frame: Pcm): void {
    if (this.closed) return;
    const n = this.ring.length;
    for (let i = 0; i < frame.length; i++) {
      this.ring[this.write_] = frame[i];
      this.write_ = this.write_ + 1 === n ? 0 : this.write_ + 1;
    }
    this.filled = Math.min(n, this.filled + frame.length);
  }

  setExpectations(expect: Expectations): void {
    this.phrases = expect.phrases;
  }

  finalize(): void {
    if (this.closed) return;
    const samples = this.take();
    if (samples.length < 800) {
      // Under 100 ms: nothing a recognizer can use; report "heard nothing we trust" without a request.
      this.onEvent({ type: 'final', text: '', endOfUtterance: true });
      return;
    }
    void this.transcribe(samples);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const ac of this.inflight) ac.abort();
    this.inflight.clear();
  }

  private take(): Int16Array {
    const out = new Int16Array(this.filled);
    const start = (this.write_ - this.filled + this.ring.length) % this.ring.length;
    for (let i = 0; i < this.filled; i++) out[i] = this.ring[(start + i) % this.ring.length];
    this.filled = 0;
    return out;
  }

  private async transcribe(samples: Int16Array): Promise<void> {
    const ac = new AbortController();
    this.inflight.add(ac);
    const started = performance.now();
    const prompt = [...this.cfg.keywords, ...this.phrases].join(', ').slice(0, 400);
    try {
      const file = await toFile(wav(samples), 'utterance.wav', { type: 'audio/wav' });
      const res = await this.client.audio.transcriptions.create(
        { file, model: this.cfg.model, language: this.cfg.language, ...(prompt ? { prompt } : {}), response_format: 'json' },
        { signal: ac.signal, timeout: this.cfg.timeoutMs },
      );
      if (this.closed) return;
      const text = (res as { text?: unknown }).text;
      if (typeof text !== 'string') throw protocolError(this.id, 'transcription reply without a "text" string');
      this.onTiming?.({ role: 'stt', provider: 'whisper', callId: this.opts.callId, metric: 'final', ms: performance.now() - started });
      this.onEvent({ type: 'final', text: text.trim(), endOfUtterance: true });
    } catch (err) {
      if (this.closed) return;
      const e = err instanceof BridgeError ? err : fromOpenAiError(this.id, err, this.secret);
      this.log.warn({ callId: this.opts.callId, code: e.code, err: e.message }, 'whisper transcription failed');
      this.closed = true;
      this.onEvent({ type: 'error', error: e });
    } finally {
      this.inflight.delete(ac);
    }
  }
}

/** RIFF/WAVE, PCM 16-bit mono 8 kHz. */
export function wav(samples: Int16Array): Buffer {
  const data = samples.length * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'latin1');
  b.write('fmt ', 12, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i], 44 + i * 2);
  return b;
}
