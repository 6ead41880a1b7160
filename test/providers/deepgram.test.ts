import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeepgramStt } from '../../src/providers/stt/deepgram.ts';
import type { DeepgramConfig } from '../../src/config/providers.ts';
import type { SttEvent, SttSession } from '../../src/providers/types.ts';
import { isBridgeError } from '../../src/errors.ts';
import { DeepgramTestServer } from './servers/deepgram.ts';
import { failure, waitFor } from './servers/wait.ts';

const KEY = 'dg-secret-key-123456';

function cfg(baseUrl: string, extra: Partial<DeepgramConfig> = {}): DeepgramConfig {
  return { type: 'deepgram', apiKey: KEY, apiKeyEnv: 'DEEPGRAM_API_KEY', baseUrl, connectTimeoutMs: 2000, model: 'nova-2-phonecall', language: 'en-US', keywords: ['solar:2'], endpointingMs: 300, utteranceEndMs: 1000, keepAliveSeconds: 4, stallSeconds: 5, ...extra };
}

/** 20 ms of a distinctive µ-law payload + its PCM twin. */
function frame(i: number): { pcm: Int16Array; payload: Uint8Array } {
  const payload = new Uint8Array(160).fill(0x10 + (i % 64));
  return { pcm: new Int16Array(160).fill(1000), payload };
}

function feed(s: SttSession, frames: number, start = 0): void {
  for (let i = start; i < start + frames; i++) {
    const f = frame(i);
    s.write(f.pcm, { codec: 'ulaw', payload: f.payload });
  }
}

describe('DeepgramStt against a local Deepgram-protocol server', () => {
  let server: DeepgramTestServer;
  let base: string;
  let ac: AbortController;
  beforeEach(async () => {
    server = new DeepgramTestServer({ apiKey: KEY, utterances: ['yes i am interested', 'call me tomorrow'], speechAfterMs: 100 });
    base = await server.start();
    ac = new AbortController();
  });
  afterEach(async () => {
    ac.abort();
    await server.stop();
  });

  it('streams µ-law as is with the real query params; speech-start, partial, final on Finalize, utterance-end; clean close', async () => {
    const events: SttEvent[] = [];
    const stt = new DeepgramStt({ config: cfg(base), codec: 'ulaw' });
    const s = await stt.open({ callId: 'c1', signal: ac.signal, expect: { phrases: ['tomorrow'] } }, (e) => events.push(e));
    feed(s, 10);
    await waitFor(() => events.some((e) => e.type === 'partial'));
    s.finalize();
    await waitFor(() => events.some((e) => e.type === 'utterance-end'));
    const conn = server.connections[0];
    expect(conn.query.get('encoding')).toBe('mulaw');
    expect(conn.query.get('sample_rate')).toBe('8000');
    expect(conn.query.get('interim_results')).toBe('true');
    expect(conn.query.get('vad_events')).toBe('true');
    expect(conn.query.get('endpointing')).toBe('300');
    expect(conn.query.get('utterance_end_ms')).toBe('1000');
    expect(conn.query.getAll('keywords')).toEqual(['solar:2', 'tomorrow']);
    expect(conn.headers.authorization).toBe(`Token ${KEY}`);
    // The PBX payload went out byte for byte (no transcode): 160 bytes per 20 ms frame.
    expect(conn.audioBytes).toBe(1600);
    expect([...(conn.firstAudio ?? [])]).toEqual([...frame(0).payload]);
    expect(events.map((e) => e.type)).toEqual(['speech-start', 'partial', 'final', 'utterance-end']);
    expect(events[2]).toEqual({ type: 'final', text: 'yes i am interested', confidence: 0.97, endOfUtterance: true });
    expect(conn.control).toContain('{"type":"Finalize"}');
    await s.close();
    await waitFor(() => conn.closed);
    expect(conn.control.at(-1)).toBe('{"type":"CloseStream"}');
    expect(conn.closeCode).toBe(1000);
    expect(events.some((e) => e.type === 'error')).toBe(false);
  });

  it('linear16 when the PBX codec is not µ-law', async () => {
    const s = await new DeepgramStt({ config: cfg(base), codec: 'alaw' }).open({ callId: 'c2', signal: ac.signal }, () => {});
    s.write(new Int16Array(160));
    await waitFor(() => server.connections[0].audioBytes === 320);
    expect(server.connections[0].query.get('encoding')).toBe('linear16');
    await s.close();
  });

  it('sends KeepAlive when no audio flows, and silence from the server then is no stall', async () => {
    const events: SttEvent[] = [];
    const s = await new DeepgramStt({ config: cfg(base, { keepAliveSeconds: 0.1, stallSeconds: 0.2 }) }).open({ callId: 'c3', signal: ac.signal }, (e) => events.push(e));
    await waitFor(() => server.connections[0].control.filter((c) => c === '{"type":"KeepAlive"}').length >= 3);
    expect(events).toEqual([]);
    await s.close();
  });

  it('call end (abort signal) closes the socket: the server sees it closed', async () => {
    await new DeepgramStt({ config: cfg(base) }).open({ callId: 'c4', signal: ac.signal }, () => {});
    await waitFor(() => server.openSockets === 1);
    ac.abort();
    await waitFor(() => server.openSockets === 0);
  });

  it('401 -> PROVIDER_AUTH naming provider and config key, not the key', async () => {
    const err = await failure(new DeepgramStt({ config: cfg(base, { apiKey: 'dg-wrong-key-987654' }), configKey: 'providers.stt[0].apiKey' }).open({ callId: 'c5', signal: ac.signal }, () => {}));
    expect(isBridgeError(err, 'PROVIDER_AUTH')).toBe(true);
    expect((err as Error).message).toMatch(/deepgram.*providers\.stt\[0\]\.apiKey/);
    expect((err as Error).message).not.toContain('987654');
  });

  it('429 at the handshake -> PROVIDER_RATE_LIMIT', async () => {
    server.faults.push({ kind: 'handshake', status: 429, headers: { 'retry-after': '3' } });
    const err = await failure(new DeepgramStt({ config: cfg(base) }).open({ callId: 'c6', signal: ac.signal }, () => {}));
    expect(isBridgeError(err, 'PROVIDER_RATE_LIMIT')).toBe(true);
  });

  it('connect failure -> PROVIDER_CONNECT', async () => {
    const err = await failure(new DeepgramStt({ config: cfg('ws://127.0.0.1:1') }).open({ callId: 'c7', signal: ac.signal }, () => {}));
    expect(isBridgeError(err, 'PROVIDER_CONNECT')).toBe(true);
  });

  for (const [fault, code] of [
    ['disconnect-after-speech', 'PROVIDER_CLOSED'],
    ['malformed-after-speech', 'PROVIDER_PROTOCOL'],
    ['close-1011-after-speech', 'PROVIDER_CLOSED'],
  ] as const) {
    it(`${fault} -> one error event ${code}`, async () => {
      server.faults.push({ kind: fault });
      const events: SttEvent[] = [];
      const s = await new DeepgramStt({ config: cfg(base) }).open({ callId: 'c8', signal: ac.signal }, (e) => events.push(e));
      feed(s, 10);
      await waitFor(() => events.some((e) => e.type === 'error'));
      const errs = events.filter((e) => e.type === 'error');
      expect(errs.length).toBe(1);
      expect(errs[0].type === 'error' && errs[0].error.code).toBe(code);
      feed(s, 5); // writes after failure are dropped, never throw
      await waitFor(() => server.openSockets === 0);
    });
  }

  it('stall (no messages while audio flows) -> PROVIDER_STALL', async () => {
    server.faults.push({ kind: 'stall' });
    const events: SttEvent[] = [];
    const s = await new DeepgramStt({ config: cfg(base, { stallSeconds: 0.3 }) }).open({ callId: 'c9', signal: ac.signal }, (e) => events.push(e));
    feed(s, 10);
    await waitFor(() => events.some((e) => e.type === 'error'));
    expect(events.find((e) => e.type === 'error')).toMatchObject({ error: { code: 'PROVIDER_STALL' } });
  });
});
