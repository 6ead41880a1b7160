import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FallbackLlm, FallbackStt, FallbackTts, type ProviderRole } from '../../src/providers/fallback.ts';
import { ElevenLabsTts } from '../../src/providers/tts/elevenlabs.ts';
import { CartesiaTts } from '../../src/providers/tts/cartesia.ts';
import { DeepgramStt } from '../../src/providers/stt/deepgram.ts';
import { WhisperStt } from '../../src/providers/stt/whisper.ts';
import { OpenAiLlm } from '../../src/providers/llm/openai.ts';
import type { BridgeError } from '../../src/errors.ts';
import type { LlmChunk, SttEvent, TtsSession } from '../../src/providers/types.ts';
import { ElevenLabsTestServer } from './servers/elevenlabs.ts';
import { CartesiaTestServer } from './servers/cartesia.ts';
import { DeepgramTestServer } from './servers/deepgram.ts';
import { OpenAiTestServer } from './servers/openai.ts';
import { failure, waitFor } from './servers/wait.ts';

type Switch = { role: ProviderRole; from: string; to: string; code: string };

function recorder(): { switches: Switch[]; onFallback: (r: ProviderRole, f: string, t: string, e: BridgeError) => void } {
  const switches: Switch[] = [];
  return { switches, onFallback: (role, from, to, e) => switches.push({ role, from, to, code: e.code }) };
}

describe('FallbackTts: ElevenLabs -> Cartesia', () => {
  let el: ElevenLabsTestServer;
  let ca: CartesiaTestServer;
  let elBase: string;
  let caBase: string;
  let call: AbortController;
  beforeEach(async () => {
    el = new ElevenLabsTestServer({ apiKey: 'k1-xxxxxxxx' });
    ca = new CartesiaTestServer({ apiKey: 'k2-xxxxxxxx', firstAudioDelayMs: 120 });
    elBase = await el.start();
    caBase = await ca.start();
    call = new AbortController();
  });
  afterEach(async () => {
    call.abort();
    await Promise.all([el.stop(), ca.stop()]);
  });

  const chain = (onFallback: ReturnType<typeof recorder>['onFallback'], elKey = 'k1-xxxxxxxx') =>
    new FallbackTts(
      [
        new ElevenLabsTts({ config: { type: 'elevenlabs', apiKey: elKey, apiKeyEnv: 'X', baseUrl: elBase, connectTimeoutMs: 1000, voiceId: 'v', modelId: 'eleven_flash_v2_5', stability: 0.5, similarityBoost: 0.8, stallSeconds: 0.4 } }),
        new CartesiaTts({ config: { type: 'cartesia', apiKey: 'k2-xxxxxxxx', apiKeyEnv: 'X', baseUrl: caBase, connectTimeoutMs: 1000, version: '2024-11-13', modelId: 'sonic-2', voiceId: 'v', language: 'en', stallSeconds: 1 } }),
      ],
      { onFallback },
    );

  async function speak(s: TtsSession, text: string): Promise<{ samples: number; firstAudioAt: number }> {
    let samples = 0;
    let firstAudioAt = -1;
    for await (const pcm of s.synthesize(text, new AbortController().signal)) {
      if (firstAudioAt < 0) firstAudioAt = performance.now();
      samples += pcm.length;
    }
    return { samples, firstAudioAt };
  }

  for (const fault of ['disconnect-after-first-audio', 'stall', 'malformed'] as const) {
    it(`${fault} mid-chunk: the same chunk is re-spoken on Cartesia at once, the switch is reported, the call stays there`, async () => {
      el.faults.push({ kind: fault });
      const rec = recorder();
      const s = await chain(rec.onFallback).open({ callId: 'c1', signal: call.signal });
      const t0 = performance.now();
      const r = await speak(s, 'Hello, this is Sam from Bright Solar.');
      expect(r.samples).toBeGreaterThan(0);
      expect(ca.requests.map((q) => q.transcript)).toEqual(['Hello, this is Sam from Bright Solar.']);
      expect(rec.switches).toEqual([{ role: 'tts', from: 'elevenlabs', to: 'cartesia', code: expect.stringMatching(/PROVIDER_(CLOSED|STALL|PROTOCOL)/) }]);
      // Generous bound: a hang on a timeout would blow it; the stall case includes its 0.4 s detection.
      expect(r.firstAudioAt - t0).toBeLessThan(1500);
      await speak(s, 'Next sentence.');
      expect(ca.requests.length).toBe(2);
      expect(s.provider).toBe('cartesia');
      call.abort();
      await waitFor(() => el.openSockets === 0 && ca.openSockets === 0);
    });
  }

  it('auth failure at answer: opens Cartesia instead and reports it', async () => {
    const rec = recorder();
    const s = await chain(rec.onFallback, 'k1-wrong-key').open({ callId: 'c2', signal: call.signal });
    expect(s.provider).toBe('cartesia');
    expect(rec.switches).toEqual([{ role: 'tts', from: 'elevenlabs', to: 'cartesia', code: 'PROVIDER_AUTH' }]);
    expect((await speak(s, 'Hi.')).samples).toBeGreaterThan(0);
  });

  it('the whole chain failing surfaces the last error', async () => {
    el.faults.push({ kind: 'disconnect-after-first-audio' });
    ca.faults.push({ kind: 'context-error', status: 500, error: 'internal' });
    const s = await chain(() => {}).open({ callId: 'c3', signal: call.signal });
    const err = await failure(speak(s, 'Hello.'));
    expect((err as BridgeError).code).toBe('PROVIDER_UNAVAILABLE');
  });

  it('one call failing over does not touch another call', async () => {
    el.faults.push({ kind: 'disconnect-after-first-audio' });
    const rec = recorder();
    const tts = chain(rec.onFallback);
    const other = new AbortController();
    const [a, b] = await Promise.all([tts.open({ callId: 'a', signal: call.signal }), tts.open({ callId: 'b', signal: other.signal })]);
    await speak(a, 'First call.');
    expect(a.provider).toBe('cartesia');
    await speak(b, 'Second call.');
    expect(b.provider).toBe('elevenlabs');
    other.abort();
  });
});

describe('FallbackStt: Deepgram -> Whisper', () => {
  it('mid-stream disconnect: reopens on Whisper and keeps feeding; finalize goes to the new recognizer', async () => {
    const dg = new DeepgramTestServer({ apiKey: 'dg-key-1234', speechAfterMs: 100 });
    const oa = new OpenAiTestServer();
    const dgBase = await dg.start();
    const oaBase = await oa.start();
    const call = new AbortController();
    try {
      dg.faults.push({ kind: 'disconnect-after-speech' });
      oa.transcripts.push('I would like a quote');
      const rec = recorder();
      const stt = new FallbackStt(
        [
          new DeepgramStt({ config: { type: 'deepgram', apiKey: 'dg-key-1234', apiKeyEnv: 'X', baseUrl: dgBase, connectTimeoutMs: 1000, model: 'nova-2-phonecall', language: 'en-US', keywords: [], endpointingMs: 300, utteranceEndMs: 1000, keepAliveSeconds: 4, stallSeconds: 5 } }),
          new WhisperStt({ config: { type: 'whisper', apiKey: 'sk-local', apiKeyEnv: 'X', baseUrl: oaBase, connectTimeoutMs: 1000, model: 'whisper-1', language: 'en', keywords: [], timeoutMs: 3000, maxUtteranceSeconds: 10 } }),
        ],
        { onFallback: rec.onFallback },
      );
      const events: SttEvent[] = [];
      const s = await stt.open({ callId: 'c1', signal: call.signal }, (e) => events.push(e));
      const frame = new Int16Array(160).fill(300);
      for (let i = 0; i < 10; i++) s.write(frame, { codec: 'ulaw', payload: new Uint8Array(160).fill(0x20) });
      await waitFor(() => rec.switches.length === 1);
      expect(rec.switches[0]).toEqual({ role: 'stt', from: 'deepgram', to: 'whisper', code: 'PROVIDER_CLOSED' });
      await waitFor(() => s.provider === 'whisper');
      for (let i = 0; i < 25; i++) s.write(frame);
      s.finalize();
      await waitFor(() => events.some((e) => e.type === 'final'));
      expect(events.filter((e) => e.type === 'error')).toEqual([]);
      expect(events.find((e) => e.type === 'final')).toEqual({ type: 'final', text: 'I would like a quote', endOfUtterance: true });
      await s.close();
      await waitFor(() => dg.openSockets === 0);
    } finally {
      call.abort();
      await Promise.all([dg.stop(), oa.stop()]);
    }
  });
});

describe('FallbackLlm: primary -> secondary OpenAI-compatible servers', () => {
  let a: OpenAiTestServer;
  let b: OpenAiTestServer;
  let llm: FallbackLlm;
  let rec: ReturnType<typeof recorder>;
  let clock = 0;
  beforeEach(async () => {
    a = new OpenAiTestServer();
    b = new OpenAiTestServer();
    const [aBase, bBase] = await Promise.all([a.start(), b.start()]);
    const cfg = { type: 'openai' as const, apiKey: 'sk-x-123456', apiKeyEnv: 'X', connectTimeoutMs: 1000, temperature: 0, maxTokensParam: 'max_tokens' as const, includeUsage: false, stallSeconds: 2 };
    rec = recorder();
    clock = 1_000_000;
    llm = new FallbackLlm([new OpenAiLlm({ config: { ...cfg, baseUrl: aBase, model: 'gpt-4o' } }), new OpenAiLlm({ config: { ...cfg, baseUrl: bBase, model: 'llama-3.1-8b-instant' } })], { onFallback: rec.onFallback, now: () => clock });
  });
  afterEach(async () => Promise.all([a.stop(), b.stop()]));

  const run = async (): Promise<string> => {
    let text = '';
    for await (const c of llm.stream({ callId: 'c', messages: [{ role: 'user', content: 'hi' }], tools: [], signal: new AbortController().signal }) as AsyncIterable<LlmChunk>) if (c.type === 'text') text += c.text;
    return text;
  };

  it('429 on the primary: the turn is retried on the secondary; the primary sits out its retry-after', async () => {
    a.chat.push({ kind: 'error', status: 429, message: 'Rate limit reached', headers: { 'retry-after': '20' } });
    b.chat.push({ kind: 'reply', steps: [{ text: 'Hello from B.' }] }, { kind: 'reply', steps: [{ text: 'Still B.' }] });
    expect(await run()).toBe('Hello from B.');
    expect(rec.switches).toEqual([{ role: 'llm', from: 'openai:gpt-4o', to: 'openai:llama-3.1-8b-instant', code: 'PROVIDER_RATE_LIMIT' }]);
    expect(await run()).toBe('Still B.');
    expect(a.requests.length).toBe(1); // benched
    clock += 21_000;
    a.chat.push({ kind: 'reply', steps: [{ text: 'A is back.' }] });
    expect(await run()).toBe('A is back.');
  });

  it('a failure after text was streamed is not replayed elsewhere (the caller already heard it)', async () => {
    a.chat.push({ kind: 'reply', steps: [{ text: 'Half a ' }, { text: 'reply' }], disconnectAfter: 1 });
    const err = await failure(run());
    expect((err as BridgeError).code).toMatch(/PROVIDER_/);
    expect(b.requests.length).toBe(0);
  });
});
