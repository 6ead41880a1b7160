/**
 * A local server speaking Cartesia's TTS WebSocket (https://docs.cartesia.ai/api-reference/tts/websocket):
 * /tts/websocket?cartesia_version=YYYY-MM-DD, key in X-API-Key (or api_key query). Generation requests
 * {model_id, transcript, voice:{mode:"id",id}, language, context_id, output_format:{container:"raw",
 * encoding, sample_rate}, continue}; cancel {context_id, cancel:true}. Replies per context:
 * {"type":"chunk","data":b64,"done":false,"status_code":206,"step_time":..,"context_id"},
 * {"type":"done","done":true,"status_code":206,"context_id"}, or
 * {"type":"error","error":"..","status_code":4xx,"done":true,"context_id"}.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { sleep, ulawTone, WsTestServer } from './ws-base.ts';

export type CartesiaFault =
  | { readonly kind: 'handshake'; readonly status: number; readonly headers?: Record<string, string> }
  | { readonly kind: 'disconnect-after-first-chunk' }
  | { readonly kind: 'stall' }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'context-error'; readonly status: number; readonly error: string };

export class CartesiaTestServer extends WsTestServer {
  /** Faults for the next generations (one per context). */
  readonly faults: (CartesiaFault | null)[] = [];
  readonly handshakeFaults: CartesiaFault[] = [];
  readonly requests: Record<string, unknown>[] = [];
  readonly cancelled: string[] = [];
  /** Chunks sent per context id. */
  readonly chunksSent = new Map<string, number>();

  constructor(private readonly opts: { apiKey?: string; firstAudioDelayMs?: number; chunks?: number } = {}) {
    super();
  }

  protected checkUpgrade(req: IncomingMessage) {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/tts/websocket') return { status: 404, body: '{"error":"not found"}' };
    const hs = this.handshakeFaults.shift();
    if (hs?.kind === 'handshake') return { status: hs.status, body: '{"error":"rate limited"}', headers: hs.headers };
    if (!url.searchParams.get('cartesia_version')) return { status: 400, body: '{"error":"cartesia_version is required"}' };
    const key = req.headers['x-api-key'] ?? url.searchParams.get('api_key');
    if (this.opts.apiKey !== undefined && key !== this.opts.apiKey) return { status: 401, body: '{"error":"Invalid API key"}' };
    return null;
  }

  protected onSocket(ws: WebSocket): void {
    const cancelled = new Set<string>();
    ws.on('message', (data) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return ws.send(JSON.stringify({ type: 'error', error: 'invalid JSON', status_code: 400, done: true }));
      }
      const ctx = String(msg.context_id ?? '');
      if (msg.cancel === true) {
        cancelled.add(ctx);
        this.cancelled.push(ctx);
        return;
      }
      this.requests.push(msg);
      const fmt = msg.output_format as { container?: string; encoding?: string; sample_rate?: number } | undefined;
      if (!ctx || typeof msg.transcript !== 'string' || !msg.model_id || !(msg.voice as { id?: string } | undefined)?.id || fmt?.container !== 'raw' || fmt.encoding !== 'pcm_mulaw' || fmt.sample_rate !== 8000) {
        return ws.send(JSON.stringify({ type: 'error', error: 'invalid request', status_code: 400, done: true, context_id: ctx }));
      }
      void this.generate(ws, ctx, msg.transcript, cancelled, this.faults.shift() ?? null);
    });
  }

  private async generate(ws: WebSocket, ctx: string, transcript: string, cancelled: Set<string>, fault: CartesiaFault | null): Promise<void> {
    await sleep(this.opts.firstAudioDelayMs ?? 0);
    if (fault?.kind === 'stall') return;
    if (fault?.kind === 'malformed') return void ws.send('chunk:not-json');
    if (fault?.kind === 'context-error') return void ws.send(JSON.stringify({ type: 'error', error: fault.error, status_code: fault.status, done: true, context_id: ctx }));
    const n = this.opts.chunks ?? 4;
    const audio = ulawTone(Math.min(2000, Math.max(80, transcript.length * 10)));
    const step = Math.ceil(audio.length / n);
    for (let i = 0; i < n; i++) {
      if (ws.readyState !== ws.OPEN || cancelled.has(ctx)) return;
      const part = audio.subarray(i * step, Math.min(audio.length, (i + 1) * step));
      ws.send(JSON.stringify({ type: 'chunk', data: Buffer.from(part).toString('base64'), done: false, status_code: 206, step_time: 12.5, context_id: ctx }));
      this.chunksSent.set(ctx, (this.chunksSent.get(ctx) ?? 0) + 1);
      if (i === 0 && fault?.kind === 'disconnect-after-first-chunk') return void ws.terminate();
      await sleep(20);
    }
    if (ws.readyState === ws.OPEN && !cancelled.has(ctx)) ws.send(JSON.stringify({ type: 'done', done: true, status_code: 206, context_id: ctx }));
  }
}
