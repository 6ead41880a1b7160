/**
 * A fake FreeSWITCH 1.10 for tests, speaking the wire as the captured session
 * (../shared/fixtures/freeswitch1.10-esl-audio-stream-call.json) and the public source show:
 *  - mod_event_socket: auth/request; command/reply `+OK accepted` / `-ERR invalid` then a
 *    disconnect-notice; `event json ...` (tokens after CUSTOM are subclasses); api/response with
 *    Content-Length; text/event-json events (Content-Length first); `-ERR command not found`;
 *    `-ERR No such channel!`; sendmsg `+OK` / `-ERR invalid session id [uuid]`.
 *  - mod_audio_stream (community): `start` answers `+OK Success` then a WebSocket client connects,
 *    sends the metadata text frame, then 320-byte LE L16 frames per media tick; `streamAudio` replies
 *    become files + `mod_audio_stream::play`; nothing plays until uuid_broadcast (PLAYBACK_START/STOP);
 *    uuid_break all stops and drops the queue; Close 1000 on hang-up; server closing first ->
 *    `::disconnect` and the stream stays attached (start answers -ERR until stop).
 *  - unicast (switch_ivr.c): bind local-ip:local-port, send each read frame (L16 or native codec,
 *    CNG = 0xFF bytes) to remote; write every datagram received into the channel.
 * Media time is driven by mediaTick() (tests) or startRealtime() (latency runs).
 */
import dgram from 'node:dgram';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { FRAME_SAMPLES, type Pcm } from '../../src/media/audio-frame.ts';
import { ulawDecode, ulawEncode } from '../../src/media/g711.ts';

export interface FakeCallOptions {
  uuid?: string;
  vars?: Record<string, string>;
  callerNumber?: string;
  /** Channel codec: L16 like the fixture's loopback, or PCMU like a SIP call. */
  codec?: 'L16' | 'PCMU';
  rate?: 8000 | 16000;
  /** Our dialplan marks + parks; false = a channel that is not for the AI. */
  marked?: boolean;
}

interface Conn {
  socket: net.Socket;
  authed: boolean;
  events: Set<string>;
  subclasses: Set<string>;
  all: boolean;
  buf: string;
}

let seq = 1000;

export class FakeChannel {
  readonly uuid: string;
  up = true;
  hangupCause: string | null = null;
  readonly vars: Record<string, string>;
  transferredTo: string | null = null;
  /** What the caller hears, one entry per media tick while something plays (frames of 160 samples). */
  readonly heard: { atMs: number; frame: Int16Array; source: 'file' | 'unicast' }[] = [];
  /** Queue of caller audio to send (one frame per media tick); silence when empty. */
  private callerAudio: Pcm[] = [];
  // mod_audio_stream
  stream: { state: 'connecting' | 'open' | 'detached-attached' | 'closed'; ws: WebSocket | null; rate: number; files: string[]; n: number } | null = null;
  wsCloseCodes: number[] = [];
  // playback
  private broadcastQueue: string[] = [];
  private playing: { file: string; samples: Int16Array; pos: number } | null = null;
  // unicast
  unicast: { socket: dgram.Socket; remoteIp: string; remotePort: number; native: boolean; inbox: Int16Array[] } | null = null;
  firstWriteAt: number | null = null;

  constructor(
    readonly fs: FakeFreeswitch,
    readonly opts: FakeCallOptions,
  ) {
    this.uuid = opts.uuid ?? randomUUID();
    this.vars = { ...(opts.marked === false ? {} : { ai_bridge: 'true' }), ...(opts.vars ?? {}) };
  }

  get codec(): 'L16' | 'PCMU' {
    return this.opts.codec ?? 'L16';
  }
  get rate(): number {
    return this.opts.rate ?? 8000;
  }

  /** Queue what the caller says (sent at one frame per media tick). */
  say(frames: Pcm[]): void {
    this.callerAudio.push(...frames);
  }

  dtmf(digit: string): void {
    this.fs.emitEvent(this, 'DTMF', { 'DTMF-Digit': digit, 'DTMF-Duration': '2000', 'DTMF-Source': 'RTP' });
  }

  /** The caller hangs up. */
  hangup(cause = 'NORMAL_CLEARING'): void {
    if (!this.up) return;
    this.up = false;
    this.hangupCause = cause;
    this.stopPlayback('break');
    this.closeStream(1000);
    this.unicast?.socket.close();
    this.unicast = null;
    this.fs.emitEvent(this, 'CHANNEL_HANGUP', { 'Hangup-Cause': cause, 'Answer-State': 'hangup' });
    this.fs.emitEvent(this, 'CHANNEL_HANGUP_COMPLETE', { 'Hangup-Cause': cause, 'Answer-State': 'hangup' });
  }

  /** FreeSWITCH stops the stream itself: Close 1000, files deleted, no disconnect event. */
  closeStream(code: number): void {
    const s = this.stream;
    if (!s) return;
    this.stream = null;
    if (s.ws && s.ws.readyState === WebSocket.OPEN) {
      s.ws.close(code, 'Normal closure');
    } else if (s.ws && s.ws.readyState === WebSocket.CONNECTING) {
      s.ws.terminate();
    }
    for (const f of s.files) {
      try {
        unlinkSync(f);
      } catch {
        /* already gone */
      }
    }
  }

  /** One 20 ms media period: send caller audio, play one frame of the current file. */
  mediaTick(nowMs: number): void {
    if (!this.up) return;
    const frame = this.callerAudio.shift() ?? null;
    const s = this.stream;
    if (s && s.state === 'open' && s.ws) {
      const pcm = frame ?? new Int16Array(FRAME_SAMPLES);
      const samples = s.rate === 16000 ? upsample(pcm) : pcm;
      s.ws.send(le(samples), { binary: true });
    }
    const u = this.unicast;
    if (u && !this.transferredTo) {
      let out: Buffer;
      if (!frame) {
        // switch_ivr_park: CNG frames are bpf bytes of 0xFF (bpf = decoded bytes per packet)
        out = Buffer.alloc((this.rate / 8000) * 320, 0xff);
      } else if (u.native && this.codec === 'PCMU') {
        out = Buffer.from(ulawEncode(frame));
      } else {
        out = le(this.rate === 16000 ? upsample(frame) : frame);
      }
      u.socket.send(out, u.remotePort, u.remoteIp);
      const written = u.inbox.shift();
      if (written) this.heard.push({ atMs: nowMs, frame: written, source: 'unicast' });
    }
    const p = this.playing;
    if (p) {
      const chunk = p.samples.subarray(p.pos, p.pos + FRAME_SAMPLES);
      p.pos += FRAME_SAMPLES;
      if (chunk.length > 0) this.heard.push({ atMs: nowMs, frame: Int16Array.from(chunk), source: 'file' });
      if (p.pos >= p.samples.length) this.stopPlayback('done');
    }
    if (!this.playing && this.broadcastQueue.length > 0) this.startNext();
  }

  broadcast(file: string): void {
    this.broadcastQueue.push(file);
    if (!this.playing) this.startNext();
  }

  private startNext(): void {
    const file = this.broadcastQueue.shift();
    if (!file) return;
    let samples: Int16Array;
    try {
      const bytes = readFileSync(file);
      samples = new Int16Array(bytes.length >> 1);
      for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2);
    } catch {
      this.fs.emitEvent(this, 'PLAYBACK_STOP', { 'Playback-File-Path': file, 'Playback-Status': 'error' });
      return;
    }
    this.playing = { file, samples, pos: 0 };
    this.fs.emitEvent(this, 'PLAYBACK_START', { 'Playback-File-Path': file, variable_current_application: 'playback' });
  }

  stopPlayback(status: 'done' | 'break'): void {
    const p = this.playing;
    this.playing = null;
    if (status === 'break') this.broadcastQueue = [];
    if (p) this.fs.emitEvent(this, 'PLAYBACK_STOP', { 'Playback-File-Path': p.file, 'Playback-Status': status });
  }

  get queuedFiles(): number {
    return this.broadcastQueue.length + (this.playing ? 1 : 0);
  }
}

export class FakeFreeswitch {
  readonly password: string;
  private server: net.Server;
  private conns = new Set<Conn>();
  readonly channels = new Map<string, FakeChannel>();
  /** Every command received (first line; passwords masked), for assertions. */
  readonly commands: string[] = [];
  readonly tmp = mkdtempSync(path.join(tmpdir(), 'fake-fs-'));
  readonly core = randomUUID();
  private realtime: NodeJS.Timeout | null = null;
  private mediaMs = 0;
  /** Latency probes: when each streamAudio text arrived. */
  readonly streamAudioAt: number[] = [];

  private constructor(password: string) {
    this.password = password;
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  static async start(password = 'S3cret-Esl-Pass'): Promise<FakeFreeswitch> {
    const fs = new FakeFreeswitch(password);
    await new Promise<void>((resolve) => fs.server.listen(0, '127.0.0.1', () => resolve()));
    return fs;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Destroy every ESL connection (FreeSWITCH restart / network drop). */
  dropConnections(): void {
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
  }

  /** A call arrives at our dialplan extension: set ai_bridge, answer, park. */
  placeCall(opts: FakeCallOptions = {}): FakeChannel {
    const ch = new FakeChannel(this, opts);
    this.channels.set(ch.uuid, ch);
    this.emitEvent(ch, 'CHANNEL_ANSWER', { 'Answer-State': 'answered', variable_current_application: 'answer' });
    this.emitEvent(ch, 'CHANNEL_PARK', { 'Answer-State': 'answered', variable_current_application: 'park' });
    return ch;
  }

  mediaTick(): void {
    this.mediaMs += 20;
    for (const ch of this.channels.values()) ch.mediaTick(this.mediaMs);
  }

  /** Real-time media clock (setInterval is FreeSWITCH's own 20 ms timer here, not ours). */
  startRealtime(): void {
    this.realtime = setInterval(() => {
      const now = performance.now();
      for (const ch of this.channels.values()) ch.mediaTick(now);
    }, 20);
  }

  async close(): Promise<void> {
    if (this.realtime) clearInterval(this.realtime);
    for (const ch of this.channels.values()) {
      ch.closeStream(1000);
      ch.unicast?.socket.close();
      ch.unicast = null;
    }
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.tmp, { recursive: true, force: true });
  }

  // ---- ESL wire ----

  private onConnection(socket: net.Socket): void {
    const c: Conn = { socket, authed: false, events: new Set(), subclasses: new Set(), all: false, buf: '' };
    this.conns.add(c);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      c.buf += d;
      for (;;) {
        const end = c.buf.indexOf('\n\n');
        if (end < 0) break;
        const block = c.buf.slice(0, end);
        c.buf = c.buf.slice(end + 2);
        this.onCommand(c, block);
      }
    });
    socket.on('close', () => this.conns.delete(c));
    socket.on('error', () => this.conns.delete(c));
    socket.write('Content-Type: auth/request\n\n');
  }

  private reply(c: Conn, text: string, extra = ''): void {
    if (!c.socket.destroyed) c.socket.write(`Content-Type: command/reply\nReply-Text: ${text}\n${extra}\n`);
  }

  private apiResponse(c: Conn, body: string): void {
    if (!c.socket.destroyed) c.socket.write(`Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
  }

  private onCommand(c: Conn, block: string): void {
    const [line = '', ...headerLines] = block.split('\n');
    this.commands.push(line.startsWith('auth ') ? 'auth <password>' : line);
    if (line.startsWith('auth ')) {
      if (c.authed) return this.reply(c, '-ERR command not found');
      if (line.slice(5) === this.password) {
        c.authed = true;
        return this.reply(c, '+OK accepted');
      }
      this.reply(c, '-ERR invalid');
      const body = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';
      c.socket.end(`Content-Type: text/disconnect-notice\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`);
      return;
    }
    if (!c.authed) return this.reply(c, '-ERR command not found');
    if (line.startsWith('event ')) {
      const [, format = 'plain', ...names] = line.split(' ');
      let custom = false;
      for (const n of names) {
        if (custom) c.subclasses.add(n);
        else if (n === 'CUSTOM') {
          custom = true;
          c.events.add('CUSTOM');
        }
        else if (n === 'ALL' || n === 'all') c.all = true;
        else c.events.add(n);
      }
      return this.reply(c, `+OK event listener enabled ${format}`);
    }
    if (line.startsWith('api ')) {
      const rest = line.slice(4);
      const sp = rest.indexOf(' ');
      const cmd = sp < 0 ? rest : rest.slice(0, sp);
      const args = sp < 0 ? '' : rest.slice(sp + 1);
      return this.apiResponse(c, this.runApi(cmd, args));
    }
    if (line.startsWith('sendmsg')) {
      const uuid = line.slice(8).trim();
      const headers: Record<string, string> = {};
      for (const h of headerLines) {
        const i = h.indexOf(': ');
        if (i > 0) headers[h.slice(0, i).toLowerCase()] = h.slice(i + 2);
      }
      const ch = this.channels.get(uuid);
      if (!ch || !ch.up) return this.reply(c, `-ERR invalid session id [${uuid}]`);
      this.reply(c, '+OK');
      if (headers['call-command'] === 'unicast') this.activateUnicast(ch, headers);
      return;
    }
    if (line === 'exit') {
      this.reply(c, '+OK bye');
      c.socket.end();
      return;
    }
    this.reply(c, '-ERR command not found');
  }

  /** Called with each api command before FreeSWITCH acts on it (a test changes the world at that instant). */
  beforeApi: ((cmd: string, args: string) => void) | null = null;

  private runApi(cmd: string, args: string): string {
    this.beforeApi?.(cmd, args);
    const argv = args.split(' ');
    const uuid = argv[0] ?? '';
    const ch = this.channels.get(uuid);
    const live = ch && ch.up ? ch : undefined;
    switch (cmd) {
      case 'uuid_exists':
        return live ? 'true' : 'false';
      case 'uuid_kill':
        if (!live) return '-ERR No such channel!\n';
        live.hangup(argv[1] ?? 'NORMAL_CLEARING');
        return '+OK\n';
      case 'uuid_setvar':
        if (!live) return '-ERR No such channel!\n';
        live.vars[argv[1] ?? ''] = argv.slice(2).join(' ');
        return '+OK\n';
      case 'uuid_transfer':
        if (!live) return '-ERR No such channel!\n';
        live.transferredTo = argv.slice(1).join(' ');
        live.stopPlayback('break');
        return '+OK\n';
      case 'uuid_broadcast':
        if (!live) return '-ERR No such channel!\n';
        live.broadcast(argv[1] ?? '');
        return '+OK Message sent\n';
      case 'uuid_break':
        if (!live) return '-ERR No such channel!\n';
        live.stopPlayback('break');
        return '+OK\n';
      case 'uuid_audio_stream':
        return this.audioStream(live, argv);
      default:
        return `-ERR ${cmd} Command not found!\n`;
    }
  }

  private audioStream(ch: FakeChannel | undefined, argv: string[]): string {
    if (!ch) return '-ERR Operation Failed\n';
    const action = argv[1];
    if (action === 'stop') {
      if (!ch.stream) return '-ERR Operation Failed\n';
      ch.closeStream(1000);
      return '+OK Success\n';
    }
    if (action !== 'start' || argv.length < 5) return '-ERR Operation Failed\n';
    if (ch.stream) return '-ERR Operation Failed\n'; // still attached (e.g. after the server closed first)
    const url = argv[2]!;
    const rate = argv[4] === '16k' ? 16000 : 8000;
    const metadata = argv.slice(5).join(' ');
    const stream: NonNullable<FakeChannel['stream']> = { state: 'connecting', ws: null, rate, files: [], n: 0 };
    ch.stream = stream;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    stream.ws = ws;
    ws.on('open', () => {
      if (ch.stream !== stream) return ws.close(1000);
      stream.state = 'open';
      if (metadata) ws.send(metadata);
      this.emitCustom(ch, 'mod_audio_stream::connect', '{"status":"connected"}');
    });
    ws.on('unexpected-response', (_req, res) => {
      if (ch.stream === stream) ch.stream = null; // connect failed: start works again
      this.emitCustom(ch, 'mod_audio_stream::error', JSON.stringify({ code: 6, error: `HTTP ${res.statusCode}` }));
      ws.terminate();
    });
    ws.on('error', () => {
      if (ch.stream === stream && stream.state === 'connecting') {
        ch.stream = null;
        this.emitCustom(ch, 'mod_audio_stream::error', JSON.stringify({ code: 6, error: 'connection refused' }));
      }
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return; // binary from the server is ignored
      const text = data.toString();
      this.streamAudioAt.push(performance.now());
      let msg: { type?: string; data?: { audioDataType?: string; sampleRate?: number; audioData?: string } };
      try {
        msg = JSON.parse(text);
      } catch {
        return this.emitCustom(ch, 'mod_audio_stream::json', text);
      }
      const d = msg.data;
      const okRate = [8000, 16000, 24000, 32000, 48000, 64000].includes(d?.sampleRate ?? 0);
      if (msg.type !== 'streamAudio' || !d || d.audioDataType !== 'raw' || !okRate || typeof d.audioData !== 'string') {
        return this.emitCustom(ch, 'mod_audio_stream::json', text);
      }
      const file = path.join(this.tmp, `${ch.uuid}_${stream.n++}.tmp.r8`);
      writeFileSync(file, Buffer.from(d.audioData, 'base64'));
      stream.files.push(file);
      this.emitCustom(ch, 'mod_audio_stream::play', JSON.stringify({ audioDataType: 'raw', sampleRate: d.sampleRate, file }));
    });
    ws.on('close', (code, reason) => {
      ch.wsCloseCodes.push(code);
      if (ch.stream === stream && stream.state === 'open') {
        // the server closed first: event, and the media bug stays attached
        stream.state = 'detached-attached';
        stream.ws = null;
        this.emitCustom(ch, 'mod_audio_stream::disconnect', JSON.stringify({ code, reason: reason.toString() }));
      }
    });
    return '+OK Success\n';
  }

  private activateUnicast(ch: FakeChannel, h: Record<string, string>): void {
    const socket = dgram.createSocket('udp4');
    const native = (h.flags ?? '').includes('native');
    const u = { socket, remoteIp: h['remote-ip'] ?? '127.0.0.1', remotePort: Number(h['remote-port'] ?? 8026), native, inbox: [] as Int16Array[] };
    socket.on('error', () => undefined); // FreeSWITCH logs "Failure creating unicast connection" and carries on
    socket.on('message', (msg) => {
      if (!ch.up || ch.transferredTo) return;
      if (ch.firstWriteAt === null) ch.firstWriteAt = performance.now();
      // written into the channel at once: audible with the next outgoing packet
      let pcm: Int16Array;
      if (native && ch.codec === 'PCMU') pcm = ulawDecode(msg);
      else {
        pcm = new Int16Array(msg.length >> 1);
        for (let i = 0; i < pcm.length; i++) pcm[i] = msg.readInt16LE(i * 2);
        if (ch.rate === 16000) pcm = pcm.filter((_, i) => i % 2 === 0);
      }
      u.inbox.push(pcm);
    });
    socket.bind(Number(h['local-port'] ?? 8025), h['local-ip'] ?? '127.0.0.1', () => {
      if (ch.up) ch.unicast = u;
      else socket.close();
    });
  }

  // ---- events ----

  emitEvent(ch: FakeChannel, name: string, extra: Record<string, string>): void {
    this.send(name, undefined, this.eventJson(ch, name, extra));
  }

  private emitCustom(ch: FakeChannel, subclass: string, body: string): void {
    const json = { 'Event-Subclass': subclass, ...this.eventJson(ch, 'CUSTOM', {}), 'Content-Length': String(Buffer.byteLength(body)), _body: body };
    this.send('CUSTOM', subclass, json);
  }

  private eventJson(ch: FakeChannel, name: string, extra: Record<string, string>): Record<string, string> {
    const codec = ch.codec;
    const vars: Record<string, string> = {};
    for (const [k, v] of Object.entries(ch.vars)) vars[`variable_${k}`] = v;
    return {
      'Event-Name': name,
      'Core-UUID': this.core,
      'FreeSWITCH-Hostname': 'fake',
      'Event-Sequence': String(seq++),
      'Channel-State': 'CS_EXECUTE',
      'Channel-Name': `sofia/internal/${ch.opts.callerNumber ?? '15551230000'}@127.0.0.1`,
      'Unique-ID': ch.uuid,
      'Call-Direction': 'inbound',
      'Answer-State': 'answered',
      'Channel-Read-Codec-Name': codec,
      'Channel-Read-Codec-Rate': String(ch.rate),
      'Channel-Write-Codec-Name': codec,
      'Channel-Write-Codec-Rate': String(ch.rate),
      'Caller-Caller-ID-Number': ch.opts.callerNumber ?? '15551230000',
      'Caller-Caller-ID-Name': 'Test Caller',
      'Caller-Destination-Number': 'ai',
      'Caller-Context': 'default',
      'Caller-Unique-ID': ch.uuid,
      variable_uuid: ch.uuid,
      ...vars,
      ...extra,
    };
  }

  private send(name: string, subclass: string | undefined, json: Record<string, string>): void {
    const body = JSON.stringify(json);
    const frame = `Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-json\n\n${body}`;
    for (const c of this.conns) {
      if (!c.authed) continue;
      // mod_event_socket: a CUSTOM event goes only to listeners subscribed to its subclass
      const wanted = c.all || (subclass ? c.events.has('CUSTOM') && c.subclasses.has(subclass) : c.events.has(name));
      if (wanted && !c.socket.destroyed) c.socket.write(frame);
    }
  }
}

function le(samples: Int16Array): Buffer {
  const b = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i]!, i * 2);
  return b;
}

function upsample(pcm: Int16Array): Int16Array {
  const out = new Int16Array(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) {
    out[2 * i] = pcm[i]!;
    out[2 * i + 1] = pcm[i]!;
  }
  return out;
}
