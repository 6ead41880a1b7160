/**
 * Deepgram live transcription through @deepgram/sdk v5 (`client.listen.v1.connect`), one WebSocket per
 * call opened at answer. Wire protocol: https://developers.deepgram.com/reference/speech-to-text/listen-streaming
 * - audio: µ-law 8 kHz payloads are sent exactly as the PBX delivered them (encoding=mulaw), so the
 *   recognizer gets the original bytes with no transcode; other codecs go as linear16 PCM;
 * - interim_results -> 'partial', is_final -> 'final' (speech_final = end of utterance),
 *   vad_events SpeechStarted -> 'speech-start' (barge-in hint), UtteranceEnd -> 'utterance-end';
 * - {"type":"KeepAlive"} when no audio went out for keepAliveSeconds (Deepgram closes idle streams
 *   after ~10 s, NET-0001), {"type":"Finalize"} on finalize() (https://developers.deepgram.com/docs/finalize),
 *   {"type":"CloseStream"} at close (https://developers.deepgram.com/docs/close-stream).
 * The SDK's automatic reconnect is disabled: a dropped stream is a failure for the fallback chain to
 * handle, not something to retry silently while the caller talks.
 */
import { DeepgramClient } from '@deepgram/sdk';
import pino from 'pino';
import type { DeepgramConfig } from '../../config/providers.ts';
import { BridgeError } from '../../errors.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import type { EncodedFrame, Expectations, ProviderOpenOptions, SpeechToText, SttEvent, SttSession } from '../types.ts';
import {
  connectError,
  httpStatusError,
  pcmToUlaw,
  protocolError,
  resolveApiKey,
  stallError,
  Watchdog,
  type ProviderIdentity,
  type CloudProviderOptions,
  type TimingSink,
} from '../common.ts';

export interface DeepgramSttOptions extends CloudProviderOptions<DeepgramConfig> {
  /** The PBX codec: 'ulaw' streams payloads as is; anything else streams linear16. */
  readonly codec?: 'ulaw' | 'alaw';
}

type DgSocket = Awaited<ReturnType<DeepgramClient['listen']['v1']['connect']>>;

export class DeepgramStt implements SpeechToText {
  readonly name = 'deepgram';
  private readonly o: DeepgramSttOptions;
  private readonly id: ProviderIdentity;
  private readonly log: pino.Logger;

  constructor(opts: DeepgramSttOptions) {
    this.o = opts;
    this.id = { provider: 'stt deepgram', configKey: opts.configKey ?? 'providers.stt[].apiKey' };
    this.log = opts.logger ?? pino({ level: 'silent' });
  }

  async open(opts: ProviderOpenOptions & { expect?: Expectations }, onEvent: (event: SttEvent) => void): Promise<SttSession> {
    const cfg = this.o.config;
    const key = resolveApiKey(cfg, this.id, this.o.env);
    const mulaw = (this.o.codec ?? 'ulaw') === 'ulaw';
    const client = new DeepgramClient({ apiKey: key, baseUrl: cfg.baseUrl });
    const words = [...cfg.keywords, ...(opts.expect?.phrases ?? [])].slice(0, 50);
    // nova-3 rejects `keywords` and takes `keyterm` instead (Deepgram keyterm prompting docs).
    const boost = words.length === 0 ? {} : cfg.model.startsWith('nova-3') ? { keyterm: words } : { keywords: words };
    const connectAc = new AbortController();
    const onCallEnd = (): void => connectAc.abort();
    opts.signal.addEventListener('abort', onCallEnd, { once: true });
    let socket: DgSocket;
    try {
      socket = await client.listen.v1.connect({
        model: cfg.model,
        language: cfg.language,
        encoding: mulaw ? 'mulaw' : 'linear16',
        sample_rate: 8000,
        channels: 1,
        interim_results: 'true',
        punctuate: 'true',
        endpointing: cfg.endpointingMs,
        utterance_end_ms: cfg.utteranceEndMs,
        vad_events: 'true',
        ...boost,
        // Types want it; the client's auth provider fills in the real "Token <key>" header.
        Authorization: `Token ${key}`,
        reconnectAttempts: 1, // 1 = the first attempt only (the SDK counts attempts, not retries)
        shouldReconnect: () => false,
        connectionTimeoutInSeconds: cfg.connectTimeoutMs / 1000,
        abortSignal: connectAc.signal,
      } as Parameters<DeepgramClient['listen']['v1']['connect']>[0]);
    } catch (err) {
      opts.signal.removeEventListener('abort', onCallEnd);
      throw err instanceof BridgeError ? err : connectError(this.id, err, key);
    }
    const session = new DeepgramSession(socket, this.id, cfg, mulaw, onEvent, this.log, opts.callId, key, this.o.onTiming);
    try {
      await session.opened(cfg.connectTimeoutMs, opts.signal);
    } catch (err) {
      opts.signal.removeEventListener('abort', onCallEnd);
      connectAc.abort();
      throw err;
    }
    opts.signal.removeEventListener('abort', onCallEnd);
    opts.signal.addEventListener('abort', () => void session.close(), { once: true });
    return session;
  }
}

class DeepgramSession implements SttSession {
  readonly provider = 'deepgram';
  private state: 'connecting' | 'open' | 'closing' | 'closed' = 'connecting';
  private lastSent = 0;
  private keepAlive: NodeJS.Timeout | null = null;
  private readonly stall: Watchdog;
  private readonly ulawBuf = new Uint8Array(160);
  private heardSinceEnd = false;
  private finalizeAt = 0;
  private openWaiter: { resolve: () => void; reject: (e: BridgeError) => void } | null = null;

  constructor(
    private readonly socket: DgSocket,
    private readonly id: ProviderIdentity,
    private readonly cfg: DeepgramConfig,
    private readonly mulaw: boolean,
    private readonly onEvent: (e: SttEvent) => void,
    private readonly log: pino.Logger,
    private readonly callId: string,
    private readonly secret: string,
    private readonly onTiming?: TimingSink,
  ) {
    this.stall = new Watchdog(cfg.stallSeconds * 1000, () => this.fail(stallError(id, cfg.stallSeconds, 'transcription messages')));
    socket.on('open', () => {
      if (this.state !== 'connecting') return;
      this.state = 'open';
      this.lastSent = performance.now();
      const every = Math.max(50, (cfg.keepAliveSeconds * 1000) / 2);
      this.keepAlive = setInterval(() => this.tickKeepAlive(), every);
      this.keepAlive.unref?.();
      this.openWaiter?.resolve();
    });
    socket.on('message', (m: unknown) => {
      try {
        this.onMessage(m);
      } catch (err) {
        // A listener downstream threw: keep it out of the SDK (which would console.error it).
        this.log.error({ callId, err: (err as Error).message }, 'stt event handler failed');
      }
    });
    socket.on('error', (err: Error) => this.onSocketError(err));
    socket.on('close', (ev: { code?: number; reason?: string }) => this.onClose(ev?.code ?? 1006, ev?.reason ?? ''));
    socket.connect();
  }

  opened(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.teardown();
        reject(new BridgeError('PROVIDER_CONNECT', `${this.id.provider}: connect timed out after ${timeoutMs} ms`, { provider: this.id.provider }));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(t);
        this.openWaiter = null;
      };
      this.openWaiter = {
        resolve: () => {
          done();
          resolve();
        },
        reject: (e) => {
          done();
          this.teardown();
          reject(e);
        },
      };
      if (this.earlyError) return this.openWaiter.reject(this.earlyError);
      if (signal.aborted) this.openWaiter.reject(new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: call ended while connecting`, { provider: this.id.provider }));
    });
  }
  private earlyError: BridgeError | null = null;

  write(frame: Pcm, encoded?: EncodedFrame): void {
    if (this.state !== 'open') return;
    try {
      if (this.mulaw) {
        if (encoded && encoded.codec === 'ulaw') this.socket.sendMedia(encoded.payload);
        else this.socket.sendMedia(pcmToUlaw(frame, frame.length === 160 ? this.ulawBuf : undefined)); // ws masks client frames into a new buffer, so reuse is safe
      } else {
        // Int16Array is host-endian; every platform Node runs on here is little-endian, as linear16 wants.
        this.socket.sendMedia(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
      }
      this.lastSent = performance.now();
      // Stall = audio went out and nothing came back for stallSeconds (silence on hold is no stall).
      this.stall.start();
    } catch (err) {
      this.fail(new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: send failed`, { provider: this.id.provider }, { cause: err }));
    }
  }

  setExpectations(): void {
    // Keywords are fixed per stream by Deepgram (query parameters); nothing to do mid-stream.
  }

  finalize(): void {
    if (this.state !== 'open') return;
    this.finalizeAt = performance.now();
    this.sendJson({ type: 'Finalize' });
  }

  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    const wasOpen = this.state === 'open';
    this.state = 'closing';
    this.stopTimers();
    if (wasOpen) {
      // CloseStream lets Deepgram flush and send Metadata, then it closes with 1000; don't wait long.
      try {
        this.socket.sendCloseStream({ type: 'CloseStream' });
      } catch {
        /* already gone */
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 500);
        this.closeWaiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.teardown();
  }
  private closeWaiter: (() => void) | null = null;

  private tickKeepAlive(): void {
    if (this.state !== 'open') return;
    if (performance.now() - this.lastSent >= this.cfg.keepAliveSeconds * 1000) {
      this.sendJson({ type: 'KeepAlive' });
      this.lastSent = performance.now();
    }
  }

  private sendJson(msg: { type: 'KeepAlive' | 'Finalize' | 'CloseStream' }): void {
    try {
      if (msg.type === 'KeepAlive') this.socket.sendKeepAlive({ type: 'KeepAlive' });
      else if (msg.type === 'Finalize') this.socket.sendFinalize({ type: 'Finalize' });
      else this.socket.sendCloseStream({ type: 'CloseStream' });
    } catch (err) {
      this.fail(new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: send failed`, { provider: this.id.provider }, { cause: err }));
    }
  }

  private onMessage(m: unknown): void {
    if (this.state === 'closed') return;
    this.stall.stop();
    if (m === null || typeof m !== 'object' || typeof (m as { type?: unknown }).type !== 'string') {
      // The SDK hands over the raw string when a frame is not JSON.
      return this.fail(protocolError(this.id, 'received a frame that is not a Deepgram JSON message'));
    }
    const msg = m as { type: string } & Record<string, unknown>;
    switch (msg.type) {
      case 'SpeechStarted':
        this.onEvent({ type: 'speech-start' });
        return;
      case 'UtteranceEnd':
        this.heardSinceEnd = false;
        this.onEvent({ type: 'utterance-end' });
        return;
      case 'Metadata':
        this.log.debug({ callId: this.callId }, 'deepgram metadata');
        return;
      case 'Results':
        return this.onResults(msg);
      default:
        this.log.debug({ type: msg.type }, 'deepgram: unknown message type ignored');
    }
  }

  private onResults(msg: Record<string, unknown>): void {
    const alt = (msg.channel as { alternatives?: { transcript?: unknown; confidence?: unknown }[] } | undefined)?.alternatives?.[0];
    if (!alt || typeof alt.transcript !== 'string') return this.fail(protocolError(this.id, 'Results without channel.alternatives[0].transcript'));
    const text = alt.transcript.trim();
    const confidence = typeof alt.confidence === 'number' ? alt.confidence : undefined;
    if (msg.is_final !== true) {
      if (text) this.onEvent({ type: 'partial', text });
      return;
    }
    if (this.finalizeAt > 0) {
      this.onTiming?.({ role: 'stt', provider: 'deepgram', callId: this.callId, metric: 'final', ms: performance.now() - this.finalizeAt });
      this.finalizeAt = 0;
    }
    const eou = msg.speech_final === true || msg.from_finalize === true;
    if (text) {
      this.heardSinceEnd = !eou;
      this.onEvent({ type: 'final', text, confidence, endOfUtterance: eou });
    } else if (msg.from_finalize === true) {
      // We asked for a final: an empty one means "heard speech, matched nothing" unless words already came.
      if (this.heardSinceEnd) this.onEvent({ type: 'utterance-end' });
      else this.onEvent({ type: 'final', text: '', endOfUtterance: true });
      this.heardSinceEnd = false;
    }
  }

  private onSocketError(err: Error): void {
    const m = /Unexpected server response: (\d{3})/.exec(err.message);
    if (m) return this.fail(httpStatusError(this.id, Number(m[1]), { secret: this.secret, cause: err }));
    if (this.state === 'connecting') return this.fail(connectError(this.id, err, this.secret));
    this.fail(new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: socket error`, { provider: this.id.provider }, { cause: err }));
  }

  private onClose(code: number, reason: string): void {
    this.closeWaiter?.();
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'connecting') {
      // The SDK reports a failed handshake as close(1000) first and the error (with the HTTP status)
      // right after in the same tick: let the error speak first.
      queueMicrotask(() => this.fail(new BridgeError('PROVIDER_CONNECT', `${this.id.provider}: connection closed during handshake (${code})`, { provider: this.id.provider, closeCode: code })));
      return;
    }
    const codeName = code === 1008 ? 'PROVIDER_PROTOCOL' : 'PROVIDER_CLOSED';
    this.fail(new BridgeError(codeName, `${this.id.provider}: stream closed by server (${code}${reason ? ` ${reason}` : ''})`, { provider: this.id.provider, closeCode: code }));
  }

  /** Reports the failure once, then drops the socket. */
  private fail(e: BridgeError): void {
    if (this.state === 'closed') return;
    const connecting = this.state === 'connecting';
    this.state = 'closed';
    this.stopTimers();
    this.teardown();
    if (connecting) {
      if (this.openWaiter) this.openWaiter.reject(e);
      else this.earlyError = e;
      return;
    }
    this.log.warn({ callId: this.callId, code: e.code, err: e.message }, 'deepgram stream failed');
    this.onEvent({ type: 'error', error: e });
  }

  private stopTimers(): void {
    this.stall.stop();
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
  }

  private teardown(): void {
    this.state = 'closed';
    this.stopTimers();
    try {
      this.socket.close();
    } catch {
      /* already closed */
    }
  }
}
