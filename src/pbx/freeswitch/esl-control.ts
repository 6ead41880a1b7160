/**
 * One inbound Event Socket connection (modesl) with capped exponential reconnect. Hides modesl's
 * callback queues behind promises with timeouts: ESL answers strictly in order, so a reply that never
 * comes would otherwise stall every later command.
 *
 * modesl trusts the byte stream: a header with a bad %-escape or a text/event-plain frame without a
 * body throws inside its socket 'data' handler (a process crash), and a wrong Content-Length
 * silently swallows the frames after it (replies then reach the wrong callbacks, events are lost, a
 * huge one stalls the connection for good). Any sign that the framing is lost — a parser exception or
 * error, a frame of an unknown Content-Type, a second auth/request, an absurd Content-Length, a frame
 * left half-read with no progress for apiTimeoutMs — drops the connection (counted as framingErrors):
 * the reconnect starts a clean stream and the adapter reconciles its calls.
 */
import { EventEmitter } from 'node:events';
import esl from 'modesl';
import type { Connection, Event as EslEventRaw } from 'modesl';
import pino from 'pino';
import { BridgeError, errorMessage } from '../../errors.ts';
import { systemClock, type Clock, type TimerHandle } from '../../media/clock.ts';

/** Far above any event or api/response we ask for; a claim beyond it is a lost frame boundary. */
const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export type EslState = 'idle' | 'connecting' | 'ready' | 'backoff' | 'auth-failed' | 'closed';

/** A channel/custom event as we use it: header lookup plus the custom body. */
export interface EslEvent {
  readonly name: string;
  readonly subclass: string | undefined;
  readonly uuid: string | undefined;
  header(name: string): string | undefined;
  headerNames(): string[];
  readonly body: string;
}

export interface EslControlOptions {
  host: string;
  port: number;
  password: string;
  reconnect: { initialMs: number; maxMs: number };
  apiTimeoutMs: number;
  /** Plain event names, then custom subclasses (sent after CUSTOM, as mod_event_socket reads them). */
  events: readonly string[];
  subclasses: readonly string[];
  logger?: pino.Logger;
  clock?: Clock;
}

interface EslControlEvents {
  event: [EslEvent];
  ready: [];
  down: [string];
  error: [BridgeError];
}

export class EslControl extends EventEmitter<EslControlEvents> {
  private readonly log: pino.Logger;
  private readonly clock: Clock;
  private conn: Connection | null = null;
  private stateValue: EslState = 'idle';
  private attempts = 0;
  private retryTimer: TimerHandle | null = null;
  private readonly pending = new Set<{ reject: (e: Error) => void; timer: TimerHandle }>();
  private firstOutcome: { resolve: () => void; reject: (e: Error) => void } | null = null;
  readonly counters = { connects: 0, disconnects: 0, authFailures: 0, apiErrors: 0, apiTimeouts: 0, framingErrors: 0 };
  private watchdog: TimerHandle | null = null;

  constructor(private readonly opts: EslControlOptions) {
    super();
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.clock = opts.clock ?? systemClock;
  }

  get state(): EslState {
    return this.stateValue;
  }

  /**
   * Connects. Resolves on the first successful login; rejects on a wrong password (PBX_AUTH) — a
   * permanent fault worth failing start for. Refused/dropped connections retry in the background and
   * resolve this promise only once connected.
   */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.firstOutcome = { resolve, reject };
      this.connect();
    });
  }

  close(): void {
    this.stateValue = 'closed';
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failPending(new BridgeError('PBX_CONNECT', 'ESL connection closed', {}));
    this.dropConnection();
    this.firstOutcome?.reject(new BridgeError('PBX_CONNECT', 'ESL adapter closed before connecting', {}));
    this.firstOutcome = null;
  }

  /** `api <command> <args>`: resolves with the api/response body (e.g. "+OK\n", "-ERR No such channel!\n"). */
  api(command: string, args: string): Promise<string> {
    const conn = this.conn;
    if (!conn || this.stateValue !== 'ready') {
      return Promise.reject(new BridgeError('PBX_CONNECT', `ESL not connected (api ${command})`, { command }));
    }
    if (/[\r\n]/.test(args)) {
      return Promise.reject(new BridgeError('PBX_REQUEST', `api ${command}: arguments contain a line break`, { command }));
    }
    return this.withTimeout(`api ${command}`, (done) => conn.api(command, args, (res) => done(res.getBody())));
  }

  /** `sendmsg <uuid>` with call-command headers: resolves with the Reply-Text. */
  sendmsg(uuid: string, headers: Record<string, string>): Promise<string> {
    const conn = this.conn;
    if (!conn || this.stateValue !== 'ready') {
      return Promise.reject(new BridgeError('PBX_CONNECT', 'ESL not connected (sendmsg)', { uuid }));
    }
    return this.withTimeout('sendmsg', (done) =>
      conn.sendRecv(`sendmsg ${uuid}`, headers, (res) => done(res.getHeader('Reply-Text') ?? '')),
    );
  }

  private withTimeout(what: string, send: (done: (text: string) => void) => void): Promise<string> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const entry = {
        reject: (e: Error) => {
          if (settled) return;
          settled = true;
          this.clock.clearTimeout(entry.timer);
          this.pending.delete(entry);
          reject(e);
        },
        timer: this.clock.setTimeout(() => {
          this.counters.apiTimeouts++;
          entry.reject(new BridgeError('PBX_REQUEST', `${what}: no reply within ${this.opts.apiTimeoutMs} ms`, {}));
        }, this.opts.apiTimeoutMs),
      };
      this.pending.add(entry);
      send((text) => {
        if (settled) return; // a late reply to a timed-out request: modesl's FIFO stays in step
        settled = true;
        this.clock.clearTimeout(entry.timer);
        this.pending.delete(entry);
        resolve(text);
      });
    });
  }

  private connect(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'connecting';
    const { host, port, password } = this.opts;
    let authFailed = false;
    const conn = new esl.Connection(host, port, password);
    // modesl leaves Nagle on: each play-event -> uuid_broadcast round trip could wait tens of ms.
    conn.socket?.setNoDelay(true);
    this.conn = conn;
    // modesl re-emits socket errors on an EventEmitter2 that throws when nobody listens. Errors
    // without an errno code come from its parser (an event body that is not JSON): framing lost.
    conn.on('error', (err: unknown) => {
      if (typeof (err as { code?: unknown } | null)?.code === 'string') this.log.debug({ err: errorMessage(err) }, 'ESL socket error');
      else this.framingLost(conn, `parser error: ${errorMessage(err)}`);
    });
    conn.on('esl::connect', () => this.guardParser(conn));
    conn.on('esl::event::raw::**', () => this.framingLost(conn, 'frame of an unknown Content-Type'));
    conn.on('esl::event::auth::request', () => {
      if (conn.authed) this.framingLost(conn, 'auth/request on an authenticated connection');
    });
    conn.on('esl::event::auth::fail', () => {
      if (conn !== this.conn || this.stateValue === 'ready') return;
      authFailed = true;
      this.counters.authFailures++;
    });
    conn.on('esl::ready', () => {
      if (conn !== this.conn) return;
      this.subscribe(conn);
    });
    conn.on('esl::event::**', (...args: unknown[]) => {
      const [evt, headers] = args as [EslEventRaw, Record<string, string> | undefined];
      if (conn !== this.conn || headers?.['Content-Type'] !== 'text/event-json') return;
      this.emit('event', wrapEvent(evt));
    });
    conn.socket?.once('close', () => {
      if (conn !== this.conn) return;
      this.conn = null;
      this.stopWatchdog();
      if (authFailed) {
        this.stateValue = 'auth-failed';
        const err = new BridgeError(
          'PBX_AUTH',
          `FreeSWITCH ESL at ${host}:${port} rejected the password (check freeswitch.password against event_socket.conf.xml)`,
          { host, port },
        );
        this.log.error({ host, port }, err.message);
        this.failPending(err);
        this.emit('error', err);
        this.firstOutcome?.reject(err);
        this.firstOutcome = null;
        return;
      }
      const wasReady = this.stateValue === 'ready';
      if (wasReady) this.counters.disconnects++;
      this.failPending(new BridgeError('PBX_CONNECT', 'ESL connection lost', { host, port }));
      if (this.stateValue === 'closed') return;
      if (wasReady) this.emit('down', 'connection lost');
      this.scheduleReconnect();
    });
  }

  private subscribe(conn: Connection): void {
    const list = [...this.opts.events];
    if (this.opts.subclasses.length > 0) list.push('CUSTOM', ...this.opts.subclasses);
    this.withTimeout('event json', (done) =>
      conn.events('json', list.join(' '), (res) => done(res.getHeader('Reply-Text') ?? '')),
    ).then(
      (reply) => {
        if (conn !== this.conn) return;
        if (!reply.startsWith('+OK')) {
          this.log.error({ reply }, 'ESL event subscription refused');
          conn.disconnect();
          return;
        }
        this.stateValue = 'ready';
        this.attempts = 0;
        this.counters.connects++;
        this.log.info({ host: this.opts.host, port: this.opts.port }, 'ESL connected');
        this.emit('ready');
        this.firstOutcome?.resolve();
        this.firstOutcome = null;
      },
      (err: unknown) => {
        this.log.warn({ err: errorMessage(err) }, 'ESL event subscription failed');
        this.conn?.socket?.destroy();
      },
    );
  }

  /**
   * Makes modesl's parser failures ours: exceptions in it are caught (they would escape its socket
   * 'data' handler), and after every read an absurd claimed length drops the connection at once.
   * The parser exists from modesl's 'esl::connect' on; our 'data' listener runs after its own.
   */
  private guardParser(conn: Connection): void {
    const parser = conn.parser;
    const socket = conn.socket;
    if (!parser || !socket) return;
    let frames = 0;
    for (const name of ['_parseHeaders', '_parseBody', '_parseEvent'] as const) {
      const original = parser[name];
      parser[name] = (...args: unknown[]) => {
        if (name === '_parseEvent') frames++;
        try {
          original.apply(parser, args);
        } catch (err) {
          this.framingLost(conn, `parser threw: ${errorMessage(err)}`);
        }
      };
    }
    // A frame half-read with no frame completed for a whole apiTimeoutMs: its Content-Length lied.
    // Armed only while the parser holds a partial frame (an idle connection has no timer).
    let seen = 0;
    const check = (): void => {
      this.watchdog = null;
      if (conn !== this.conn || !(parser.bodyLen > 0 || parser.buffer.length > 0)) return;
      if (frames === seen) return this.framingLost(conn, 'stalled in the middle of a frame');
      seen = frames;
      this.watchdog = this.clock.setTimeout(check, this.opts.apiTimeoutMs);
    };
    socket.on('data', () => {
      if (conn !== this.conn) return;
      if (parser.bodyLen > MAX_FRAME_BYTES || parser.buffer.length > MAX_FRAME_BYTES) return this.framingLost(conn, `frame over ${MAX_FRAME_BYTES} bytes claimed`);
      if (!(parser.bodyLen > 0 || parser.buffer.length > 0)) this.stopWatchdog();
      else if (!this.watchdog) {
        seen = frames;
        this.watchdog = this.clock.setTimeout(check, this.opts.apiTimeoutMs);
      }
    });
  }

  private framingLost(conn: Connection, reason: string): void {
    if (conn !== this.conn || conn.socket?.destroyed !== false) return;
    this.counters.framingErrors++;
    this.log.warn({ reason }, 'ESL stream out of step; reconnecting');
    this.stopWatchdog();
    conn.socket.destroy();
  }

  private stopWatchdog(): void {
    if (this.watchdog) this.clock.clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  private scheduleReconnect(): void {
    const { initialMs, maxMs } = this.opts.reconnect;
    const delay = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempts, 20));
    this.attempts++;
    this.stateValue = 'backoff';
    this.log.warn({ delayMs: delay, attempt: this.attempts }, 'ESL not connected; retrying');
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private dropConnection(): void {
    this.stopWatchdog();
    const conn = this.conn;
    this.conn = null;
    if (!conn) return;
    try {
      conn.socket?.destroy();
    } catch {
      /* already gone */
    }
  }

  private failPending(err: Error): void {
    for (const p of [...this.pending]) p.reject(err);
  }
}

/** FreeSWITCH sends event-json values as strings; anything else (JSON numbers, objects) is treated as absent. */
function wrapEvent(evt: EslEventRaw): EslEvent {
  const header = (name: string): string | undefined => {
    const v: unknown = evt.getHeader(name);
    return typeof v === 'string' ? v : undefined;
  };
  const body: unknown = evt.getBody();
  return {
    name: header('Event-Name') ?? '',
    subclass: header('Event-Subclass'),
    uuid: header('Unique-ID'),
    header,
    headerNames: () => evt.headers.map((h) => h.name),
    body: typeof body === 'string' ? body : '',
  };
}
