/**
 * A local server speaking the OpenAI REST wire protocol for the endpoints the bridge uses:
 * - POST /v1/chat/completions with stream: true -> text/event-stream of `chat.completion.chunk`
 *   objects (`data: {...}\n\n`), tool calls as `delta.tool_calls[{index,id,type,function:{name,arguments}}]`
 *   deltas, a final `finish_reason`, optional usage chunk, then `data: [DONE]`
 *   (https://platform.openai.com/docs/api-reference/chat-streaming/streaming).
 * - POST /v1/audio/transcriptions (multipart/form-data: file, model, language, prompt) -> {"text": "..."}
 * - POST /v1/audio/speech ({model, voice, input, response_format: "pcm"}) -> raw 24 kHz s16le body, chunked
 * Errors use the documented body {"error": {"message","type","param","code"}} and real statuses
 * (401 invalid_api_key, 429 with retry-after). Replies are scripted per test.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ChatStep =
  | { readonly text: string }
  | { readonly tool: { readonly name: string; readonly args: string; readonly id?: string } };

export type ChatScript =
  | {
      readonly kind: 'reply';
      readonly steps: readonly ChatStep[];
      /** Send the rest only after this many steps, then stall / drop the connection. */
      readonly stallAfter?: number;
      readonly disconnectAfter?: number;
      readonly malformedAfter?: number;
    }
  | { readonly kind: 'error'; readonly status: number; readonly message: string; readonly headers?: Record<string, string> };

export interface OpenAiServerOptions {
  readonly apiKey?: string;
  readonly firstTokenDelayMs?: number;
  readonly tokenDelayMs?: number;
  readonly transcriptionDelayMs?: number;
  readonly speechFirstAudioDelayMs?: number;
}

export interface RecordedRequest {
  readonly path: string;
  readonly body: unknown;
  readonly headers: IncomingMessage['headers'];
}

export class OpenAiTestServer {
  readonly chat: ChatScript[] = [];
  /** Transcription replies in order; default "hello". */
  readonly transcripts: (string | { status: number; message: string; headers?: Record<string, string> })[] = [];
  /** Speech replies: seconds of 24 kHz tone, or an error, or a fault. */
  readonly speech: ({ seconds: number; stallAfterBytes?: number; disconnectAfterBytes?: number } | { status: number; message: string; headers?: Record<string, string> })[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Responses the client closed before we finished them (an aborted stream). */
  clientClosedEarly = 0;
  openResponses = 0;
  private server: Server;
  private readonly opts: OpenAiServerOptions;

  constructor(opts: OpenAiServerOptions = {}) {
    this.opts = opts;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const path = (req.url ?? '').split('?')[0];
    const isJson = (req.headers['content-type'] ?? '').includes('application/json');
    let body: unknown = raw;
    if (isJson) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error');
      }
    }
    this.requests.push({ path, body, headers: req.headers });
    if (this.opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      // Real OpenAI quotes a masked key in this message; the client must not pass it on.
      return sendError(res, 401, `Incorrect API key provided: ${given.slice(0, 3)}***${given.slice(-2)}.`, 'invalid_request_error', 'invalid_api_key');
    }
    this.openResponses++;
    let finished = false;
    res.on('finish', () => (finished = true));
    res.on('close', () => {
      this.openResponses--;
      if (!finished) this.clientClosedEarly++;
    });
    if (path === '/v1/chat/completions' && req.method === 'POST') return this.chatCompletion(body as Record<string, unknown>, res);
    if (path === '/v1/audio/transcriptions' && req.method === 'POST') return this.transcription(raw, req, res);
    if (path === '/v1/audio/speech' && req.method === 'POST') return this.speechReply(body as Record<string, unknown>, res);
    sendError(res, 404, `Invalid URL (${req.method} ${path})`, 'invalid_request_error');
  }

  private async chatCompletion(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    if (body.stream !== true) return sendError(res, 400, 'this test server only streams', 'invalid_request_error');
    const script = this.chat.shift() ?? { kind: 'reply', steps: [{ text: 'OK.' }] };
    if (script.kind === 'error') return sendError(res, script.status, script.message, 'requests', null, script.headers);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
    const base = { id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: String(body.model), system_fingerprint: 'fp_test' };
    const send = (delta: Record<string, unknown>, finish: string | null = null): boolean =>
      !res.destroyed && res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`);
    await sleep(this.opts.firstTokenDelayMs ?? 0);
    send({ role: 'assistant', content: '', refusal: null });
    let toolIndex = 0;
    let sawTool = false;
    for (let i = 0; i < script.steps.length; i++) {
      if (res.destroyed) return;
      if (script.stallAfter === i) return; // hold the response open, send nothing more
      if (script.disconnectAfter === i) {
        await sleep(30); // let what was sent reach the client first
        return void res.socket?.destroy();
      }
      if (script.malformedAfter === i) {
        res.write('data: {"id": "chatcmpl-broken", "choices": [\n\n');
        continue;
      }
      const step = script.steps[i];
      if ('text' in step) {
        send({ content: step.text });
      } else {
        sawTool = true;
        const callId = step.tool.id ?? `call_${Math.random().toString(36).slice(2, 10)}`;
        // Real servers split the arguments JSON across several deltas.
        send({ tool_calls: [{ index: toolIndex, id: callId, type: 'function', function: { name: step.tool.name, arguments: '' } }] });
        const a = step.tool.args;
        const cut = Math.floor(a.length / 2);
        send({ tool_calls: [{ index: toolIndex, function: { arguments: a.slice(0, cut) } }] });
        send({ tool_calls: [{ index: toolIndex, function: { arguments: a.slice(cut) } }] });
        toolIndex++;
      }
      if (this.opts.tokenDelayMs) await sleep(this.opts.tokenDelayMs);
    }
    if (script.stallAfter !== undefined && script.stallAfter >= script.steps.length) return;
    send({}, sawTool ? 'tool_calls' : 'stop');
    const opts = body.stream_options as { include_usage?: boolean } | undefined;
    if (opts?.include_usage) {
      res.write(`data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 42, completion_tokens: 7, total_tokens: 49 } })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  }

  private async transcription(raw: Buffer, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ct = req.headers['content-type'] ?? '';
    const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(ct);
    if (!ct.startsWith('multipart/form-data') || !m) return sendError(res, 400, 'expected multipart/form-data', 'invalid_request_error');
    const fields = parseMultipart(raw, m[1] ?? m[2]);
    this.requests[this.requests.length - 1] = { path: '/v1/audio/transcriptions', body: fields, headers: req.headers };
    const file = fields.file;
    if (!file || file.subarray(0, 4).toString('latin1') !== 'RIFF' || file.subarray(8, 12).toString('latin1') !== 'WAVE') {
      return sendError(res, 400, 'Invalid file format. Supported formats: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm', 'invalid_request_error');
    }
    if (!fields.model) return sendError(res, 400, "you must provide a model parameter", 'invalid_request_error');
    const next = this.transcripts.shift() ?? 'hello';
    await sleep(this.opts.transcriptionDelayMs ?? 0);
    if (typeof next !== 'string') return sendError(res, next.status, next.message, 'requests', null, next.headers);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ text: next }));
  }

  private async speechReply(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    if (typeof body.input !== 'string' || body.input === '') return sendError(res, 400, "Missing required parameter: 'input'.", 'invalid_request_error');
    if (body.response_format !== 'pcm') return sendError(res, 400, 'this test server only produces pcm', 'invalid_request_error');
    const next = this.speech.shift() ?? { seconds: 0.5 };
    if ('status' in next) return sendError(res, next.status, next.message, 'requests', null, next.headers);
    await sleep(this.opts.speechFirstAudioDelayMs ?? 0);
    res.writeHead(200, { 'content-type': 'audio/pcm', 'transfer-encoding': 'chunked' });
    const pcm = tone24k(next.seconds, 440);
    const bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    // Odd-sized pieces on purpose: the client must carry half samples across chunks.
    for (let off = 0; off < bytes.length; off += 4801) {
      if (res.destroyed) return;
      if (next.stallAfterBytes !== undefined && off >= next.stallAfterBytes) return;
      if (next.disconnectAfterBytes !== undefined && off >= next.disconnectAfterBytes) return void res.socket?.destroy();
      res.write(bytes.subarray(off, Math.min(bytes.length, off + 4801)));
      await sleep(5);
    }
    res.end();
  }
}

export function tone24k(seconds: number, hz: number): Int16Array {
  const n = Math.round(seconds * 24000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 24000));
  return out;
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null = null,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { message, type, param: null, code } }));
}

function parseMultipart(raw: Buffer, boundary: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const delim = Buffer.from(`--${boundary}`);
  let pos = raw.indexOf(delim);
  while (pos !== -1) {
    const start = pos + delim.length;
    const next = raw.indexOf(delim, start);
    if (next === -1) break;
    const part = raw.subarray(start + 2, next - 2); // skip CRLF after delimiter, before next
    const headEnd = part.indexOf('\r\n\r\n');
    if (headEnd !== -1) {
      const head = part.subarray(0, headEnd).toString('utf8');
      const name = /name="([^"]+)"/.exec(head)?.[1];
      if (name) out[name] = part.subarray(headEnd + 4);
    }
    pos = next;
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
