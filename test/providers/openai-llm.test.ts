import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { OpenAiLlm } from '../../src/providers/llm/openai.ts';
import type { LlmChunk, LlmRequest } from '../../src/providers/types.ts';
import { toolSpecs } from '../../src/agent/tools.ts';
import { isBridgeError } from '../../src/errors.ts';
import { OpenAiTestServer } from './servers/openai.ts';
import { failure, waitFor } from './servers/wait.ts';

const KEY = 'sk-test-0123456789abcdef';

function llm(baseUrl: string, extra: Record<string, unknown> = {}): OpenAiLlm {
  return new OpenAiLlm({
    config: { type: 'openai', apiKey: KEY, apiKeyEnv: 'OPENAI_API_KEY', baseUrl, connectTimeoutMs: 2000, model: 'gpt-4o-mini', temperature: 0.5, maxTokensParam: 'max_tokens', includeUsage: true, stallSeconds: 2, ...extra },
    configKey: 'providers.llm[0].apiKey',
  });
}

function req(signal = new AbortController().signal): LlmRequest {
  return { callId: 'c1', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], tools: toolSpecs({ sales: { description: 'sales desk' } }), maxTokens: 60, signal };
}

async function collect(it: AsyncIterable<LlmChunk>): Promise<LlmChunk[]> {
  const out: LlmChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}


describe('OpenAiLlm against a local OpenAI-protocol server', () => {
  let server: OpenAiTestServer;
  let base: string;
  beforeEach(async () => {
    server = new OpenAiTestServer({ apiKey: KEY });
    base = await server.start();
  });
  afterEach(async () => server.stop());

  it('streams text, assembles tool calls from deltas, reports usage, sends max_tokens and tools', async () => {
    server.chat.push({ kind: 'reply', steps: [{ text: 'Sure, ' }, { text: 'one moment.' }, { tool: { name: 'transfer', args: '{"target":"sales","summary":"wants a quote"}', id: 'call_abc' } }, { tool: { name: 'set_disposition', args: '{"status":"XFER"}' } }] });
    const chunks = await collect(llm(base).stream(req()));
    const text = chunks.filter((c) => c.type === 'text').map((c) => (c as { text: string }).text).join('');
    expect(text).toBe('Sure, one moment.');
    const calls = chunks.flatMap((c) => (c.type === 'tool-call' ? [c.call] : []));
    expect(calls).toEqual([
      { id: 'call_abc', name: 'transfer', arguments: '{"target":"sales","summary":"wants a quote"}' },
      expect.objectContaining({ name: 'set_disposition', arguments: '{"status":"XFER"}' }),
    ]);
    expect(chunks.at(-1)).toEqual({ type: 'usage', promptTokens: 42, completionTokens: 7 });
    const body = server.requests[0].body as Record<string, unknown>;
    expect(body.max_tokens).toBe(60);
    expect(body.stream).toBe(true);
    expect((body.tools as unknown[]).length).toBe(5);
  });

  it('reports first-token and total timing for the call', async () => {
    server.chat.push({ kind: 'reply', steps: [{ text: 'Hi.' }] });
    const timings: { metric: string; callId: string; ms: number }[] = [];
    const model = new OpenAiLlm({ config: llmCfg(base), onTiming: (t) => timings.push(t) });
    await collect(model.stream(req()));
    expect(timings.map((t) => [t.metric, t.callId])).toEqual([['first-token', 'c1'], ['total', 'c1']]);
    expect(timings[0].ms).toBeGreaterThanOrEqual(0);
  });

  it('secrets never reach the logs', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (l: string) => lines.push(l) });
    const bad = new OpenAiLlm({ config: { ...llmCfg(base), apiKey: 'sk-logged-secret-31337' }, logger });
    await failure(collect(bad.stream(req())));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain('31337');
  });

  it('abort stops the HTTP stream on the server side at once', async () => {
    server.chat.push({ kind: 'reply', steps: [{ text: 'one ' }, { text: 'two ' }], stallAfter: 2 });
    const ac = new AbortController();
    const got: string[] = [];
    for await (const c of llm(base).stream(req(ac.signal))) {
      if (c.type === 'text') got.push(c.text);
      if (got.length === 2) ac.abort();
    }
    expect(got).toEqual(['one ', 'two ']);
    await waitFor(() => server.clientClosedEarly === 1);
    expect(server.openResponses).toBe(0);
  });

  it('401 -> PROVIDER_AUTH naming provider and config key, never the key', async () => {
    const bad = new OpenAiLlm({ config: { ...llmCfg(base), apiKey: 'sk-wrong-secretvalue99' }, configKey: 'providers.llm[0].apiKey' });
    const err = await failure(collect(bad.stream(req())));
    expect(isBridgeError(err, 'PROVIDER_AUTH')).toBe(true);
    const e = err as Error;
    expect(e.message).toContain('providers.llm[0].apiKey');
    expect(e.message).toContain('openai');
    expect(e.message).not.toContain('secretvalue');
    expect(JSON.stringify((err as { context: unknown }).context)).not.toContain('secretvalue');
  });

  it('429 with retry-after -> PROVIDER_RATE_LIMIT carrying the delay', async () => {
    server.chat.push({ kind: 'error', status: 429, message: 'Rate limit reached for requests', headers: { 'retry-after': '7' } });
    const err = await failure(collect(llm(base).stream(req())));
    expect(isBridgeError(err, 'PROVIDER_RATE_LIMIT')).toBe(true);
    expect((err as { context: { retryAfterMs: number } }).context.retryAfterMs).toBe(7000);
  });

  it('stall after the first token -> PROVIDER_STALL and the stream is closed', async () => {
    server.chat.push({ kind: 'reply', steps: [{ text: 'Hello ' }, { text: 'there' }], stallAfter: 1 });
    const err = await failure(collect(llm(base, { stallSeconds: 0.3 }).stream(req())));
    expect(isBridgeError(err, 'PROVIDER_STALL')).toBe(true);
    await waitFor(() => server.openResponses === 0);
  });

  it('mid-stream disconnect -> a BridgeError, not a hang', async () => {
    server.chat.push({ kind: 'reply', steps: [{ text: 'Hello ' }, { text: 'there' }], disconnectAfter: 1 });
    const err = await failure(collect(llm(base).stream(req())));
    expect(isBridgeError(err)).toBe(true);
  });

  it('malformed SSE data -> PROVIDER_PROTOCOL', async () => {
    server.chat.push({ kind: 'reply', steps: [{ text: 'Hello ' }, { text: 'x' }], malformedAfter: 1 });
    const err = await failure(collect(llm(base).stream(req())));
    expect(isBridgeError(err, 'PROVIDER_PROTOCOL')).toBe(true);
  });

  it('connect failure -> PROVIDER_CONNECT', async () => {
    await server.stop();
    const err = await failure(collect(llm(base).stream(req())));
    server = new OpenAiTestServer();
    await server.start();
    expect(isBridgeError(err, 'PROVIDER_CONNECT')).toBe(true);
  });
});

function llmCfg(baseUrl: string) {
  return { type: 'openai' as const, apiKey: KEY, apiKeyEnv: 'OPENAI_API_KEY', baseUrl, connectTimeoutMs: 2000, model: 'gpt-4o-mini', temperature: 0.5, maxTokensParam: 'max_tokens' as const, includeUsage: true, stallSeconds: 2 };
}
