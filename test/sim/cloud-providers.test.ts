/**
 * Issue #4's check, through the simulator: a conversation on the cloud chain (Deepgram, OpenAI,
 * ElevenLabs) against local servers speaking each vendor's wire protocol with realistic delays
 * (STT final 150 ms, first token 300 ms, first audio 120 ms), over real RTP, with one barge-in.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { CLOUD_GREETING, CLOUD_SCRIPT, startLocalCloud } from '../providers/servers/cloud-scenario.ts';
import { REALISTIC } from '../providers/servers/index.ts';

describe('simulated call on the cloud providers (local protocol servers)', () => {
  it('understands every line, cuts the reply on barge-in, transfers, and reports each stage of every turn', async () => {
    const servers = await startLocalCloud();
    try {
      const config = validateConfig({
        providers: servers.config,
        agent: { greeting: CLOUD_GREETING },
        transfers: { specialists: { description: 'live', context: 'default', ingroup: 'SOLARXFER' } },
        media: { rtpPortMin: 39200, rtpPortMax: 39399 },
      });
      const { record } = await simulate({ config, logger: pino({ level: 'silent' }), script: CLOUD_SCRIPT });

      expect(record.endReason).toBe('transferred');
      expect(record.providers).toMatchObject({ stt: expect.stringContaining('deepgram'), tts: expect.stringContaining('elevenlabs') });
      for (const line of record.simulation.callerLines) expect(line.heard, line.said).toBe(line.said);
      const cut = record.transcript.find((t) => t.interrupted);
      expect(cut?.intendedText).toMatch(/quick minute\?$/);
      expect(record.simulation.bargeInStopMs).toHaveLength(1);

      // every turn went STT final -> first model text -> first TTS audio -> first packet, in that order,
      // each stage at least the protocol server's configured delay after the one before
      expect(record.metrics.turns).toHaveLength(3);
      for (const t of record.metrics.turns) {
        expect(t.sttFinalMs! - t.callerEndMs).toBeGreaterThanOrEqual(REALISTIC.sttFinalMs);
        expect(t.llmFirstTokenMs! - t.sttFinalMs!).toBeGreaterThanOrEqual(REALISTIC.llmFirstTokenMs);
        expect(t.ttsFirstAudioMs! - t.llmFirstTokenMs!).toBeGreaterThanOrEqual(REALISTIC.ttsFirstAudioMs);
        expect(t.firstReplyMs!).toBeGreaterThanOrEqual(t.ttsFirstAudioMs!);
      }
      // per-call connections are closed at call end
      await new Promise((r) => setTimeout(r, 300));
      expect(servers.deepgram.openSockets).toBe(0);
      expect(servers.elevenlabs.openSockets).toBe(0);
    } finally {
      await servers.stop();
    }
  }, 120_000);
});
