import { existsSync } from 'node:fs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { providersSchema } from '../../src/config/providers.ts';
import { waitFor } from './servers/wait.ts';

// The embedded engines are written in parallel by another task; until they land the registry cannot load.
const embeddedPresent = existsSync(new URL('../../src/providers/stt/pocketsphinx.ts', import.meta.url)) && existsSync(new URL('../../src/providers/tts/flite.ts', import.meta.url));

describe.skipIf(!embeddedPresent)('createProviders', () => {
  it('builds chains from config; llm null when the chain starts with embedded', async () => {
    const { createProviders } = await import('../../src/providers/registry.ts');
    const cfg = providersSchema.parse({
      stt: [{ type: 'deepgram', apiKey: 'k' }, { type: 'embedded' }],
      llm: [{ type: 'embedded' }],
      tts: [{ type: 'elevenlabs', apiKey: 'k', voiceId: 'v' }, { type: 'cartesia', apiKey: 'k', voiceId: 'v' }, { type: 'embedded' }],
    });
    const p = createProviders(cfg, { logger: pino({ level: 'silent' }) });
    expect(p.llm).toBeNull();
    expect(p.stt.name).toMatch(/^stt-chain\(deepgram>/);
    expect(p.tts.name).toMatch(/^tts-chain\(elevenlabs>cartesia>/);
    const withModel = createProviders(providersSchema.parse({ llm: [{ type: 'openai', apiKey: 'k' }, { type: 'openai', apiKey: 'k', baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3.1' }] }), { logger: pino({ level: 'silent' }) });
    expect(withModel.llm?.name).toBe('llm-chain(openai:gpt-4o-mini>openai:llama3.1)');
  });
});

describe.skipIf(!embeddedPresent)('createProviders against the local vendor servers', () => {
  it('Deepgram->Whisper / OpenAI / ElevenLabs->Cartesia chains work end to end and report timings', async () => {
    const { createProviders } = await import('../../src/providers/registry.ts');
    const { startProviderServers } = await import('./servers/index.ts');
    const servers = await startProviderServers({ delays: { sttFinalMs: 0, llmFirstTokenMs: 0, llmTokenMs: 0, ttsFirstAudioMs: 0 }, utterances: ['yes please'] });
    const call = new AbortController();
    try {
      const timings: string[] = [];
      const fallbacks: string[] = [];
      const p = createProviders(providersSchema.parse(servers.config), {
        logger: pino({ level: 'silent' }),
        onTiming: (t) => timings.push(`${t.role}:${t.metric}`),
        onFallback: (role, from, to) => fallbacks.push(`${role}:${from}>${to}`),
      });
      const events: string[] = [];
      const stt = await p.stt.open({ callId: 'e2e', signal: call.signal }, (e) => events.push(e.type === 'final' ? `final:${e.text}` : e.type));
      for (let i = 0; i < 15; i++) stt.write(new Int16Array(160), { codec: 'ulaw', payload: new Uint8Array(160).fill(0xff) });
      stt.finalize();
      await waitFor(() => events.includes('final:yes please'));
      servers.openai.chat.push({ kind: 'reply', steps: [{ text: 'Great, ' }, { text: 'thanks!' }] });
      let reply = '';
      for await (const c of p.llm!.stream({ callId: 'e2e', messages: [{ role: 'user', content: 'yes please' }], tools: [], signal: call.signal })) if (c.type === 'text') reply += c.text;
      expect(reply).toBe('Great, thanks!');
      const tts = await p.tts.open({ callId: 'e2e', signal: call.signal });
      let n = 0;
      for await (const pcm of tts.synthesize(reply, new AbortController().signal)) n += pcm.length;
      expect(n).toBeGreaterThan(0);
      expect(tts.provider).toBe('elevenlabs');
      expect(timings).toEqual(expect.arrayContaining(['stt:final', 'llm:first-token', 'tts:first-audio']));
      expect(fallbacks).toEqual([]);
      call.abort();
      await waitFor(() => servers.deepgram.openSockets === 0 && servers.elevenlabs.openSockets === 0 && servers.cartesia.openSockets === 0);
    } finally {
      call.abort();
      await servers.stop();
    }
  });
});

describe('provider config', () => {
  it('validates vendor entries with defaults and rejects unknown fields', () => {
    const cfg = providersSchema.parse({ stt: [{ type: 'deepgram' }], tts: [{ type: 'cartesia', voiceId: 'v' }] });
    expect(cfg.stt[0]).toMatchObject({ type: 'deepgram', apiKeyEnv: 'DEEPGRAM_API_KEY', baseUrl: 'wss://api.deepgram.com', model: 'nova-2-phonecall' });
    expect(providersSchema.safeParse({ tts: [{ type: 'elevenlabs' }] }).success).toBe(false); // voiceId required
    expect(providersSchema.safeParse({ stt: [{ type: 'deepgram', apiKye: 'typo' }] }).success).toBe(false);
  });
});
