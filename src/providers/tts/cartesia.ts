/**
 * Cartesia streaming TTS over its WebSocket (wss://api.cartesia.ai/tts/websocket?cartesia_version=...,
 * key in the X-API-Key header; https://docs.cartesia.ai/api-reference/tts/websocket). One socket per
 * call, opened at answer and multiplexed by context_id (the docs' recommended pattern: many
 * generations over one warm socket, one context each):
 *   -> {"model_id","transcript","voice":{"mode":"id","id"},"language","context_id",
 *       "output_format":{"container":"raw","encoding":"pcm_mulaw","sample_rate":8000},"continue":false}
 *   <- {"type":"chunk","data":"<base64>","done":false,"status_code":206,"context_id"}
 *   <- {"type":"done","done":true,"status_code":200,"context_id"}
 *   <- {"type":"error","error":"...","status_code":4xx/5xx,"done":true,"context_id"}
 *   -> {"context_id","cancel":true} on barge-in.
 * Each speakable chunk is its own context with continue=false: the port needs each chunk's audio
 * to end cleanly, which a shared continued context cannot tell us.
 */
import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import pino from 'pino';
import type { CartesiaConfig } from '../../config/providers.ts';
import { BridgeError } from '../../errors.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import type { ProviderOpenOptions, TextToSpeech, TtsSession } from '../types.ts';
import {
  AsyncQueue,
  connectWs,
  dropWs,
  httpStatusError,
  protocolError,
  resolveApiKey,
  stallError,
  ulawToPcm,
  Watchdog,
  type ProviderIdentity,
  type CloudProviderOptions,
  type TimingSink,
} from '../common.ts';

export type CartesiaTtsOptions = CloudProviderOptions<CartesiaConfig>;

export class CartesiaTts implements TextToSpeech {
  readonly name = 'cartesia';
  private readonly o: CartesiaTtsOptions;
  private readonly id: ProviderIdentity;
  private readonly log: pino.Logger;

  constructor(opts: CartesiaTtsOptions) {
    this.o = opts;
    this.id = { provider: 'tts cartesia', configKey: opts.configKey ?? 'providers.tts[].apiKey' };
    this.log = opts.logger ?? pino({ level: 'silent' });
  }

  async open(opts: ProviderOpenOptions): Promise<TtsSession> {
    const key = resolveApiKey(this.o.config, this.id, this.o.env);
    const s = new CartesiaSession(this.o.config, this.id, key, this.log, opts, this.o.onTiming);
    await s.socket();
    return s;
  }
}

class CartesiaSession implements TtsSession {
  readonly provider = 'cartesia';
  private ws: Promise<WebSocket> | null = null;
  private readonly contexts = new Map<string, AsyncQueue<Pcm>>();
  private closed = false;
  private readonly url: string;
  private readonly closeAc = new AbortController();

  constructor(
    private readonly cfg: CartesiaConfig,
    private readonly id: ProviderIdentity,
    private readonly key: string,
    private readonly log: pino.Logger,
    private readonly opts: ProviderOpenOptions,
    private readonly onTiming?: TimingSink,
  ) {
    const base = cfg.baseUrl.replace(/\/+$/, '');
    this.url = `${base}/tts/websocket?${new URLSearchParams({ cartesia_version: cfg.version })}`;
    opts.signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** The call's socket, (re)connected on demand after a drop. */
  socket(): Promise<WebSocket> {
    if (this.ws) return this.ws;
    const p = connectWs(this.url, { 'X-API-Key': this.key }, this.cfg.connectTimeoutMs, this.id, this.key, this.closeAc.signal).then((ws) => {
      ws.on('message', (d, bin) => this.onMessage(d, bin));
      ws.on('error', () => {}); // 'close' follows and carries the failure
      ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
      if (this.closed) dropWs(ws);
      return ws;
    });
    p.catch(() => {
      if (this.ws === p) this.ws = null;
    });
    this.ws = p;
    return p;
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Pcm> {
    if (this.closed) throw new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: session closed`, { provider: this.id.provider });
    if (signal.aborted || text.trim() === '') return;
    const ws = await this.socket();
    const contextId = randomUUID();
    const queue = new AsyncQueue<Pcm>();
    this.contexts.set(contextId, queue);
    const watchdog = new Watchdog(this.cfg.stallSeconds * 1000, () => queue.fail(stallError(this.id, this.cfg.stallSeconds, 'audio')));
    const onAbort = (): void => {
      if (!queue.ended && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ context_id: contextId, cancel: true }));
      queue.end();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const started = performance.now();
    let first = true;
    let finished = false;
    try {
      ws.send(
        JSON.stringify({
          model_id: this.cfg.modelId,
          transcript: text,
          voice: { mode: 'id', id: this.cfg.voiceId },
          language: this.cfg.language,
          context_id: contextId,
          output_format: { container: 'raw', encoding: 'pcm_mulaw', sample_rate: 8000 },
          continue: false,
        }),
      );
      watchdog.arm();
      for await (const pcm of queue) {
        watchdog.arm();
        if (first) {
          first = false;
          this.onTiming?.({ role: 'tts', provider: 'cartesia', callId: this.opts.callId, metric: 'first-audio', ms: performance.now() - started });
        }
        if (signal.aborted) break;
        yield pcm;
      }
      finished = !signal.aborted;
    } finally {
      watchdog.stop();
      signal.removeEventListener('abort', onAbort);
      // Leaving early (consumer stopped, stall) must stop the generation server-side too.
      if (!finished && !signal.aborted && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ context_id: contextId, cancel: true }));
      this.contexts.delete(contextId);
    }
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    let msg: { type?: unknown; context_id?: unknown; data?: unknown; error?: unknown; message?: unknown; status_code?: unknown; done?: unknown };
    try {
      if (isBinary) throw new Error('binary frame');
      msg = JSON.parse(data.toString());
      if (msg === null || typeof msg !== 'object') throw new Error('not an object');
    } catch (err) {
      return this.failAll(protocolError(this.id, 'malformed message (expected a JSON object)', err));
    }
    const ctx = typeof msg.context_id === 'string' ? this.contexts.get(msg.context_id) : undefined;
    if (msg.type === 'error') {
      const status = typeof msg.status_code === 'number' ? msg.status_code : 500;
      const what = String(msg.error ?? msg.message ?? 'unknown error');
      const e = httpStatusError(this.id, status, { detail: what, secret: this.key });
      return ctx ? ctx.fail(e) : this.failAll(e);
    }
    if (!ctx) return; // a cancelled or finished context: late frames are normal
    if (msg.type === 'chunk') {
      if (typeof msg.data !== 'string') return ctx.fail(protocolError(this.id, 'chunk without base64 "data"'));
      const bytes = Buffer.from(msg.data, 'base64');
      if (bytes.length > 0) ctx.push(ulawToPcm(bytes));
      if (msg.done === true) ctx.end();
    } else if (msg.type === 'done') {
      ctx.end();
    } else if (typeof msg.type !== 'string') {
      ctx.fail(protocolError(this.id, 'message without "type"'));
    }
    // timestamps / flush_done / phoneme_timestamps: not needed here.
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.ws) {
      this.ws.then((cur) => {
        if (cur === ws) this.ws = null;
      }, () => {});
    }
    if (this.closed) return;
    this.log.warn({ callId: this.opts.callId, code }, 'cartesia socket closed');
    this.failAll(new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: socket closed mid-stream (${code}${reason ? ` ${reason.slice(0, 100)}` : ''})`, { provider: this.id.provider, closeCode: code }));
  }

  private failAll(e: BridgeError): void {
    for (const q of this.contexts.values()) q.fail(e);
    this.contexts.clear();
    if (e.code === 'PROVIDER_PROTOCOL' && this.ws) {
      // After garbage on the socket nothing on it can be trusted: drop it, reconnect on next use.
      const p = this.ws;
      this.ws = null;
      p.then((ws) => dropWs(ws), () => {});
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeAc.abort();
    for (const q of this.contexts.values()) q.end();
    this.contexts.clear();
    const p = this.ws;
    this.ws = null;
    if (p) await p.then((ws) => dropWs(ws), () => {});
  }
}
