/**
 * A local server speaking Deepgram's live streaming protocol (https://developers.deepgram.com/reference/speech-to-text/listen-streaming):
 * - WebSocket upgrade on /v1/listen with the real query parameters (model, language, encoding,
 *   sample_rate, channels, interim_results, endpointing, utterance_end_ms, vad_events, keywords/keyterm)
 *   and `Authorization: Token <key>`; a bad key is refused at the handshake with HTTP 401 and
 *   {"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.","request_id":...}.
 * - Binary frames = audio; text frames = {"type":"KeepAlive"|"Finalize"|"CloseStream"}.
 * - Replies: SpeechStarted {type,channel:[0],timestamp}, Results {type,channel_index,duration,start,
 *   is_final,speech_final,from_finalize,channel:{alternatives:[{transcript,confidence,words}]},metadata},
 *   UtteranceEnd {type,channel:[0,1],last_word_end}, and Metadata before a normal 1000 close after CloseStream.
 * - Errors close with 1008 (DATA-0000, undecodable audio) or 1011 (NET-0000/NET-0001).
 * Recognition is scripted: after `speechAfterMs` of audio the next scripted utterance "starts"; it
 * becomes final after a Finalize message (or `autoEndpointMs` more audio), `finalDelayMs` later.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export type DeepgramFault =
  | { readonly kind: 'handshake'; readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  | { readonly kind: 'disconnect-after-speech' }
  | { readonly kind: 'stall' }
  | { readonly kind: 'malformed-after-speech' }
  | { readonly kind: 'close-1011-after-speech' };

export interface DeepgramServerOptions {
  readonly apiKey?: string;
  readonly utterances?: readonly string[];
  readonly speechAfterMs?: number;
  readonly autoEndpointMs?: number;
  readonly finalDelayMs?: number;
}

export interface DeepgramConn {
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  audioBytes: number;
  firstAudio: Buffer | null;
  readonly control: string[];
  closed: boolean;
  closeCode?: number;
}

export class DeepgramTestServer {
  readonly connections: DeepgramConn[] = [];
  /** Faults for the next connections, in order (one per connection). */
  readonly faults: (DeepgramFault | null)[] = [];
  private http: Server;
  private wss = new WebSocketServer({ noServer: true });
  private readonly opts: DeepgramServerOptions;
  private readonly sockets = new Set<WebSocket>();

  constructor(opts: DeepgramServerOptions = {}) {
    this.opts = opts;
    this.http = createServer((_req, res) => {
      res.writeHead(404).end();
    });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const reject = (status: number, body: string, headers: Record<string, string> = {}): void => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 429 ? 'Too Many Requests' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`);
    };
    if (url.pathname !== '/v1/listen') return reject(404, '{"err_code":"NOT_FOUND"}');
    if (this.opts.apiKey !== undefined && req.headers.authorization !== `Token ${this.opts.apiKey}`) {
      return reject(401, JSON.stringify({ err_code: 'INVALID_AUTH', err_msg: 'Invalid credentials.', request_id: rid() }));
    }
    const fault = this.faults.shift() ?? null;
    if (fault?.kind === 'handshake') {
      return reject(fault.status, fault.body ?? JSON.stringify({ err_code: 'TOO_MANY_REQUESTS', err_msg: 'Too many requests. Please try again later', request_id: rid() }), fault.headers);
    }
    if (!url.searchParams.get('model') || !url.searchParams.get('encoding')) {
      return reject(400, JSON.stringify({ err_code: 'Bad Request', err_msg: 'missing model or encoding', request_id: rid() }));
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.session(ws, url.searchParams, req.headers, fault));
  }

  private session(ws: WebSocket, query: URLSearchParams, headers: IncomingMessage['headers'], fault: DeepgramFault | null): void {
    this.sockets.add(ws);
    const conn: DeepgramConn = { query, headers, audioBytes: 0, firstAudio: null, control: [], closed: false };
    this.connections.push(conn);
    const bytesPerMs = query.get('encoding') === 'linear16' ? 16 : 8;
    const utterances = [...(this.opts.utterances ?? ['yes i am interested'])];
    const speechAfter = (this.opts.speechAfterMs ?? 200) * bytesPerMs;
    const autoEnd = (this.opts.autoEndpointMs ?? 60_000) * bytesPerMs;
    let segmentStart = 0;
    let speaking = false;
    let current = '';
    let audioSec = 0;
    const request_id = rid();
    const send = (o: unknown): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(o));
    };
    const results = (transcript: string, isFinal: boolean, speechFinal: boolean, fromFinalize: boolean): void =>
      send({
        type: 'Results',
        channel_index: [0, 1],
        duration: 1.0,
        start: audioSec,
        is_final: isFinal,
        speech_final: speechFinal,
        from_finalize: fromFinalize,
        channel: { alternatives: [{ transcript, confidence: transcript ? 0.97 : 0, words: transcript.split(' ').filter(Boolean).map((w, i) => ({ word: w, start: i * 0.3, end: i * 0.3 + 0.25, confidence: 0.97, punctuated_word: w })) }] },
        metadata: { request_id, model_info: { name: query.get('model'), version: '2024-01-01', arch: 'nova-2' }, model_uuid: 'c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c' },
      });
    const finish = (fromFinalize: boolean): void => {
      if (!speaking) {
        if (fromFinalize) results('', true, false, true);
        return;
      }
      speaking = false;
      const text = current;
      setTimeout(() => {
        results(text, true, true, fromFinalize);
        send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: audioSec });
      }, this.opts.finalDelayMs ?? 0);
    };
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const buf = data as Buffer;
        conn.audioBytes += buf.length;
        audioSec = conn.audioBytes / bytesPerMs / 1000;
        if (!conn.firstAudio) conn.firstAudio = Buffer.from(buf);
        if (fault?.kind === 'stall') return;
        if (!speaking && conn.audioBytes - segmentStart >= speechAfter && utterances.length > 0) {
          speaking = true;
          segmentStart = conn.audioBytes;
          current = utterances.shift() as string;
          send({ type: 'SpeechStarted', channel: [0], timestamp: audioSec });
          if (fault?.kind === 'disconnect-after-speech') return void ws.terminate();
          if (fault?.kind === 'malformed-after-speech') return void ws.send('{"type":"Results","channel":');
          if (fault?.kind === 'close-1011-after-speech') return void ws.close(1011, 'NET-0000');
          results(current.split(' ')[0], false, false, false);
        } else if (speaking && conn.audioBytes - segmentStart >= autoEnd) {
          segmentStart = conn.audioBytes;
          finish(false);
        }
        return;
      }
      const text = (data as Buffer).toString('utf8');
      conn.control.push(text);
      let msg: { type?: string };
      try {
        msg = JSON.parse(text);
      } catch {
        return void ws.close(1008, 'DATA-0000');
      }
      if (fault?.kind === 'stall') return;
      if (msg.type === 'Finalize') {
        segmentStart = conn.audioBytes;
        finish(true);
      } else if (msg.type === 'CloseStream') {
        send({ type: 'Metadata', transaction_key: 'deprecated', request_id, sha256: '0'.repeat(64), created: new Date().toISOString(), duration: audioSec, channels: 1, models: ['c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c'], model_info: {} });
        ws.close(1000);
      }
    });
    ws.on('close', (code) => {
      conn.closed = true;
      conn.closeCode = code;
      this.sockets.delete(ws);
    });
  }
}

function rid(): string {
  return `${Math.random().toString(16).slice(2, 10)}-0000-4000-8000-${Math.random().toString(16).slice(2, 14)}`;
}
