/**
 * A local stand-in for Asterisk 20's ARI, good enough for the real `ari-client` to connect to it
 * unchanged: it serves the real swagger from ../shared/ari-api-docs (basePath rewritten to this
 * server, as Asterisk rewrites it from the Host header), checks Basic auth / api_key, streams events
 * on /ari/events, and answers the REST calls the adapter makes with Asterisk's bodies, status codes
 * and event sequences (../shared/fixtures/asterisk20-externalmedia-call.json). ExternalMedia
 * channels get a real UDP socket behaving like UnicastRTP (fake-ari-rtp.ts).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { FakeUnicastRtp } from './fake-ari-rtp.ts';

export const ARI_DOCS_DIR = join(import.meta.dirname, '../../../shared/ari-api-docs');

export interface FakeChannel {
  id: string;
  name: string;
  state: 'Down' | 'Ring' | 'Up';
  caller: { name: string; number: string };
  connected: { name: string; number: string };
  dialplan: { context: string; exten: string; priority: number; app_name: string; app_data: string };
  creationtime: string;
  vars: Map<string, string>;
  inStasis: boolean;
  bridgeId?: string;
  /** Where continueInDialplan sent it. */
  continuedTo?: { context?: string; extension?: string; priority?: number };
  hungUp: boolean;
  rtp?: FakeUnicastRtp;
  external?: { host: string; port: number; format: string };
}

export interface FakeBridge {
  id: string;
  name: string;
  channels: string[];
  creationtime: string;
}

export interface FakeAriOptions {
  username?: string;
  password?: string;
  app?: string;
  /** /asterisk/info system.version. */
  version?: string;
  /** Send the ExternalMedia channel's StasisStart before the REST response (a real race). */
  emStartBeforeResponse?: boolean;
  /** PlaybackFinished this long after /play. */
  playbackMs?: number;
}

interface FailRule {
  method: string;
  path: RegExp;
  status: number;
  message: string;
  remaining: number;
}

const CAUSE_TXT: Record<number, string> = { 16: 'Normal Clearing', 32: 'Normal, unspecified', 17: 'User busy' };

function ts(): string {
  return new Date().toISOString().replace('Z', '+0000');
}

export class FakeAri {
  readonly username: string;
  readonly password: string;
  readonly app: string;
  version: string;
  emStartBeforeResponse: boolean;
  playbackMs: number;
  port = 0;
  readonly channels = new Map<string, FakeChannel>();
  readonly bridges = new Map<string, FakeBridge>();
  /** Every REST request: method, path with query, status answered. */
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  readonly events: Array<Record<string, unknown>> = [];
  readonly counters = { channelsCreated: 0, channelsDestroyed: 0, bridgesCreated: 0, bridgesDestroyed: 0, wsConnections: 0, authFailures: 0 };
  /** Refuse WebSocket upgrades (an Asterisk restarting). */
  rejectEvents = false;
  /**
   * Called with each authorized REST request before Asterisk acts on it: a test can make the world
   * change at that instant (the caller hangs up while a transfer's requests are in flight).
   */
  beforeRequest: ((method: string, path: string) => void) | null = null;
  private server: Server;
  private wss: WebSocketServer;
  private sockets = new Set<Socket>();
  private clients = new Set<WebSocket>();
  private failRules: FailRule[] = [];
  private seq = 0;
  private docs = new Map<string, string>();
  private timers = new Set<NodeJS.Timeout>();

  constructor(opts: FakeAriOptions = {}) {
    this.username = opts.username ?? 'aibridge';
    this.password = opts.password ?? 'test-secret';
    this.app = opts.app ?? 'ai-agent';
    this.version = opts.version ?? '20.5.2';
    this.emStartBeforeResponse = opts.emStartBeforeResponse ?? true;
    this.playbackMs = opts.playbackMs ?? 30;
    this.server = createServer((req, res) => this.route(req, res));
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket as Socket, head));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get connectedClients(): number {
    return this.clients.size;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const c of this.channels.values()) c.rtp?.close();
    for (const ws of this.clients) ws.terminate();
    for (const s of this.sockets) s.destroy();
    this.wss.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Close the server (keeping state) and listen again on the same port: Asterisk's HTTP restarting. */
  dropEvents(): void {
    for (const ws of this.clients) ws.terminate();
    this.clients.clear();
  }

  /** The next `count` requests matching method+path answer `status` with Asterisk's error body. */
  failNext(method: string, path: RegExp, status: number, message: string, count = 1): void {
    this.failRules.push({ method, path, status, message, remaining: count });
  }

  // ---------------------------------------------------------------- calls and events

  /** A caller channel enters Stasis(app, args...) as the dialplan would hand it over. */
  startCall(opts: {
    callerName?: string;
    callerNumber?: string;
    connectedName?: string;
    args?: string[];
    vars?: Record<string, string>;
    state?: 'Ring' | 'Up';
    id?: string;
  } = {}): FakeChannel {
    const n = ++this.seq;
    const id = opts.id ?? `1795542118.${n}`;
    const ch: FakeChannel = {
      id,
      name: `PJSIP/trunk-${n.toString(16).padStart(8, '0')}`,
      state: opts.state ?? 'Up',
      caller: { name: opts.callerName ?? '', number: opts.callerNumber ?? '' },
      connected: { name: opts.connectedName ?? opts.callerName ?? '', number: opts.callerNumber ?? '' },
      dialplan: { context: 'ai', exten: '8399', priority: 2, app_name: 'Stasis', app_data: [this.app, ...(opts.args ?? [])].join(',') },
      creationtime: ts(),
      vars: new Map(Object.entries(opts.vars ?? {})),
      inStasis: true,
      hungUp: false,
    };
    this.channels.set(id, ch);
    this.counters.channelsCreated++;
    this.emit({ type: 'StasisStart', args: opts.args ?? [], channel: this.channelJson(ch) });
    return ch;
  }

  /** The far end hangs up: Asterisk's sequence from the fixture. */
  hangup(channelId: string, cause = 16, soft = false): boolean {
    const ch = this.channels.get(channelId);
    if (!ch || ch.hungUp) return false;
    ch.hungUp = true;
    this.emit({ type: 'ChannelHangupRequest', cause, ...(soft ? { soft: true } : {}), channel: this.channelJson(ch) });
    this.leaveBridge(ch);
    if (ch.inStasis) {
      ch.inStasis = false;
      this.emit({ type: 'StasisEnd', channel: this.channelJson(ch) });
    }
    this.emit({ type: 'ChannelDestroyed', cause, cause_txt: CAUSE_TXT[cause] ?? 'Unknown', channel: this.channelJson(ch) });
    ch.rtp?.close();
    this.channels.delete(channelId);
    this.counters.channelsDestroyed++;
    return true;
  }

  dtmf(channelId: string, digit: string, durationMs = 100): void {
    const ch = this.channels.get(channelId);
    if (!ch) throw new Error(`no channel ${channelId}`);
    this.emit({ type: 'ChannelDtmfReceived', digit, duration_ms: durationMs, channel: this.channelJson(ch) });
  }

  /** Raw text on every event socket (malformed JSON, unknown event types, ...). */
  sendRaw(text: string): void {
    for (const ws of this.clients) ws.send(text);
  }

  emit(event: Record<string, unknown>): void {
    const full = { ...event, timestamp: ts(), asterisk_id: '02:fc:00:00:00:01', application: this.app };
    this.events.push(full);
    const text = JSON.stringify(full);
    for (const ws of this.clients) ws.send(text);
  }

  /** Our channels: ExternalMedia (UnicastRTP) still alive. */
  unicastChannels(): FakeChannel[] {
    return [...this.channels.values()].filter((c) => c.name.startsWith('UnicastRTP/'));
  }

  /** The UnicastRTP side of a caller's call (the ExternalMedia channel sharing its bridge). */
  rtpFor(callerId: string): FakeUnicastRtp | undefined {
    const b = this.channels.get(callerId)?.bridgeId;
    if (!b) return undefined;
    for (const id of this.bridges.get(b)?.channels ?? []) {
      const c = this.channels.get(id);
      if (c?.rtp) return c.rtp;
    }
    return undefined;
  }

  channelJson(ch: FakeChannel): Record<string, unknown> {
    return {
      id: ch.id,
      name: ch.name,
      state: ch.state,
      protocol_id: '',
      caller: { ...ch.caller },
      connected: { ...ch.connected },
      accountcode: '',
      dialplan: { ...ch.dialplan },
      creationtime: ch.creationtime,
      language: 'en',
    };
  }

  private bridgeJson(b: FakeBridge): Record<string, unknown> {
    return {
      id: b.id,
      technology: 'simple_bridge',
      bridge_type: 'mixing',
      bridge_class: 'stasis',
      creator: 'Stasis',
      name: b.name,
      channels: [...b.channels],
      creationtime: b.creationtime,
      video_mode: 'talker',
    };
  }

  private leaveBridge(ch: FakeChannel): void {
    if (!ch.bridgeId) return;
    const b = this.bridges.get(ch.bridgeId);
    ch.bridgeId = undefined;
    if (!b) return;
    b.channels = b.channels.filter((id) => id !== ch.id);
    this.emit({ type: 'ChannelVarset', variable: 'BRIDGEPEER', value: '', channel: this.channelJson(ch) });
    this.emit({ type: 'ChannelLeftBridge', bridge: this.bridgeJson(b), channel: this.channelJson(ch) });
  }

  // ---------------------------------------------------------------- transport

  private authorized(req: IncomingMessage, url: URL): boolean {
    const hdr = req.headers.authorization;
    let pair: string | undefined;
    if (hdr?.startsWith('Basic ')) pair = Buffer.from(hdr.slice(6), 'base64').toString('utf8');
    else if (url.searchParams.has('api_key')) pair = url.searchParams.get('api_key') ?? undefined;
    const ok = pair === `${this.username}:${this.password}`;
    if (!ok) this.counters.authFailures++;
    return ok;
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (url.pathname !== '/ari/events') return refuse(404, 'Not Found');
    if (!this.authorized(req, url)) return refuse(401, 'Unauthorized');
    if (this.rejectEvents) return refuse(503, 'Service Unavailable');
    const apps = (url.searchParams.get('app') ?? '').split(',');
    if (!apps.includes(this.app)) return refuse(400, 'Bad Request');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.counters.wsConnections++;
      this.clients.add(ws);
      ws.on('close', () => this.clients.delete(ws));
      ws.on('error', () => this.clients.delete(ws));
    });
  }

  private send(res: ServerResponse, method: string, path: string, status: number, body?: unknown): void {
    this.requests.push({ method, path, status });
    if (body === undefined || status === 204) {
      res.writeHead(status).end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }

  private error(res: ServerResponse, method: string, path: string, status: number, message: string): void {
    this.send(res, method, path, status, { message });
  }

  private doc(name: string): string | undefined {
    if (!/^[a-zA-Z]+\.json$/.test(name)) return undefined;
    if (!this.docs.has(name)) {
      try {
        this.docs.set(name, readFileSync(join(ARI_DOCS_DIR, name), 'utf8'));
      } catch {
        return undefined;
      }
    }
    // Asterisk writes basePath from the request's Host: point the client back at us.
    return this.docs.get(name)!.replace(/"basePath":\s*"[^"]*"/, `"basePath": "http://127.0.0.1:${this.port}/ari"`);
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        this.handle(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        this.error(res, req.method ?? 'GET', req.url ?? '', 500, `fake ARI error: ${(err as Error).message}`);
      }
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse, bodyText: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const full = url.pathname + url.search;
    if (!url.pathname.startsWith('/ari/')) return this.error(res, method, full, 404, 'Not found');
    if (!this.authorized(req, url)) {
      this.requests.push({ method, path: full, status: 401 });
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="Asterisk REST Interface"' });
      res.end(JSON.stringify({ error: 'Authentication required' }));
      return;
    }
    this.beforeRequest?.(method, full);
    const path = url.pathname.slice(4); // without /ari
    const q = url.searchParams;
    let body: Record<string, unknown> = {};
    if (bodyText.trim().startsWith('{')) {
      try {
        body = JSON.parse(bodyText) as Record<string, unknown>;
      } catch {
        return this.error(res, method, full, 400, 'Invalid JSON body');
      }
    }
    const rule = this.failRules.find((r) => r.method === method && r.path.test(full) && r.remaining > 0);
    if (rule) {
      rule.remaining--;
      return this.error(res, method, full, rule.status, rule.message);
    }
    const ok = (status: number, b?: unknown) => this.send(res, method, full, status, b);
    const err = (status: number, m: string) => this.error(res, method, full, status, m);

    if (method === 'GET' && path.startsWith('/api-docs/')) {
      const d = this.doc(path.slice('/api-docs/'.length));
      if (!d) return err(404, 'Not found');
      this.requests.push({ method, path: full, status: 200 });
      res.writeHead(200, { 'content-type': 'application/json' }).end(d);
      return;
    }
    if (method === 'GET' && path === '/asterisk/info') {
      return ok(200, {
        build: { os: 'Linux', kernel: '6.1.0', machine: 'x86_64', options: 'BUILD_NATIVE', date: '2026-01-01 00:00:00 UTC', user: 'root' },
        system: { version: this.version, entity_id: '02:fc:00:00:00:01' },
        config: { name: '', default_language: 'en', setid: { user: '', group: '' } },
        status: { startup_time: ts(), last_reload_time: ts() },
      });
    }
    if (method === 'GET' && path === '/channels') return ok(200, [...this.channels.values()].map((c) => this.channelJson(c)));
    if (method === 'GET' && path === '/bridges') return ok(200, [...this.bridges.values()].map((b) => this.bridgeJson(b)));
    if (method === 'POST' && path === '/channels/externalMedia') return this.externalMedia(q, ok, err);
    if (method === 'POST' && path === '/bridges') return this.createBridge(q.get('bridgeId') ?? undefined, q, ok, err);

    let m = /^\/channels\/([^/]+)(\/[a-zA-Z_]+)?$/.exec(path);
    if (m) {
      const ch = this.channels.get(decodeURIComponent(m[1]));
      const op = m[2] ?? '';
      if (!ch) return err(404, 'Channel not found');
      if (method === 'GET' && op === '') return ok(200, this.channelJson(ch));
      if (method === 'DELETE' && op === '') {
        const reason = q.get('reason_code') ? Number(q.get('reason_code')) : 16;
        this.hangup(ch.id, ch.name.startsWith('UnicastRTP/') ? 32 : reason, true);
        return ok(204);
      }
      if (method === 'GET' && op === '/variable') {
        const name = q.get('variable');
        if (!name) return err(400, 'Variable name is required');
        const v = this.readVar(ch, name);
        if (v === undefined) return err(404, 'Provided variable was not found');
        return ok(200, { value: v });
      }
      if (!ch.inStasis) return err(409, 'Channel not in Stasis application');
      if (method === 'POST' && op === '/answer') {
        if (ch.state !== 'Up') {
          ch.state = 'Up';
          this.emit({ type: 'ChannelStateChange', channel: this.channelJson(ch) });
        }
        return ok(204);
      }
      if (method === 'POST' && op === '/variable') {
        const name = q.get('variable') ?? (body.variable as string | undefined);
        if (!name) return err(400, 'Variable name is required');
        const value = q.get('value') ?? (body.value as string | undefined) ?? '';
        ch.vars.set(name, value);
        this.emit({ type: 'ChannelVarset', variable: name, value, channel: this.channelJson(ch) });
        return ok(204);
      }
      if (method === 'POST' && op === '/continue') {
        const target = {
          context: q.get('context') ?? undefined,
          extension: q.get('extension') ?? undefined,
          priority: q.get('priority') ? Number(q.get('priority')) : undefined,
        };
        ch.continuedTo = target;
        ok(204);
        this.leaveBridge(ch);
        ch.inStasis = false;
        this.emit({ type: 'StasisEnd', channel: this.channelJson(ch) });
        ch.dialplan = { ...ch.dialplan, context: target.context ?? ch.dialplan.context, exten: target.extension ?? ch.dialplan.exten, priority: target.priority ?? ch.dialplan.priority + 1, app_name: '', app_data: '' };
        return;
      }
      if (method === 'POST' && op === '/play') {
        const pid = q.get('playbackId') ?? `pb-${++this.seq}`;
        const media = q.get('media') ?? '';
        if (!media) return err(400, 'media parameter is required');
        const pb = { id: pid, media_uri: media, target_uri: `channel:${ch.id}`, language: 'en', state: 'queued' };
        ok(201, pb);
        this.emit({ type: 'PlaybackStarted', playback: { ...pb, state: 'playing' } });
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.emit({ type: 'PlaybackFinished', playback: { ...pb, state: 'done' } });
        }, this.playbackMs);
        this.timers.add(t);
        return;
      }
      return err(404, 'Resource not found');
    }
    m = /^\/bridges\/([^/]+)(\/[a-zA-Z_]+)?$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]);
      const op = m[2] ?? '';
      if (method === 'POST' && op === '') return this.createBridge(id, q, ok, err);
      const b = this.bridges.get(id);
      if (!b) return err(404, 'Bridge not found');
      if (method === 'GET' && op === '') return ok(200, this.bridgeJson(b));
      if (method === 'DELETE' && op === '') {
        for (const cid of [...b.channels]) {
          const c = this.channels.get(cid);
          if (c) this.leaveBridge(c);
        }
        this.bridges.delete(id);
        this.counters.bridgesDestroyed++;
        ok(204);
        this.emit({ type: 'BridgeDestroyed', bridge: this.bridgeJson(b) });
        return;
      }
      if (method === 'POST' && op === '/addChannel') {
        const cid = q.get('channel');
        if (!cid) return err(400, 'Channel parameter missing');
        const ch = this.channels.get(cid);
        if (!ch) return err(422, 'Channel not found');
        if (!ch.inStasis) return err(422, 'Channel not in Stasis application');
        if (ch.bridgeId && ch.bridgeId !== id) return err(409, 'Channel is already in a bridge');
        ch.bridgeId = id;
        if (!b.channels.includes(cid)) b.channels.push(cid);
        this.emit({ type: 'ChannelEnteredBridge', bridge: this.bridgeJson(b), channel: this.channelJson(ch) });
        const peer = b.channels.find((x) => x !== cid);
        if (peer) this.emit({ type: 'ChannelVarset', variable: 'BRIDGEPEER', value: this.channels.get(peer)?.name ?? '', channel: this.channelJson(ch) });
        return ok(204);
      }
      return err(404, 'Resource not found');
    }
    return err(404, 'Resource not found');
  }

  private readVar(ch: FakeChannel, name: string): string | undefined {
    if (name === 'CALLERID(name)') return ch.caller.name;
    if (name === 'CALLERID(num)') return ch.caller.number;
    if (name === 'CONNECTEDLINE(name)') return ch.connected.name;
    return ch.vars.get(name);
  }

  private createBridge(
    id: string | undefined,
    q: URLSearchParams,
    ok: (s: number, b?: unknown) => void,
    err: (s: number, m: string) => void,
  ): void {
    const type = q.get('type') ?? 'mixing';
    if (!type.split(',').includes('mixing')) return err(400, 'Invalid bridge type');
    const bid = id ?? `${Math.random().toString(16).slice(2, 10)}-33c6-4f70-b9f6-${(++this.seq).toString(16).padStart(12, '0')}`;
    if (this.bridges.has(bid)) return err(409, 'Bridge with this id already exists');
    const b: FakeBridge = { id: bid, name: q.get('name') ?? '', channels: [], creationtime: ts() };
    this.bridges.set(bid, b);
    this.counters.bridgesCreated++;
    ok(200, this.bridgeJson(b));
  }

  private externalMedia(q: URLSearchParams, ok: (s: number, b?: unknown) => void, err: (s: number, m: string) => void): void {
    const app = q.get('app');
    const host = q.get('external_host');
    const format = q.get('format');
    if (!app || !host || !format) return err(400, 'app, external_host and format are required');
    if (app !== this.app) return err(400, 'Invalid application provided');
    if ((q.get('encapsulation') ?? 'rtp') !== 'rtp' || (q.get('transport') ?? 'udp') !== 'udp') return err(400, 'Unsupported encapsulation/transport');
    if (!['ulaw', 'alaw', 'slin16'].includes(format)) return err(422, 'Unsupported format');
    const hm = /^([0-9.]+|\[[0-9a-f:]+\]):(\d{1,5})$/i.exec(host);
    if (!hm) return err(400, 'external_host must be host:port');
    const id = q.get('channelId') ?? `${Date.now() / 1000}.${++this.seq}`;
    if (this.channels.has(id)) return err(409, 'Channel with this id already exists');
    const rtp = new FakeUnicastRtp(hm[1].replace(/^\[|\]$/g, ''), Number(hm[2]), format === 'alaw' ? 8 : 0);
    const ch: FakeChannel = {
      id,
      name: `UnicastRTP/${host}-0x${(0x56319ac27430 + this.seq).toString(16)}`,
      state: 'Down',
      caller: { name: '', number: '' },
      connected: { name: '', number: '' },
      dialplan: { context: 'default', exten: 's', priority: 1, app_name: 'AppDial2', app_data: '(Outgoing Line)' },
      creationtime: ts(),
      vars: new Map(),
      inStasis: true,
      hungUp: false,
      rtp,
      external: { host: hm[1], port: Number(hm[2]), format },
    };
    this.channels.set(id, ch);
    this.counters.channelsCreated++;
    rtp.bind().then(
      (localPort) => {
        ch.vars.set('UNICASTRTP_LOCAL_ADDRESS', '127.0.0.1');
        ch.vars.set('UNICASTRTP_LOCAL_PORT', String(localPort));
        const response = {
          ...this.channelJson(ch),
          channelvars: { UNICASTRTP_LOCAL_PORT: String(localPort), UNICASTRTP_LOCAL_ADDRESS: '127.0.0.1' },
        };
        const events = () => {
          this.emit({ type: 'Dial', dialstatus: '', forward: '', dialstring: `${host}/c(${format})`, peer: this.channelJson(ch) });
          ch.state = 'Up';
          this.emit({ type: 'ChannelStateChange', channel: this.channelJson(ch) });
          this.emit({ type: 'Dial', dialstatus: 'ANSWER', forward: '', dialstring: `${host}/c(${format})`, peer: this.channelJson(ch) });
          ch.dialplan = { ...ch.dialplan, app_name: 'Stasis', app_data: this.app };
          this.emit({ type: 'ChannelVarset', variable: 'STASISSTATUS', value: '', channel: this.channelJson(ch) });
          this.emit({ type: 'StasisStart', args: [], channel: this.channelJson(ch) });
        };
        if (this.emStartBeforeResponse) {
          events();
          ok(200, { ...response, state: 'Down' });
        } else {
          ok(200, response);
          events();
        }
      },
      (e: Error) => err(500, `could not bind RTP: ${e.message}`),
    );
  }
}
