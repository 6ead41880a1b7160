/**
 * The WebSocket endpoint mod_audio_stream connects to: ws://<host>:<port>/<secret>/<uuid>.
 * The per-deployment secret in the path is compared in constant time before the upgrade; anything
 * else gets HTTP 401 (counted, logged without the path). Bound to loopback unless configured.
 * No permessage-deflate (the module does not offer it); maxPayload caps a frame.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import type pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { BridgeError } from '../../errors.ts';
import type { FreeswitchCounters } from './transport.ts';

export interface AudioStreamServerOptions {
  host: string;
  port: number;
  secret: string;
  maxFrameBytes: number;
  counters: FreeswitchCounters;
  log: pino.Logger;
  /** Accept a stream for this uuid? (a call we started a stream for) */
  expects: (uuid: string) => boolean;
  onStream: (uuid: string, ws: WebSocket) => void;
}

export class AudioStreamServer {
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly secret: Buffer;

  private constructor(private readonly opts: AudioStreamServerOptions) {
    this.secret = Buffer.from(opts.secret);
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: opts.maxFrameBytes });
    this.http = http.createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain' }).end('WebSocket only\n');
    });
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => socket.destroy());
  }

  static async listen(opts: AudioStreamServerOptions): Promise<AudioStreamServer> {
    const server = new AudioStreamServer(opts);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', (err) =>
        reject(new BridgeError('PBX_CONNECT', `cannot listen for mod_audio_stream on ${opts.host}:${opts.port}: ${err.message}`, { host: opts.host, port: opts.port }, { cause: err })),
      );
      server.http.listen(opts.port, opts.host, () => resolve());
    });
    return server;
  }

  get port(): number {
    const addr = this.http.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const parts = (req.url ?? '').split('?')[0]!.split('/');
    // ['', secret, uuid]
    const given = Buffer.from(parts[1] ?? '');
    const ok = parts.length === 3 && given.length === this.secret.length && timingSafeEqual(given, this.secret);
    if (!ok) {
      this.opts.counters.wsUnauthorized++;
      this.opts.log.warn({ remote: req.socket.remoteAddress }, 'mod_audio_stream connection refused: missing or wrong secret');
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const uuid = decodeURIComponent(parts[2]!);
    if (!this.opts.expects(uuid)) {
      this.opts.counters.wsUnknownCall++;
      this.opts.log.warn({ uuid }, 'mod_audio_stream connection for a call we did not start');
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.opts.onStream(uuid, ws));
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
