/**
 * Shared plumbing for the WebSocket vendor test servers: an HTTP server that answers upgrades
 * (or refuses them with a real HTTP status + JSON body, as vendors do for bad keys and rate limits)
 * and tracks every socket so tests can assert that none leaked.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ulawEncode } from '../../../src/media/g711.ts';

export abstract class WsTestServer {
  private http: Server;
  private wss = new WebSocketServer({ noServer: true });
  protected readonly sockets = new Set<WebSocket>();
  /** Every socket ever accepted, with whether it is closed now. */
  readonly accepted: { closed: boolean; url: string; headers: IncomingMessage['headers'] }[] = [];

  constructor() {
    this.http = createServer((_req, res) => res.writeHead(404).end());
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const refusal = this.checkUpgrade(req);
      if (refusal) {
        const body = refusal.body;
        const extra = Object.entries(refusal.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.end(`HTTP/1.1 ${refusal.status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const rec = { closed: false, url: req.url ?? '', headers: req.headers };
        this.accepted.push(rec);
        this.sockets.add(ws);
        ws.on('close', () => {
          rec.closed = true;
          this.sockets.delete(ws);
        });
        this.onSocket(ws, req);
      });
    });
  }

  protected abstract checkUpgrade(req: IncomingMessage): { status: number; body: string; headers?: Record<string, string> } | null;
  protected abstract onSocket(ws: WebSocket, req: IncomingMessage): void;

  get openSockets(): number {
    return this.sockets.size;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

/** µ-law bytes of a tone, `ms` long at 8 kHz: what a vendor asked for ulaw_8000 sends. */
export function ulawTone(ms: number, hz = 300): Uint8Array {
  const n = Math.round(ms * 8);
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) pcm[i] = Math.round(6000 * Math.sin((2 * Math.PI * hz * i) / 8000));
  return ulawEncode(pcm);
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
