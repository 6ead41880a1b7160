/**
 * OpenAI(-compatible) TTS over HTTP: POST {baseUrl}/audio/speech {model, voice, input,
 * response_format: "pcm"} streams raw 24 kHz signed 16-bit little-endian mono
 * (https://platform.openai.com/docs/guides/text-to-speech#supported-output-formats). Each chunk is one
 * request (HTTP keep-alive reuses the connection); barge-in aborts the request.
 *
 * 24 kHz -> 8 kHz through media/resample.ts (polyphase FIR, nothing aliases into the phone band);
 * one Resampler per chunk, flushed at the chunk's end so its last syllable is not cut.
 */
import OpenAI from 'openai';
import pino from 'pino';
import type { OpenAiTtsConfig } from '../../config/providers.ts';
import { BridgeError } from '../../errors.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import { Resampler } from '../../media/resample.ts';
import type { ProviderOpenOptions, TextToSpeech, TtsSession } from '../types.ts';
import { fromOpenAiError, resolveApiKey, stallError, Watchdog, type ProviderIdentity, type CloudProviderOptions, type TimingSink } from '../common.ts';

export type OpenAiTtsOptions = CloudProviderOptions<OpenAiTtsConfig>;

export class OpenAiTts implements TextToSpeech {
  readonly name = 'openai-tts';
  private readonly o: OpenAiTtsOptions;
  private readonly id: ProviderIdentity;
  private readonly log: pino.Logger;
  private client: OpenAI | null = null;
  private key = '';

  constructor(opts: OpenAiTtsOptions) {
    this.o = opts;
    this.id = { provider: `tts openai (${opts.config.model})`, configKey: opts.configKey ?? 'providers.tts[].apiKey' };
    this.log = opts.logger ?? pino({ level: 'silent' });
  }

  async open(opts: ProviderOpenOptions): Promise<TtsSession> {
    if (!this.client) {
      this.key = resolveApiKey(this.o.config, this.id, this.o.env);
      this.client = new OpenAI({ apiKey: this.key, baseURL: this.o.config.baseUrl, maxRetries: 0 });
    }
    return new OpenAiTtsSession(this.client, this.o.config, this.id, this.key, this.log, opts, this.o.onTiming);
  }
}

class OpenAiTtsSession implements TtsSession {
  readonly provider = 'openai-tts';
  private closed = false;
  private readonly inflight = new Set<AbortController>();

  constructor(
    private readonly client: OpenAI,
    private readonly cfg: OpenAiTtsConfig,
    private readonly id: ProviderIdentity,
    private readonly key: string,
    private readonly log: pino.Logger,
    private readonly opts: ProviderOpenOptions,
    private readonly onTiming?: TimingSink,
  ) {
    opts.signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Pcm> {
    if (this.closed) throw new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: session closed`, { provider: this.id.provider });
    if (signal.aborted || text.trim() === '') return;
    const ac = new AbortController();
    this.inflight.add(ac);
    const onAbort = (): void => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let stalled = false;
    const watchdog = new Watchdog(this.cfg.stallSeconds * 1000, () => {
      stalled = true;
      ac.abort();
    });
    const started = performance.now();
    const resampler = new Resampler(24000, 8000);
    let carry: number | null = null; // a half sample split across network chunks
    try {
      watchdog.arm();
      const res = await this.client.audio.speech.create(
        { model: this.cfg.model, voice: this.cfg.voice as 'alloy', input: text, response_format: 'pcm', ...(this.cfg.instructions ? { instructions: this.cfg.instructions } : {}) },
        { signal: ac.signal, timeout: this.cfg.connectTimeoutMs + this.cfg.stallSeconds * 1000 },
      );
      if (!res.body) throw new BridgeError('PROVIDER_PROTOCOL', `${this.id.provider}: empty response body`, { provider: this.id.provider });
      let first = true;
      for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
        watchdog.arm();
        if (signal.aborted) return;
        let bytes = part;
        if (carry !== null) {
          const joined = new Uint8Array(bytes.length + 1);
          joined[0] = carry;
          joined.set(bytes, 1);
          bytes = joined;
          carry = null;
        }
        if (bytes.length % 2 === 1) {
          carry = bytes[bytes.length - 1];
          bytes = bytes.subarray(0, bytes.length - 1);
        }
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const s24 = new Int16Array(bytes.length / 2);
        for (let i = 0; i < s24.length; i++) s24[i] = view.getInt16(i * 2, true);
        const out = resampler.process(s24);
        if (out.length === 0) continue;
        if (first) {
          first = false;
          this.onTiming?.({ role: 'tts', provider: 'openai-tts', callId: this.opts.callId, metric: 'first-audio', ms: performance.now() - started });
        }
        yield out;
      }
      if (stalled) throw stallError(this.id, this.cfg.stallSeconds, 'audio');
      if (signal.aborted) return;
      const tail = resampler.flush();
      if (tail.length > 0) yield tail;
    } catch (err) {
      if (stalled) throw stallError(this.id, this.cfg.stallSeconds, 'audio');
      if (signal.aborted || this.closed) return;
      const e = fromOpenAiError(this.id, err, this.key);
      this.log.warn({ callId: this.opts.callId, code: e.code, err: e.message }, 'openai tts failed');
      // A body cut mid-stream surfaces as a generic stream error: that is the server going away.
      if (e.code === 'PROVIDER_UNAVAILABLE' && !(err instanceof OpenAI.APIError)) {
        throw new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: audio stream ended abruptly`, { provider: this.id.provider }, { cause: err });
      }
      throw e;
    } finally {
      watchdog.stop();
      signal.removeEventListener('abort', onAbort);
      ac.abort();
      this.inflight.delete(ac);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const ac of this.inflight) ac.abort();
    this.inflight.clear();
  }
}
