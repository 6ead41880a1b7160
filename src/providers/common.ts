/**
 * Pieces every network adapter (STT, LLM, TTS) shares: key lookup, mapping transport/HTTP failures
 * to BridgeError codes without leaking secrets, a small push->pull queue for streamed audio, G.711
 * µ-law, and the timing event type. (It lives under llm/ only because of file ownership during the
 * build; its natural home is src/providers/common.ts.)
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import WebSocket from 'ws';
import type pino from 'pino';
import { BridgeError, type BridgeErrorCode } from '../errors.ts';
import { ulawDecode, ulawEncode } from '../media/g711.ts';

/** A per-turn latency fact a provider knows (ms from request to first token / first audio / final). */
export interface ProviderTiming {
  readonly role: 'stt' | 'llm' | 'tts';
  readonly provider: string;
  readonly callId: string;
  readonly metric: 'first-token' | 'first-audio' | 'final' | 'total';
  readonly ms: number;
}
export type TimingSink = (t: ProviderTiming) => void;

/** What every cloud provider adapter is built from: its config section and the daemon's plumbing. */
export interface CloudProviderOptions<C> {
  readonly config: C;
  /** Where the API key lives in the config, for errors (e.g. "providers.llm[0].apiKey"). */
  readonly configKey?: string;
  readonly logger?: pino.Logger;
  readonly onTiming?: TimingSink;
  readonly env?: NodeJS.ProcessEnv;
}

/** What every adapter needs to name itself in errors: provider label and where its key is configured. */
export interface ProviderIdentity {
  readonly provider: string;
  /** e.g. "providers.tts[0].apiKey"; appears in auth errors so the operator knows what to fix. */
  readonly configKey: string;
}

export function resolveApiKey(
  cfg: { apiKey?: string; apiKeyEnv: string },
  id: ProviderIdentity,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const key = cfg.apiKey ?? env[cfg.apiKeyEnv];
  if (!key) {
    throw new BridgeError(
      'PROVIDER_AUTH',
      `${id.provider}: no API key: set ${id.configKey} or the ${cfg.apiKeyEnv} environment variable`,
      { provider: id.provider, configKey: id.configKey, env: cfg.apiKeyEnv },
    );
  }
  return key;
}

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3); also honours retry-after-ms (OpenAI). */
export function parseRetryAfter(value: string | null | undefined, ms?: string | null): number | undefined {
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.round(Number(ms));
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Remove the secret from any upstream text before it reaches an error or a log. */
export function redact(text: string, secret: string | undefined): string {
  let out = text.length > 300 ? `${text.slice(0, 300)}…` : text;
  if (secret && secret.length >= 4) out = out.split(secret).join('<redacted>');
  // Vendors echo partial keys ("sk-abc***xyz"); drop anything key-shaped too.
  return out.replace(/\b(sk|xi|dg)[-_][A-Za-z0-9*_-]{6,}/g, '<redacted>');
}

/** Map an HTTP status from a vendor (REST response or WebSocket handshake) to a BridgeError. */
export function httpStatusError(
  id: ProviderIdentity,
  status: number,
  opts: { retryAfterMs?: number; detail?: string; secret?: string; cause?: unknown } = {},
): BridgeError {
  const ctx: Record<string, unknown> = { provider: id.provider, status };
  if (status === 401 || status === 403) {
    // The upstream message is dropped on purpose: vendors quote (part of) the rejected key in it.
    return new BridgeError(
      'PROVIDER_AUTH',
      `${id.provider}: authentication failed (HTTP ${status}); check ${id.configKey}`,
      { ...ctx, configKey: id.configKey },
      { cause: opts.cause },
    );
  }
  const detail = opts.detail ? `: ${redact(opts.detail, opts.secret)}` : '';
  if (status === 429) {
    return new BridgeError(
      'PROVIDER_RATE_LIMIT',
      `${id.provider}: rate limited (HTTP 429${opts.retryAfterMs !== undefined ? `, retry after ${opts.retryAfterMs} ms` : ''})${detail}`,
      { ...ctx, retryAfterMs: opts.retryAfterMs },
      { cause: opts.cause },
    );
  }
  const code: BridgeErrorCode = status >= 500 ? 'PROVIDER_UNAVAILABLE' : 'PROVIDER_PROTOCOL';
  return new BridgeError(code, `${id.provider}: HTTP ${status}${detail}`, ctx, { cause: opts.cause });
}

export function connectError(id: ProviderIdentity, err: unknown, secret?: string): BridgeError {
  const msg = err instanceof Error ? err.message : String(err);
  return new BridgeError('PROVIDER_CONNECT', `${id.provider}: cannot connect: ${redact(msg, secret)}`, { provider: id.provider }, { cause: err });
}

export function stallError(id: ProviderIdentity, seconds: number, what: string): BridgeError {
  return new BridgeError('PROVIDER_STALL', `${id.provider}: no ${what} for ${seconds} s`, { provider: id.provider, stallSeconds: seconds });
}

export function protocolError(id: ProviderIdentity, what: string, cause?: unknown): BridgeError {
  return new BridgeError('PROVIDER_PROTOCOL', `${id.provider}: ${what}`, { provider: id.provider }, { cause });
}

/** Errors from the `openai` package (LLM, Whisper, OpenAI TTS) -> BridgeError. */
export function fromOpenAiError(id: ProviderIdentity, err: unknown, secret: string): BridgeError {
  if (err instanceof BridgeError) return err;
  if (err instanceof APIConnectionTimeoutError) {
    return new BridgeError('PROVIDER_STALL', `${id.provider}: request timed out`, { provider: id.provider }, { cause: err });
  }
  if (err instanceof APIConnectionError) return connectError(id, err.cause ?? err, secret);
  if (err instanceof APIError && typeof err.status === 'number') {
    const h = err.headers;
    const retryAfterMs = parseRetryAfter(h?.get('retry-after'), h?.get('retry-after-ms'));
    const body = err.error as { message?: unknown } | undefined;
    const detail = typeof body?.message === 'string' ? body.message : undefined;
    return httpStatusError(id, err.status, { retryAfterMs, detail, secret, cause: err });
  }
  if (err instanceof SyntaxError) return protocolError(id, `malformed stream data: ${redact(err.message, secret)}`, err);
  const msg = err instanceof Error ? err.message : String(err);
  return new BridgeError('PROVIDER_UNAVAILABLE', `${id.provider}: ${redact(msg, secret)}`, { provider: id.provider }, { cause: err });
}

// ---------------------------------------------------------------- push -> pull queue

/**
 * Adapters receive audio by callback (socket 'message') and hand it out as an async iterator; this
 * bridges the two. Unbounded on purpose: TTS audio for one chunk is seconds long at most.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  private done = false;
  private failure: unknown = null;

  push(item: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.failure = err;
    this.done = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(err);
    }
  }

  get ended(): boolean {
    return this.done;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
        if (this.failure !== null) return Promise.reject(this.failure);
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
      return: () => {
        this.done = true;
        this.items = [];
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

// ---------------------------------------------------------------- G.711 µ-law (media/g711.ts)

export function ulawToPcm(bytes: Uint8Array): Int16Array {
  return ulawDecode(bytes);
}

export function pcmToUlaw(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  return ulawEncode(pcm, out);
}

/** A timer that can be pushed back cheaply (one timer object per stream, not per message). */
export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  constructor(
    private readonly ms: number,
    private readonly onFire: () => void,
  ) {}
  arm(): void {
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(this.onFire, this.ms);
      this.timer.unref?.();
    }
  }
  /** Start only if not running (measures from the first event since the last stop). */
  start(): void {
    if (!this.timer) this.arm();
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

// ---------------------------------------------------------------- WebSocket connect (ws)

/**
 * Open a client WebSocket and map every way the handshake can fail: refused/unreachable ->
 * PROVIDER_CONNECT, HTTP 401/403 -> PROVIDER_AUTH, 429 (+ Retry-After) -> PROVIDER_RATE_LIMIT,
 * no answer within timeoutMs -> PROVIDER_CONNECT. Aborting `signal` cancels the attempt.
 */
export function connectWs(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  id: ProviderIdentity,
  secret: string,
  signal?: AbortSignal,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, perMessageDeflate: false });
    let settled = false;
    const settle = (err: BridgeError | null): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      if (err) {
        ws.on('error', () => {}); // late errors from a discarded socket are expected
        ws.terminate();
        reject(err);
      } else resolve(ws);
    };
    const onOpen = (): void => settle(null);
    const onAbort = (): void => settle(new BridgeError('PROVIDER_CLOSED', `${id.provider}: connect cancelled`, { provider: id.provider }));
    ws.once('open', onOpen);
    ws.once('unexpected-response', (_req, res) => {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'] as string | undefined);
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8').slice(0, 500)));
      res.on('end', () => settle(httpStatusError(id, res.statusCode ?? 0, { retryAfterMs, detail: body || undefined, secret })));
      res.on('error', () => settle(httpStatusError(id, res.statusCode ?? 0, { retryAfterMs, secret })));
    });
    ws.once('error', (err) => settle(connectError(id, err, secret)));
    ws.once('close', () => settle(new BridgeError('PROVIDER_CONNECT', `${id.provider}: closed during handshake`, { provider: id.provider })));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Close a socket we own without caring what state it is in. */
export function dropWs(ws: WebSocket, code = 1000): void {
  ws.on('error', () => {});
  if (ws.readyState === WebSocket.OPEN) ws.close(code);
  else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
}
