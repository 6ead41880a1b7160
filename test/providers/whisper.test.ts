import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WhisperStt } from '../../src/providers/stt/whisper.ts';
import type { SttEvent } from '../../src/providers/types.ts';
import { OpenAiTestServer } from './servers/openai.ts';
import { waitFor } from './servers/wait.ts';

const KEY = 'sk-whisper-secret-4242';

describe('WhisperStt (OpenAI-compatible /audio/transcriptions)', () => {
  let server: OpenAiTestServer;
  let base: string;
  let call: AbortController;
  const stt = (apiKey = KEY) =>
    new WhisperStt({ config: { type: 'whisper', apiKey, apiKeyEnv: 'X', baseUrl: base, connectTimeoutMs: 2000, model: 'whisper-1', language: 'en', keywords: ['Bright Solar'], timeoutMs: 5000, maxUtteranceSeconds: 2 }, configKey: 'providers.stt[1].apiKey' });
  beforeEach(async () => {
    server = new OpenAiTestServer({ apiKey: KEY });
    base = await server.start();
    call = new AbortController();
  });
  afterEach(async () => {
    call.abort();
    await server.stop();
  });

  it('sends the audio between finalize() calls as one WAV and emits one final per utterance', async () => {
    server.transcripts.push('Yes, I own the house.', 'Tomorrow works.');
    const events: SttEvent[] = [];
    const s = await stt().open({ callId: 'c1', signal: call.signal, expect: { phrases: ['tomorrow'] } }, (e) => events.push(e));
    const frame = new Int16Array(160).fill(500);
    for (let i = 0; i < 25; i++) s.write(frame); // 0.5 s
    s.finalize();
    await waitFor(() => events.length === 1);
    for (let i = 0; i < 150; i++) s.write(frame); // 3 s > maxUtteranceSeconds: only the last 2 s are kept
    s.finalize();
    await waitFor(() => events.length === 2);
    expect(events).toEqual([
      { type: 'final', text: 'Yes, I own the house.', endOfUtterance: true },
      { type: 'final', text: 'Tomorrow works.', endOfUtterance: true },
    ]);
    const f1 = server.requests[0].body as Record<string, Buffer>;
    expect(f1.model.toString()).toBe('whisper-1');
    expect(f1.language.toString()).toBe('en');
    expect(f1.prompt.toString()).toBe('Bright Solar, tomorrow');
    expect(f1.file.length).toBe(44 + 25 * 320);
    expect(f1.file.readUInt32LE(24)).toBe(8000);
    expect((server.requests[1].body as Record<string, Buffer>).file.length).toBe(44 + 2 * 16000);
  });

  it('a too-short utterance gives final "" without a request', async () => {
    const events: SttEvent[] = [];
    const s = await stt().open({ callId: 'c2', signal: call.signal }, (e) => events.push(e));
    s.write(new Int16Array(160));
    s.finalize();
    expect(events).toEqual([{ type: 'final', text: '', endOfUtterance: true }]);
    expect(server.requests.length).toBe(0);
  });

  it('401 -> one error event PROVIDER_AUTH without the key', async () => {
    const events: SttEvent[] = [];
    const s = await stt('sk-wrong-whisper-555555').open({ callId: 'c3', signal: call.signal }, (e) => events.push(e));
    for (let i = 0; i < 10; i++) s.write(new Int16Array(160));
    s.finalize();
    await waitFor(() => events.length === 1);
    const e = events[0];
    expect(e.type === 'error' && e.error.code).toBe('PROVIDER_AUTH');
    expect(e.type === 'error' && e.error.message).not.toContain('555555');
    expect(e.type === 'error' && e.error.message).toContain('providers.stt[1].apiKey');
  });

  it('429 -> PROVIDER_RATE_LIMIT', async () => {
    server.transcripts.push({ status: 429, message: 'Rate limit reached', headers: { 'retry-after': '1' } });
    const events: SttEvent[] = [];
    const s = await stt().open({ callId: 'c4', signal: call.signal }, (e) => events.push(e));
    for (let i = 0; i < 10; i++) s.write(new Int16Array(160));
    s.finalize();
    await waitFor(() => events.length === 1);
    expect(events[0]).toMatchObject({ type: 'error', error: { code: 'PROVIDER_RATE_LIMIT', context: { retryAfterMs: 1000 } } });
  });
});
