import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElevenLabsTts } from '../../src/providers/tts/elevenlabs.ts';
import { CartesiaTts } from '../../src/providers/tts/cartesia.ts';
import { OpenAiTts } from '../../src/providers/tts/openai-tts.ts';
import type { TtsSession } from '../../src/providers/types.ts';
import { isBridgeError } from '../../src/errors.ts';
import { ElevenLabsTestServer } from './servers/elevenlabs.ts';
import { CartesiaTestServer } from './servers/cartesia.ts';
import { OpenAiTestServer } from './servers/openai.ts';
import { failure, waitFor } from './servers/wait.ts';

async function samples(s: TtsSession, text: string, signal = new AbortController().signal): Promise<number> {
  let n = 0;
  for await (const pcm of s.synthesize(text, signal)) n += pcm.length;
  return n;
}

const EL_KEY = 'xi-secret-key-abcdef12';
const CA_KEY = 'ca-secret-key-abcdef12';

describe('ElevenLabsTts (stream-input WebSocket)', () => {
  let server: ElevenLabsTestServer;
  let base: string;
  let call: AbortController;
  const tts = (extra: Record<string, unknown> = {}) =>
    new ElevenLabsTts({ config: { type: 'elevenlabs', apiKey: EL_KEY, apiKeyEnv: 'X', baseUrl: base, connectTimeoutMs: 2000, voiceId: 'voice123', modelId: 'eleven_flash_v2_5', stability: 0.5, similarityBoost: 0.8, stallSeconds: 2, ...extra }, configKey: 'providers.tts[0].apiKey' });
  beforeEach(async () => {
    server = new ElevenLabsTestServer({ apiKey: EL_KEY });
    base = await server.start();
    call = new AbortController();
  });
  afterEach(async () => {
    call.abort();
    await server.stop();
  });

  it('speaks a chunk as µ-law 8 kHz decoded to PCM; keeps a warm socket; all sockets closed at call end', async () => {
    const s = await tts().open({ callId: 'c1', signal: call.signal });
    expect(server.openSockets).toBe(1); // warm before first use
    const n = await samples(s, 'Hello there, this is Sam.');
    expect(n).toBe(Math.round('Hello there, this is Sam.'.length * 10 * 8));
    expect(server.texts).toEqual(['Hello there, this is Sam.']);
    expect(server.bos[0]).toMatchObject({ text: ' ', voice_settings: { stability: 0.5 } });
    expect(server.accepted[0].url).toContain('output_format=ulaw_8000');
    await waitFor(() => server.openSockets === 1); // the used one closed, a fresh spare is open
    expect(await samples(s, 'Second sentence.')).toBeGreaterThan(0);
    call.abort();
    await waitFor(() => server.openSockets === 0);
    expect(server.accepted.every((a) => a.closed)).toBe(true);
  });

  it('barge-in abort ends the iterator promptly and closes that socket; session stays usable', async () => {
    const s = await tts().open({ callId: 'c2', signal: call.signal });
    const ac = new AbortController();
    let got = 0;
    for await (const pcm of s.synthesize('A rather long sentence that goes on and on for a while.', ac.signal)) {
      got += pcm.length;
      ac.abort();
    }
    expect(got).toBeGreaterThan(0);
    await waitFor(() => server.accepted[0].closed);
    expect(await samples(s, 'Still here.')).toBeGreaterThan(0);
  });

  it('401 at open -> PROVIDER_AUTH naming the config key, not the key', async () => {
    const err = await failure(tts({ apiKey: 'xi-wrong-key-999999' }).open({ callId: 'c3', signal: call.signal }));
    expect(isBridgeError(err, 'PROVIDER_AUTH')).toBe(true);
    expect((err as Error).message).toMatch(/elevenlabs.*providers\.tts\[0\]\.apiKey/);
    expect((err as Error).message).not.toContain('999999');
  });

  it('429 at open -> PROVIDER_RATE_LIMIT with retry-after', async () => {
    server.handshakeFaults.push({ kind: 'handshake', status: 429, headers: { 'retry-after': '2' } });
    const err = await failure(tts().open({ callId: 'c4', signal: call.signal }));
    expect(isBridgeError(err, 'PROVIDER_RATE_LIMIT')).toBe(true);
    expect((err as { context: { retryAfterMs?: number } }).context.retryAfterMs).toBe(2000);
  });

  it('connect failure -> PROVIDER_CONNECT', async () => {
    const err = await failure(new ElevenLabsTts({ config: { type: 'elevenlabs', apiKey: EL_KEY, apiKeyEnv: 'X', baseUrl: 'ws://127.0.0.1:1', connectTimeoutMs: 1000, voiceId: 'v', modelId: 'm', stability: 0.5, similarityBoost: 0.8, stallSeconds: 1 } }).open({ callId: 'c5', signal: call.signal }));
    expect(isBridgeError(err, 'PROVIDER_CONNECT')).toBe(true);
  });

  for (const [kind, code] of [
    ['disconnect-after-first-audio', 'PROVIDER_CLOSED'],
    ['malformed', 'PROVIDER_PROTOCOL'],
    ['auth-close', 'PROVIDER_AUTH'],
    ['stall', 'PROVIDER_STALL'],
  ] as const) {
    it(`${kind} during a chunk -> ${code}`, async () => {
      server.faults.push({ kind });
      const s = await tts({ stallSeconds: 0.3 }).open({ callId: 'c6', signal: call.signal });
      const err = await failure(samples(s, 'Hello there.'));
      expect(isBridgeError(err, code)).toBe(true);
      await waitFor(() => server.accepted[0].closed);
    });
  }
});

describe('CartesiaTts (WebSocket, contexts)', () => {
  let server: CartesiaTestServer;
  let base: string;
  let call: AbortController;
  const tts = (extra: Record<string, unknown> = {}) =>
    new CartesiaTts({ config: { type: 'cartesia', apiKey: CA_KEY, apiKeyEnv: 'X', baseUrl: base, connectTimeoutMs: 2000, version: '2024-11-13', modelId: 'sonic-2', voiceId: 'v-1', language: 'en', stallSeconds: 2, ...extra }, configKey: 'providers.tts[1].apiKey' });
  beforeEach(async () => {
    server = new CartesiaTestServer({ apiKey: CA_KEY });
    base = await server.start();
    call = new AbortController();
  });
  afterEach(async () => {
    call.abort();
    await server.stop();
  });

  it('one warm socket per call; overlapping chunks demultiplexed by context_id; closed at call end', async () => {
    const s = await tts().open({ callId: 'c1', signal: call.signal });
    const [a, b] = await Promise.all([samples(s, 'First sentence here.'), samples(s, 'Second.')]);
    expect(a).toBe(Math.round('First sentence here.'.length * 10 * 8));
    expect(b).toBe(80 * 8);
    expect(server.accepted.length).toBe(1);
    expect(server.accepted[0].url).toContain('cartesia_version=2024-11-13');
    expect(server.requests[0]).toMatchObject({ model_id: 'sonic-2', voice: { mode: 'id', id: 'v-1' }, continue: false, output_format: { container: 'raw', encoding: 'pcm_mulaw', sample_rate: 8000 } });
    call.abort();
    await waitFor(() => server.openSockets === 0);
  });

  it('barge-in sends a cancel for the context and the socket stays usable', async () => {
    const s = await tts().open({ callId: 'c2', signal: call.signal });
    const ac = new AbortController();
    for await (const _ of s.synthesize('A long sentence to be cut off by the caller.', ac.signal)) ac.abort();
    await waitFor(() => server.cancelled.length === 1);
    expect(server.cancelled[0]).toBe(server.requests[0].context_id);
    expect(await samples(s, 'Next.')).toBeGreaterThan(0);
    expect(server.accepted.length).toBe(1);
  });

  it('401 -> PROVIDER_AUTH; 429 -> PROVIDER_RATE_LIMIT; connect failure -> PROVIDER_CONNECT', async () => {
    const auth = await failure(tts({ apiKey: 'ca-wrong-zzzzzz' }).open({ callId: 'c3', signal: call.signal }));
    expect(isBridgeError(auth, 'PROVIDER_AUTH')).toBe(true);
    expect((auth as Error).message).toContain('providers.tts[1].apiKey');
    expect((auth as Error).message).not.toContain('zzzzzz');
    server.handshakeFaults.push({ kind: 'handshake', status: 429, headers: { 'retry-after': '1' } });
    expect(isBridgeError(await failure(tts().open({ callId: 'c3', signal: call.signal })), 'PROVIDER_RATE_LIMIT')).toBe(true);
    expect(isBridgeError(await failure(tts({ baseUrl: 'ws://127.0.0.1:1' }).open({ callId: 'c3', signal: call.signal })), 'PROVIDER_CONNECT')).toBe(true);
  });

  for (const [fault, code] of [
    [{ kind: 'disconnect-after-first-chunk' }, 'PROVIDER_CLOSED'],
    [{ kind: 'malformed' }, 'PROVIDER_PROTOCOL'],
    [{ kind: 'stall' }, 'PROVIDER_STALL'],
    [{ kind: 'context-error', status: 429, error: 'concurrency limit' }, 'PROVIDER_RATE_LIMIT'],
  ] as const) {
    it(`${fault.kind} -> ${code}`, async () => {
      server.faults.push(fault);
      const s = await tts({ stallSeconds: 0.3 }).open({ callId: 'c4', signal: call.signal });
      expect(isBridgeError(await failure(samples(s, 'Hello there.')), code)).toBe(true);
    });
  }
});

describe('OpenAiTts (HTTP pcm 24 kHz -> 8 kHz)', () => {
  let server: OpenAiTestServer;
  let base: string;
  let call: AbortController;
  const tts = (extra: Record<string, unknown> = {}) =>
    new OpenAiTts({ config: { type: 'openai', apiKey: 'sk-tts-secret-123456', apiKeyEnv: 'X', baseUrl: base, connectTimeoutMs: 2000, model: 'gpt-4o-mini-tts', voice: 'alloy', stallSeconds: 2, ...extra }, configKey: 'providers.tts[2].apiKey' });
  beforeEach(async () => {
    server = new OpenAiTestServer({ apiKey: 'sk-tts-secret-123456' });
    base = await server.start();
    call = new AbortController();
  });
  afterEach(async () => {
    call.abort();
    await server.stop();
  });

  it('streams pcm and resamples 3:1 (0.5 s at 24 kHz -> 4000 samples at 8 kHz, plus the filter tail)', async () => {
    server.speech.push({ seconds: 0.5 });
    const s = await tts().open({ callId: 'c1', signal: call.signal });
    const n = await samples(s, 'Hello.');
    expect(n).toBeGreaterThanOrEqual(4000);
    expect(n).toBeLessThan(4100);
    expect(server.requests[0].body).toMatchObject({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Hello.', response_format: 'pcm' });
  });

  it('barge-in aborts the HTTP request (server sees the response closed early)', async () => {
    server.speech.push({ seconds: 2 });
    const s = await tts().open({ callId: 'c1', signal: call.signal });
    const ac = new AbortController();
    for await (const _ of s.synthesize('A long reply.', ac.signal)) ac.abort();
    await waitFor(() => server.clientClosedEarly === 1 && server.openResponses === 0);
  });

  it('faults: 401, 429, stall, disconnect', async () => {
    const bad = new OpenAiTts({ config: { type: 'openai', apiKey: 'sk-wrong-key-777777', apiKeyEnv: 'X', baseUrl: base, connectTimeoutMs: 2000, model: 'm', voice: 'alloy', stallSeconds: 2 }, configKey: 'providers.tts[2].apiKey' });
    const auth = await failure(samples(await bad.open({ callId: 'c', signal: call.signal }), 'x'));
    expect(isBridgeError(auth, 'PROVIDER_AUTH')).toBe(true);
    expect((auth as Error).message).not.toContain('777777');
    server.speech.push({ status: 429, message: 'Rate limit reached', headers: { 'retry-after': '4' } });
    const s = await tts({ stallSeconds: 0.3 }).open({ callId: 'c', signal: call.signal });
    const rl = await failure(samples(s, 'x'));
    expect(isBridgeError(rl, 'PROVIDER_RATE_LIMIT')).toBe(true);
    server.speech.push({ seconds: 1, stallAfterBytes: 9000 });
    expect(isBridgeError(await failure(samples(s, 'x')), 'PROVIDER_STALL')).toBe(true);
    server.speech.push({ seconds: 1, disconnectAfterBytes: 9000 });
    expect(isBridgeError(await failure(samples(s, 'x')))).toBe(true);
  });
});
