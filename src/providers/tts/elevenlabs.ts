/**
 * ElevenLabs streaming TTS over the WebSocket input-streaming API
 * (wss://api.elevenlabs.io/v1/text-to-speech/{voice_id}/stream-input?model_id=...&output_format=ulaw_8000;
 * https://elevenlabs.io/docs/api-reference/text-to-speech/v-1-text-to-speech-voice-id-stream-input):
 * client sends a BOS message {"text":" ","voice_settings":{...}}, then text messages
 * {"text":"...","flush":true}, then EOS {"text":""}; the server answers with
 * {"audio":"<base64>","isFinal":null,"normalizedAlignment":...} messages and finally {"isFinal":true},
 * then closes. The key goes in the `xi-api-key` handshake header.
 *
 * The protocol has no per-chunk boundary on one socket except EOS, so each chunk gets its own
 * socket; to keep latency low the next socket is always already open ("warm") before it is needed:
 * one is opened at call answer and a replacement right after each is taken. Output is µ-law 8 kHz
 * (no transcoding at the vendor or here beyond the G.711 expansion to the core's PCM).
 * Cancellation = closing that chunk's socket (the API has no cancel message).
 */
import type WebSocket from 'ws';
import pino from 'pino';
import type { ElevenLabsConfig } from '../../config/providers.ts';
import { BridgeError } from '../../errors.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import type { ProviderOpenOptions, TextToSpeech, TtsSession } from '../types.ts';
import {
  AsyncQueue,
  connectWs,
  dropWs,
  protocolError,
  resolveApiKey,
  stallError,
  ulawToPcm,
  Watchdog,
  type ProviderIdentity,
  type CloudProviderOptions,
  type TimingSink,
} from '../common.ts';

export type ElevenLabsTtsOptions = CloudProviderOptions<ElevenLabsConfig>;

export class ElevenLabsTts implements TextToSpeech {
  readonly name = 'elevenlabs';
  private readonly o: ElevenLabsTtsOptions;
  private readonly id: ProviderIdentity;
  private readonly log: pino.Logger;

  constructor(opts: ElevenLabsTtsOptions) {
    this.o = opts;
    this.id = { provider: 'tts elevenlabs', configKey: opts.configKey ?? 'providers.tts[].apiKey' };
    this.log = opts.logger ?? pino({ level: 'silent' });
  }

  async open(opts: ProviderOpenOptions): Promise<TtsSession> {
    const key = resolveApiKey(this.o.config, this.id, this.o.env);
    const s = new ElevenLabsSession(this.o.config, this.id, key, this.log, opts, this.o.onTiming);
    await s.warmUp(); // connect/auth failures surface at answer, where the fallback chain can act
    return s;
  }
}

class ElevenLabsSession implements TtsSession {
  readonly provider = 'elevenlabs';
  private spare: Promise<WebSocket> | null = null;
  private readonly live = new Set<WebSocket>();
  private closed = false;
  private readonly url: string;
  private readonly closeAc = new AbortController();

  constructor(
    private readonly cfg: ElevenLabsConfig,
    private readonly id: ProviderIdentity,
    private readonly key: string,
    private readonly log: pino.Logger,
    private readonly opts: ProviderOpenOptions,
    private readonly onTiming?: TimingSink,
  ) {
    const base = cfg.baseUrl.replace(/\/+$/, '');
    const q = new URLSearchParams({ model_id: cfg.modelId, output_format: 'ulaw_8000', inactivity_timeout: '180' });
    this.url = `${base}/v1/text-to-speech/${encodeURIComponent(cfg.voiceId)}/stream-input?${q}`;
    opts.signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  async warmUp(): Promise<void> {
    const first = this.connect();
    await first; // connect/auth errors surface here, at answer
    this.park(first);
  }

  private connect(): Promise<WebSocket> {
    return connectWs(this.url, { 'xi-api-key': this.key }, this.cfg.connectTimeoutMs, this.id, this.key, this.closeAc.signal).then((ws) => {
      this.live.add(ws);
      ws.once('close', () => this.live.delete(ws));
      if (this.closed) dropWs(ws);
      return ws;
    });
  }

  /**
   * Keep `p` as the warm socket. If the server drops it while idle (its inactivity timeout), warm a
   * new one, unless it lived under 5 s (a server refusing us: don't spin).
   */
  private park(p: Promise<WebSocket>): void {
    const born = Date.now();
    this.spare = p;
    p.then(
      (ws) => {
        ws.on('error', () => {}); // a spare dying is handled when it is taken
        ws.once('close', () => {
          if (this.spare === p && !this.closed && Date.now() - born > 5000) this.park(this.connect());
        });
      },
      (err: unknown) => this.log.debug({ err: (err as Error).message }, 'elevenlabs: warm socket failed'),
    );
  }

  /** The warm socket if it is still open, else a fresh one; then start warming the next. */
  private async take(): Promise<WebSocket> {
    const pending = this.spare;
    this.spare = null;
    let ws: WebSocket | null = null;
    if (pending) {
      try {
        const s = await pending;
        if (s.readyState === s.OPEN) ws = s;
      } catch {
        /* the warm-up failed; try once more now */
      }
    }
    ws ??= await this.connect();
    if (!this.closed) this.park(this.connect());
    return ws;
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Pcm> {
    if (this.closed) throw new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: session closed`, { provider: this.id.provider });
    if (signal.aborted || text.trim() === '') return;
    const ws = await this.take();
    const queue = new AsyncQueue<Pcm>();
    const started = performance.now();
    let first = true;
    let final = false;
    const watchdog = new Watchdog(this.cfg.stallSeconds * 1000, () => queue.fail(stallError(this.id, this.cfg.stallSeconds, 'audio')));
    const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
      let msg: { audio?: unknown; isFinal?: unknown; error?: unknown; message?: unknown };
      try {
        if (isBinary) throw new Error('binary frame');
        msg = JSON.parse(data.toString());
        if (msg === null || typeof msg !== 'object') throw new Error('not an object');
      } catch (err) {
        return queue.fail(protocolError(this.id, 'malformed message (expected JSON with "audio"/"isFinal")', err));
      }
      if (typeof msg.error === 'string' || (typeof msg.message === 'string' && msg.audio === undefined)) {
        const what = String(msg.error ?? msg.message);
        return queue.fail(/auth|api.?key|unauthori[sz]ed/i.test(what) ? authError(this.id) : protocolError(this.id, `server error: ${what.slice(0, 200)}`));
      }
      if (typeof msg.audio === 'string' && msg.audio !== '') {
        watchdog.arm();
        const bytes = Buffer.from(msg.audio, 'base64');
        if (bytes.length === 0) return queue.fail(protocolError(this.id, '"audio" is not base64'));
        if (first) {
          first = false;
          this.onTiming?.({ role: 'tts', provider: 'elevenlabs', callId: this.opts.callId, metric: 'first-audio', ms: performance.now() - started });
        }
        queue.push(ulawToPcm(bytes));
      } else if (msg.audio !== undefined && msg.audio !== null && typeof msg.audio !== 'string') {
        return queue.fail(protocolError(this.id, '"audio" is not a string'));
      }
      if (msg.isFinal === true) {
        final = true;
        queue.end();
      }
    };
    const onClose = (code: number, reason: Buffer): void => {
      if (final) return;
      const why = reason.toString();
      // ElevenLabs reports a rejected key by closing with 1008 (policy violation) and a reason.
      if (code === 1008 && /auth|api.?key|unauthori[sz]ed/i.test(why)) return queue.fail(authError(this.id));
      queue.fail(new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: socket closed mid-stream (${code}${why ? ` ${why.slice(0, 100)}` : ''})`, { provider: this.id.provider, closeCode: code }));
    };
    const onAbort = (): void => queue.end();
    ws.on('message', onMessage);
    ws.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const voice_settings = { stability: this.cfg.stability, similarity_boost: this.cfg.similarityBoost };
      ws.send(JSON.stringify({ text: ' ', voice_settings }));
      ws.send(JSON.stringify({ text: /\s$/.test(text) ? text : `${text} `, flush: true }));
      ws.send(JSON.stringify({ text: '' }));
      watchdog.arm();
      for await (const pcm of queue) {
        if (signal.aborted) break;
        yield pcm;
      }
    } finally {
      watchdog.stop();
      signal.removeEventListener('abort', onAbort);
      ws.off('message', onMessage);
      ws.off('close', onClose);
      dropWs(ws); // after isFinal the server closes too; on abort/failure this is the cancel
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeAc.abort();
    for (const ws of this.live) dropWs(ws);
    const spare = this.spare;
    this.spare = null;
    if (spare) spare.then((ws) => dropWs(ws), () => {});
  }
}

function authError(id: ProviderIdentity): BridgeError {
  return new BridgeError('PROVIDER_AUTH', `${id.provider}: API key rejected; check ${id.configKey}`, { provider: id.provider, configKey: id.configKey });
}
