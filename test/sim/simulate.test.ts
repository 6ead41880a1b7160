/**
 * The README's first command, end to end: a real call over loopback RTP on the embedded stack
 * (pocketsphinx, flite, WebRTC VAD, the scripted campaign). Checks what the issue asks of the demo
 * from the outputs themselves (record and WAV), not from internal events.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.ts';
import { parseWavHeader } from '../../src/records/wav.ts';
import { simulate } from '../../src/sim/simulate.ts';

describe('simulated call (embedded default)', () => {
  it('walks the campaign to a transfer with one barge-in and one DTMF digit, and writes the WAV and record', async () => {
    const out = mkdtempSync(join(tmpdir(), 'sim-'));
    const config = validateConfig({
      transfers: { specialists: { description: 'live', context: 'default', ingroup: 'SOLARXFER' } },
      media: { rtpPortMin: 39000, rtpPortMax: 39199 },
    });
    const { record, wavPath, jsonPath } = await simulate({ config, logger: pino({ level: 'silent' }), out });

    expect(record.endReason).toBe('transferred');
    expect(record.disposition).toBe('XFER');
    expect(record.actions.map((a) => a.action.type)).toEqual(['set_disposition', 'transfer']);
    // every caller line was understood as said
    for (const line of record.simulation.callerLines) expect(line.heard, line.said).toBe(line.said);
    expect(record.dtmf.map((d) => d.digit)).toEqual(['1']);
    // the barge-in cut the agent's reply and only what was heard stayed
    const cut = record.transcript.find((t) => t.interrupted);
    expect(cut).toBeDefined();
    expect(cut!.intendedText!.startsWith(cut!.text)).toBe(true);
    expect(cut!.text.length).toBeLessThan(cut!.intendedText!.length);
    expect(record.simulation.bargeInStopMs).toHaveLength(1);
    expect(record.simulation.turnLatencyMs.length).toBeGreaterThanOrEqual(3);

    const wav = readFileSync(wavPath!);
    const h = parseWavHeader(wav.subarray(0, 44));
    expect(h).toMatchObject({ channels: 2, sampleRate: 8000, bitsPerSample: 16 });
    expect(wav.length - 44).toBe(h.dataBytes);
    // seconds of audio in the WAV match the call's duration within a second
    expect(Math.abs(h.dataBytes / 32000 - record.simulation.durationMs / 1000)).toBeLessThan(1.5);
    const json = JSON.parse(readFileSync(jsonPath!, 'utf8'));
    for (const k of ['callId', 'startedAt', 'endedAt', 'disposition', 'transcript', 'metrics']) expect(json).toHaveProperty(k);
    expect(json.transcript[0]).toMatchObject({ role: 'agent', startMs: expect.any(Number), endMs: expect.any(Number) });
  }, 180_000);
});
