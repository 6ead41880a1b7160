/**
 * One ARI connection: a pre-flight `GET /ari/asterisk/info` (credentials and version checked before
 * ari-client touches the server: swagger-client *throws* from its HTTP callback on a 401 or a failed
 * resource load, which would crash the process), then ari-client loads the swagger (REST), then the
 * event WebSocket. Transient failures retry with capped exponential back-off; wrong credentials and
 * a too-old Asterisk are fatal and said so plainly. The password never reaches a log or an error.
 */
import { EventEmitter } from 'node:events';
import ariClient from 'ari-client';
import pino from 'pino';
import { BridgeError, errorMessage, isBridgeError } from '../../errors.ts';
import { AriEventStream, type AriEvent, type EventStreamState } from './ari-events.ts';
import { AriRest } from './ari-rest.ts';
import { assertExternalMediaVersion } from './version.ts';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'failed' | 'closed';

export interface AriConnectionOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly app: string;
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  readonly requestTimeoutMs: number;
  readonly logger?: pino.Logger;
}

export interface AriConnectionEvents {
  state: [ConnectionState];
  event: [AriEvent];
  /** The event stream came back after a drop: reconcile calls (events were missed). */
  reconnected: [];
}

/** ari-client wants the server root; accept a configured ".../ari" too. */
export function ariBaseUrl(url: string): string {
  // Credentials belong in username/password, never in a URL that gets logged.
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/+$/, '').replace(/\/ari$/, '');
}

export class AriConnection extends EventEmitter<AriConnectionEvents> {
  private _state: ConnectionState = 'idle';
  private events: AriEventStream | null = null;
  private _rest: AriRest | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  version: string | undefined;
  private readonly log: pino.Logger;
  private readonly base: string;

  constructor(private readonly opts: AriConnectionOptions) {
    super();
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'ari' });
    this.base = ariBaseUrl(opts.url);
  }

  get state(): ConnectionState {
    return this._state;
  }

  get rest(): AriRest {
    if (!this._rest) throw new BridgeError('PBX_CONNECT', 'ARI is not connected', { url: this.base });
    return this._rest;
  }

  get eventCounters(): AriEventStream['counters'] | undefined {
    return this.events?.counters;
  }

  private setState(s: ConnectionState): void {
    if (s === this._state) return;
    this._state = s;
    this.log.info({ state: s, url: this.base, user: this.opts.username, app: this.opts.app }, 'ARI connection state');
    this.emit('state', s);
  }

  /**
   * Resolves once connected; rejects on a fatal error (PBX_AUTH, PBX_VERSION, PBX_PROTOCOL) or close().
   * Unreachable Asterisk is not fatal: it keeps trying with back-off (`state` says 'connecting').
   */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      let delay = this.opts.reconnect.initialMs;
      const attempt = async () => {
        this.retryTimer = null;
        if (this._state === 'closed') return reject(new BridgeError('PBX_CONNECT', 'ARI connection closed', {}));
        this.setState('connecting');
        try {
          await this.connectOnce();
          this.setState('connected');
          resolve();
        } catch (err) {
          if ((this._state as ConnectionState) === 'closed') return reject(err);
          if (isBridgeError(err) && (err.code === 'PBX_AUTH' || err.code === 'PBX_VERSION' || err.code === 'PBX_PROTOCOL')) {
            this.log.error({ code: err.code, err: err.message }, 'ARI connection refused');
            this.setState('failed');
            this.events?.close();
            return reject(err);
          }
          this.log.warn({ err: errorMessage(err), retryInMs: delay }, 'ARI not reachable; retrying');
          this.retryTimer = setTimeout(() => void attempt(), delay);
          delay = Math.min(delay * 2, this.opts.reconnect.maxMs);
        }
      };
      void attempt();
    });
  }

  private async preflight(): Promise<string> {
    const auth = Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64');
    let res: Response;
    try {
      res = await fetch(`${this.base}/ari/asterisk/info`, {
        headers: { authorization: `Basic ${auth}` },
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
      });
    } catch (err) {
      throw new BridgeError('PBX_CONNECT', `cannot reach ARI at ${this.base}: ${errorMessage(err)}`, { url: this.base }, { cause: err });
    }
    if (res.status === 401 || res.status === 403) {
      throw new BridgeError('PBX_AUTH', `ARI at ${this.base} refused user "${this.opts.username}" (check ari.conf [${this.opts.username}] password)`, {
        url: this.base,
        user: this.opts.username,
      });
    }
    if (res.status === 404) {
      throw new BridgeError('PBX_PROTOCOL', `no ARI at ${this.base}/ari (http.conf enabled=yes? res_ari loaded?)`, { url: this.base });
    }
    if (!res.ok) throw new BridgeError('PBX_CONNECT', `ARI at ${this.base} answered HTTP ${res.status}`, { url: this.base, status: res.status });
    const info = (await res.json().catch(() => ({}))) as { system?: { version?: string } };
    return String(info.system?.version ?? '');
  }

  private async connectOnce(): Promise<void> {
    const version = await this.preflight();
    assertExternalMediaVersion(version);
    this.version = version;
    const client = await quietSwagger(() => ariClient.connect(this.base, this.opts.username, this.opts.password)).catch((err: unknown) => {
      throw new BridgeError('PBX_CONNECT', `ARI swagger load failed at ${this.base}: ${errorMessage(err)}`, { url: this.base }, { cause: err });
    });
    if (typeof client.channels?.externalMedia !== 'function') {
      throw new BridgeError('PBX_VERSION', `Asterisk ${version} ARI has no channels/externalMedia (needs 16.6+)`, { version });
    }
    this._rest = new AriRest(client, this.opts.requestTimeoutMs);
    this.log.info({ version, url: this.base }, 'ARI REST ready');
    if (!this.events) {
      const stream = new AriEventStream({
        url: this.base,
        username: this.opts.username,
        password: this.opts.password,
        app: this.opts.app,
        initialDelayMs: this.opts.reconnect.initialMs,
        maxDelayMs: this.opts.reconnect.maxMs,
        logger: this.log,
      });
      stream.on('event', (ev) => this.emit('event', ev));
      stream.on('state', (s: EventStreamState) => {
        if (this._state === 'closed' || this._state === 'failed' || this._state === 'connecting') return;
        this.setState(s === 'open' ? 'connected' : 'reconnecting');
      });
      stream.on('reconnected', () => this.emit('reconnected'));
      this.events = stream;
      await stream.start();
    }
  }

  /** Drop the event socket (it reconnects): tests and Asterisk-restart handling. */
  dropEvents(): void {
    this.events?.drop();
  }

  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setState('closed');
    this.events?.close();
    this.events = null;
  }
}

/**
 * swagger-client 2.0 console.logs "This API is using a deprecated version of Swagger!" for every
 * ARI connect (Asterisk serves Swagger 1.1): keep that one line out of the daemon's stdout.
 */
async function quietSwagger<T>(fn: () => Promise<T>): Promise<T> {
  const original = console.log;
  console.log = (...args: unknown[]) => {
    // It logs an array: console.log([message]).
    const first: unknown = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    if (typeof first === 'string' && first.startsWith('This API is using a deprecated version of Swagger')) return;
    original(...args);
  };
  try {
    return await fn();
  } finally {
    console.log = original;
  }
}
