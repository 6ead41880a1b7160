/**
 * LanguageModel over the OpenAI Chat Completions streaming API (POST {baseUrl}/chat/completions with
 * stream: true; Server-Sent Events of `chat.completion.chunk`, ending with `data: [DONE]` — see
 * https://platform.openai.com/docs/api-reference/chat-streaming). Any compatible server works through
 * `baseUrl`: Groq (https://api.groq.com/openai/v1), Ollama (http://host:11434/v1), vLLM, llama.cpp.
 *
 * Tool calls arrive as deltas keyed by `index`: the first delta carries id and function name, later
 * ones append pieces of the JSON arguments; they are emitted whole once the stream says
 * finish_reason "tool_calls" (or ends).
 */
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import pino from 'pino';
import { BridgeError, isBridgeError } from '../../errors.ts';
import type { OpenAiLlmConfig } from '../../config/providers.ts';
import type { ChatMessage, LanguageModel, LlmChunk, LlmRequest, RawToolCall } from '../types.ts';
import {
  fromOpenAiError,
  protocolError,
  resolveApiKey,
  stallError,
  Watchdog,
  type ProviderIdentity,
  type CloudProviderOptions,
  type TimingSink,
} from '../common.ts';

export type OpenAiLlmOptions = CloudProviderOptions<OpenAiLlmConfig>;

export class OpenAiLlm implements LanguageModel {
  readonly name: string;
  private readonly cfg: OpenAiLlmConfig;
  private readonly id: ProviderIdentity;
  private readonly log: pino.Logger;
  private readonly onTiming?: TimingSink;
  private readonly env?: NodeJS.ProcessEnv;
  private client: OpenAI | null = null;
  private key = '';

  constructor(opts: OpenAiLlmOptions) {
    this.cfg = opts.config;
    this.name = `openai:${opts.config.model}`;
    this.id = { provider: `llm ${this.name}`, configKey: opts.configKey ?? 'providers.llm[].apiKey' };
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.onTiming = opts.onTiming;
    this.env = opts.env;
  }

  private getClient(): OpenAI {
    if (!this.client) {
      this.key = resolveApiKey(this.cfg, this.id, this.env);
      // maxRetries 0: the fallback chain decides what happens next, faster than SDK backoff would.
      this.client = new OpenAI({ apiKey: this.key, baseURL: this.cfg.baseUrl, maxRetries: 0, timeout: 60_000 });
    }
    return this.client;
  }

  async *stream(req: LlmRequest): AsyncIterable<LlmChunk> {
    const client = this.getClient();
    if (req.signal.aborted) return;
    // Our own controller: the caller's signal (barge-in) and the stall watchdog both end the HTTP stream.
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    req.signal.addEventListener('abort', onAbort, { once: true });
    let stalled = false;
    const watchdog = new Watchdog(this.cfg.stallSeconds * 1000, () => {
      stalled = true;
      ac.abort();
    });
    const started = performance.now();
    let firstToken = false;
    const maxTokens = this.cfg.maxTokens ?? req.maxTokens;
    const body: OpenAI.Chat.ChatCompletionCreateParamsStreaming = {
      model: this.cfg.model,
      stream: true,
      temperature: this.cfg.temperature,
      messages: req.messages.map(toOpenAiMessage),
      ...(req.tools.length > 0 ? { tools: req.tools.map(toOpenAiTool) } : {}),
      ...(this.cfg.includeUsage ? { stream_options: { include_usage: true } } : {}),
      ...(maxTokens !== undefined ? { [this.cfg.maxTokensParam]: maxTokens } : {}),
    };
    const partial = new Map<number, { id: string; name: string; arguments: string }>();
    try {
      watchdog.arm();
      const stream = await client.chat.completions.create(body, { signal: ac.signal, timeout: this.cfg.connectTimeoutMs + this.cfg.stallSeconds * 1000 });
      let finished = false;
      for await (const chunk of stream) {
        watchdog.arm();
        if (chunk?.choices?.[0]?.finish_reason) finished = true;
        for (const out of this.translate(chunk, partial)) {
          if (!firstToken && out.type !== 'usage') {
            firstToken = true;
            this.onTiming?.({ role: 'llm', provider: this.name, callId: req.callId, metric: 'first-token', ms: performance.now() - started });
          }
          yield out;
        }
      }
      // The SDK ends iteration quietly when its signal aborts: tell a stall from a barge-in here.
      if (stalled) throw stallError(this.id, this.cfg.stallSeconds, 'streamed tokens');
      if (req.signal.aborted) return;
      // No finish_reason = the body was cut short (the SDK ends quietly when the socket closes at a
      // chunk boundary): half a reply must not pass for a whole one.
      if (!finished) throw new BridgeError('PROVIDER_CLOSED', `${this.id.provider}: stream ended before finish_reason`, { provider: this.id.provider });
      for (const call of drain(partial)) yield { type: 'tool-call', call };
      this.onTiming?.({ role: 'llm', provider: this.name, callId: req.callId, metric: 'total', ms: performance.now() - started });
    } catch (err) {
      if (stalled || isBridgeError(err, 'PROVIDER_STALL')) throw stallError(this.id, this.cfg.stallSeconds, 'streamed tokens');
      if (req.signal.aborted) return; // barge-in / call end: a normal, quiet stop
      const e = fromOpenAiError(this.id, err, this.key);
      this.log.warn({ err: e.message, code: e.code, callId: req.callId }, 'llm stream failed');
      throw e;
    } finally {
      watchdog.stop();
      req.signal.removeEventListener('abort', onAbort);
      // Leaving the loop early (consumer stopped iterating) must also close the HTTP stream.
      ac.abort();
    }
  }

  private *translate(chunk: ChatCompletionChunk, partial: Map<number, { id: string; name: string; arguments: string }>): Generator<LlmChunk> {
    if (chunk === null || typeof chunk !== 'object' || !Array.isArray(chunk.choices)) {
      throw protocolError(this.id, 'stream chunk without a choices array');
    }
    const choice = chunk.choices[0];
    if (choice) {
      const delta = choice.delta ?? {};
      if (typeof delta.content === 'string' && delta.content !== '') yield { type: 'text', text: delta.content };
      for (const tc of delta.tool_calls ?? []) {
        const idx = typeof tc.index === 'number' ? tc.index : 0;
        let p = partial.get(idx);
        if (!p) {
          p = { id: tc.id ?? `call_${idx}`, name: '', arguments: '' };
          partial.set(idx, p);
        }
        if (tc.id) p.id = tc.id;
        if (tc.function?.name) p.name += tc.function.name;
        if (tc.function?.arguments) p.arguments += tc.function.arguments;
      }
      if (choice.finish_reason === 'tool_calls' || choice.finish_reason === 'stop') {
        for (const call of drain(partial)) yield { type: 'tool-call', call };
      }
    }
    if (chunk.usage) {
      yield { type: 'usage', promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
    }
  }
}

function drain(partial: Map<number, { id: string; name: string; arguments: string }>): RawToolCall[] {
  const calls = [...partial.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => ({ ...c }));
  partial.clear();
  return calls;
}

function toOpenAiMessage(m: ChatMessage): ChatCompletionMessageParam {
  switch (m.role) {
    case 'system':
      return { role: 'system', content: m.content };
    case 'user':
      return { role: 'user', content: m.content };
    case 'tool':
      return { role: 'tool', content: m.content, tool_call_id: m.toolCallId ?? '' };
    case 'assistant':
      if (m.toolCalls && m.toolCalls.length > 0) {
        return {
          role: 'assistant',
          content: m.content === '' ? null : m.content,
          tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })),
        };
      }
      return { role: 'assistant', content: m.content };
  }
}

function toOpenAiTool(t: LlmRequest['tools'][number]): ChatCompletionTool {
  return { type: 'function', function: { name: t.name, description: t.description, parameters: { ...t.parameters } } };
}
