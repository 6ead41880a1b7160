/**
 * OpenAI(-compatible) TTS over HTTP: POST {baseUrl}/audio/speech {model, voice, input,
 * response_format: "pcm"} streams raw 24 kHz signed 16-bit little-endian mono
 * (https://platform.openai.com/docs/guides/text-to-speech#supported-output-formats). Each chunk is one
 * request (HTTP keep-alive reuses the connection); barge-in aborts the request.
 *
 * 24 kHz -> 8 kHz is an exact 3:1 decimation: a private windowed-sinc low-pass FIR (cut-off 3.4 kHz,
 * the telephone band) then every third sample. (src/media/resample.ts did not exist when this was
 * written; swap in its Resampler when it lands.)
 */
import OpenAI from 'openai';
import pino from 'pino';
import type { OpenAiTtsConfig } from '../../config/providers.ts';
import { BridgeError } from '../../errors.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import type { ProviderOpenOptions, TextToSpeech, TtsSession } from '../types.ts';
import { fromOpenAiError, resolveApiKey, stallError, Watchdog, type ProviderIdentity, type TimingSink } from '../llm/provider-common.ts';

export interface OpenAiTtsOptions {
  readonly config: OpenAiTtsConfig;
  readonly configKey?: string;
  readonly logger?: pino.Logger;
  readonly onTiming?: TimingSink;
  readonly env?: NodeJS.ProcessEnv;
}

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
    const decim = new Decimate3();
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
        const out = decim.process(s24);
        if (out.length === 0) continue;
        if (first) {
          first = false;
          this.onTiming?.({ role: 'tts', provider: 'openai-tts', callId: this.opts.callId, metric: 'first-audio', ms: performance.now() - started });
        }
        yield out;
      }
      if (stalled) throw stallError(this.id, this.cfg.stallSeconds, 'audio');
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

// ---------------------------------------------------------------- 24 kHz -> 8 kHz

const TAPS = 48;
const FIR = ((): Float64Array => {
  // Windowed sinc (Blackman), cut-off 3.4 kHz at 24 kHz, unity DC gain.
  const h = new Float64Array(TAPS);
  const fc = 3400 / 24000;
  const m = TAPS - 1;
  let sum = 0;
  for (let i = 0; i < TAPS; i++) {
    const x = i - m / 2;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / m) + 0.08 * Math.cos((4 * Math.PI * i) / m);
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < TAPS; i++) h[i] /= sum;
  return h;
})();

/** Streaming 3:1 decimator: keeps filter history and phase across calls. */
export class Decimate3 {
  private readonly hist = new Float64Array(TAPS);
  private pos = 0;
  private phase = 0;

  process(input: Int16Array): Int16Array {
    const out = new Int16Array(Math.floor((input.length + this.phase) / 3) + 1);
    let n = 0;
    for (let i = 0; i < input.length; i++) {
      this.hist[this.pos] = input[i];
      this.pos = (this.pos + 1) % TAPS;
      if (++this.phase === 3) {
        this.phase = 0;
        let acc = 0;
        for (let k = 0, j = this.pos; k < TAPS; k++) {
          acc += FIR[k] * this.hist[j];
          j = j + 1 === TAPS ? 0 : j + 1;
        }
        out[n++] = acc > 32767 ? 32767 : acc < -32768 ? -32768 : Math.round(acc);
      }
    }
    return out.subarray(0, n);
  }
}
