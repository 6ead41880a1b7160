/**
 * The `/ari/events` WebSocket, kept by us rather than by ari-client's start(): ari-client's message
 * handler JSON.parses without a guard and dereferences the swagger model of every event type, so one
 * malformed frame or an event type newer than the swagger throws inside the socket handler (a
 * process crash), and its reconnect gives up after 10 attempts. Here: Basic auth in a header (not
 * the password in the URL), malformed/unknown frames counted and dropped, capped exponential
 * back-off forever, and the state exposed.
 */
import { EventEmitter } from 'node:events';
import pino from 'pino';
import WebSocket from 'ws';
import { errorMessage } from '../../errors.ts';

export type EventStreamState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface AriEvent {
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface EventStreamOptions {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly app: string;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly logger?: pino.Logger;
}

export interface EventStreamEvents {
  event: [AriEvent];
  state: [EventStreamState];
  /** Open again after a drop: events may have been missed. */
  reconnected: [];
  /** The server refused our credentials on upgrade. */
  unauthorized: [];
}

export class AriEventStream extends EventEmitter<EventStreamEvents> {
  private ws: WebSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private delay: number;
  private everOpen = false;
  private _state: EventStreamState = 'idle';
  readonly counters = { opened: 0, dropped: 0, malformed: 0, received: 0 };
  private readonly log: pino.Logger;

  constructor(private readonly opts: EventStreamOptions) {
    super();
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.delay = opts.initialDelayMs;
  }

  get state(): EventStreamState {
    return this._state;
  }

  private setState(s: EventStreamState): void {
    if (s === this._state) return;
    this._state = s;
    this.emit('state', s);
  }

  /** Resolves on the first open; rejects only if close() is called first. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onState = (s: EventStreamState) => {
        if (s === 'open') {
          this.off('state', onState);
          resolve();
        } else if (s === 'closed') {
          this.off('state', onState);
          reject(new Error('event stream closed before it opened'));
        }
      };
      this.on('state', onState);
      this.connect();
    });
  }

  private wsUrl(): string {
    const u = new URL('/ari/events', this.opts.url);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.searchParams.set('app', this.opts.app);
    return u.toString();
  }

  private connect(): void {
    if (this._state === 'closed') return;
    this.setState(this.everOpen ? 'reconnecting' : 'connecting');
    const auth = Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64');
    const ws = new WebSocket(this.wsUrl(), { headers: { authorization: `Basic ${auth}` }, handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on('open', () => {
      this.counters.opened++;
      this.delay = this.opts.initialDelayMs;
      const again = this.everOpen;
      this.everOpen = true;
      this.log.info({ url: this.opts.url, app: this.opts.app }, 'ARI event stream open');
      this.setState('open');
      if (again) this.emit('reconnected');
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('unexpected-response', (_req, res) => {
      if (res.statusCode === 401) {
        this.log.error({ url: this.opts.url, user: this.opts.username }, 'ARI refused the username/password for the event stream');
        this.emit('unauthorized');
      } else {
        this.log.warn({ status: res.statusCode }, 'ARI event stream upgrade refused');
      }
      ws.terminate();
    });
    ws.on('error', (err) => {
      this.log.debug({ err: errorMessage(err) }, 'ARI event stream error');
    });
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this._state === 'closed') return;
      if (this._state === 'open') {
        this.counters.dropped++;
        this.log.warn({ retryInMs: this.delay }, 'ARI event stream dropped; reconnecting');
      }
      this.schedule();
    });
  }

  private schedule(): void {
    if (this._state === 'closed' || this.timer) return;
    this.setState(this.everOpen ? 'reconnecting' : 'connecting');
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, this.opts.maxDelayMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    this.counters.received++;
    if (isBinary) {
      this.counters.malformed++;
      return;
    }
    let ev: unknown;
    try {
      ev = JSON.parse(data.toString());
    } catch {
      this.counters.malformed++;
      this.log.warn('malformed ARI event dropped');
      return;
    }
    if (ev === null || typeof ev !== 'object' || typeof (ev as { type?: unknown }).type !== 'string') {
      this.counters.malformed++;
      this.log.warn('ARI event without a type dropped');
      return;
    }
    try {
      this.emit('event', ev as AriEvent);
    } catch (err) {
      // A listener bug must not kill the stream (or the process) for every other call.
      this.log.error({ err: errorMessage(err), type: (ev as AriEvent).type }, 'ARI event handler failed');
    }
  }

  /** Drop the socket now (tests, and when Asterisk is known to have restarted); it reconnects. */
  drop(): void {
    this.ws?.terminate();
  }

  close(): void {
    this.setState('closed');
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ws?.terminate();
    this.ws = null;
  }
}
