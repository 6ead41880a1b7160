/**
 * A local server speaking ElevenLabs' WebSocket input-streaming protocol
 * (https://elevenlabs.io/docs/api-reference/text-to-speech/v-1-text-to-speech-voice-id-stream-input):
 * path /v1/text-to-speech/{voice_id}/stream-input?model_id=..&output_format=ulaw_8000, key in the
 * `xi-api-key` header (or `xi_api_key` in the first message). Client: BOS {"text":" ",voice_settings},
 * text {"text":"..","flush"?:true}, EOS {"text":""}. Server: {"audio":"<base64>","isFinal":null,
 * "normalizedAlignment":{..},"alignment":{..}} ... {"isFinal":true}, then a normal close.
 * A bad header key is refused at the handshake (401, {"detail":{"status":"invalid_api_key",...}});
 * a bad BOS key closes with 1008 "Invalid API key".
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { sleep, ulawTone, WsTestServer } from './ws-base.ts';

export type ElevenFault =
  | { readonly kind: 'handshake'; readonly status: number; readonly headers?: Record<string, string> }
  | { readonly kind: 'disconnect-after-first-audio' }
  | { readonly kind: 'stall' }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'auth-close' };

export class ElevenLabsTestServer extends WsTestServer {
  /** Faults applied to the next synthesis (the socket that receives the next text), in order. */
  readonly faults: (ElevenFault | null)[] = [];
  /** Faults for the next handshakes. */
  readonly handshakeFaults: ElevenFault[] = [];
  readonly texts: string[] = [];
  readonly bos: Record<string, unknown>[] = [];

  constructor(private readonly opts: { apiKey?: string; firstAudioDelayMs?: number; msPerChar?: number } = {}) {
    super();
  }

  protected checkUpgrade(req: IncomingMessage) {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!/^\/v1\/text-to-speech\/[^/]+\/stream-input$/.test(url.pathname)) return { status: 404, body: '{"detail":"Not Found"}' };
    const hs = this.handshakeFaults.shift();
    if (hs?.kind === 'handshake') return { status: hs.status, body: JSON.stringify({ detail: { status: 'too_many_concurrent_requests', message: 'Too many concurrent requests' } }), headers: hs.headers };
    const key = req.headers['xi-api-key'];
    if (this.opts.apiKey !== undefined && key !== undefined && key !== this.opts.apiKey) {
      return { status: 401, body: JSON.stringify({ detail: { status: 'invalid_api_key', message: 'Invalid API key' } }) };
    }
    if (url.searchParams.get('output_format') !== 'ulaw_8000' || !url.searchParams.get('model_id')) {
      return { status: 400, body: '{"detail":"bad output_format/model_id"}' };
    }
    return null;
  }

  protected onSocket(ws: WebSocket, req: IncomingMessage): void {
    let started = false;
    let fault: ElevenFault | null = null;
    let text = '';
    const headerOk = req.headers['xi-api-key'] !== undefined;
    ws.on('message', async (data) => {
      let msg: { text?: string; flush?: boolean; xi_api_key?: string };
      try {
        msg = JSON.parse(data.toString());
      } catch {
        return ws.close(1008, 'Invalid message');
      }
      if (!started) {
        started = true;
        this.bos.push(msg);
        if (!headerOk && this.opts.apiKey !== undefined && msg.xi_api_key !== this.opts.apiKey) return ws.close(1008, 'Invalid API key');
        fault = this.faults.shift() ?? null;
        if (fault?.kind === 'auth-close') return ws.close(1008, 'Invalid API key');
        return;
      }
      if (msg.text === '') return void this.speak(ws, text, fault, true);
      text += msg.text ?? '';
      if (msg.flush) {
        this.texts.push(text.trim());
      }
    });
  }

  private async speak(ws: WebSocket, text: string, fault: ElevenFault | null, eos: boolean): Promise<void> {
    if (!this.texts.includes(text.trim())) this.texts.push(text.trim());
    await sleep(this.opts.firstAudioDelayMs ?? 0);
    if (fault?.kind === 'stall') return;
    if (fault?.kind === 'malformed') return void ws.send('{"audio": 12');
    const audio = ulawTone(Math.min(2000, Math.max(60, text.trim().length * (this.opts.msPerChar ?? 10))));
    const pieces = 3;
    const step = Math.ceil(audio.length / pieces);
    for (let i = 0; i < pieces; i++) {
      if (ws.readyState !== ws.OPEN) return;
      const part = audio.subarray(i * step, Math.min(audio.length, (i + 1) * step));
      ws.send(JSON.stringify({ audio: Buffer.from(part).toString('base64'), isFinal: null, normalizedAlignment: { charStartTimesMs: [0], charsDurationsMs: [50], chars: [text[0] ?? ' '] }, alignment: { charStartTimesMs: [0], charsDurationsMs: [50], chars: [text[0] ?? ' '] } }));
      if (i === 0 && fault?.kind === 'disconnect-after-first-audio') return void ws.terminate();
      await sleep(20);
    }
    if (eos && ws.readyState === ws.OPEN) {
      ws.send(JSON.stringify({ isFinal: true }));
      ws.close(1000);
    }
  }
}
