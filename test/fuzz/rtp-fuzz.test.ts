import { describe, expect, it } from 'vitest';
import { formatFuzzReport, runFuzz } from '../../bench/fuzz-run.ts';
import { RtpFuzzer } from '../../bench/rtp-fuzz.ts';
import { prng } from '../../bench/stats.ts';

describe('RTP fuzz (smoke: the full 1,000,000-packet run is `ai-bridge bench --fuzz`)', () => {
  it('generates the same packets for the same seed', () => {
    const a = new RtpFuzzer(prng(7));
    const b = new RtpFuzzer(prng(7));
    for (let i = 0; i < 200; i++) expect(a.next().data.equals(b.next().data)).toBe(true);
    const c = new RtpFuzzer(prng(8));
    const differs = Array.from({ length: 50 }, () => !a.next().data.equals(c.next().data)).some(Boolean);
    expect(differs).toBe(true);
  });

  it('20,000 random and mutated packets at live calls: no crash, other calls untouched, drops counted', async () => {
    const r = await runFuzz({ packets: 20_000, calls: 8, seed: 424242, maxSeconds: 60, portMin: 44000, portMax: 44999 });
    expect(r.failures, formatFuzzReport(r)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.packetsSent).toBe(20_000);
    expect(r.uncaught).toBe(0);
    // every category of garbage shows up in the targets' counters
    const t = r.targetCounters;
    expect(t['malformed.RTP_TRUNCATED']).toBeGreaterThan(0);
    expect(t['malformed.RTP_BAD_VERSION']).toBeGreaterThan(0);
    expect(t['malformed.RTP_BAD_PADDING']).toBeGreaterThan(0);
    expect(t['malformed.RTP_BAD_EXTENSION']).toBeGreaterThan(0);
    expect(t.wrongSource).toBeGreaterThan(0);
    expect(t.unknownPayload).toBeGreaterThan(0);
    // nothing of it reached the untargeted calls
    const c = r.controlCounters;
    for (const k of ['malformed.RTP_TRUNCATED', 'malformed.RTP_BAD_VERSION', 'malformed.RTP_BAD_PADDING', 'malformed.RTP_BAD_EXTENSION', 'wrongSource', 'unknownPayload', 'duplicate', 'dtmfDigitsIn', 'handlerErrors', 'callErrors']) {
      expect(c[k] ?? 0, k).toBe(0);
    }
    expect(r.controlAudioFramesMin).toBeGreaterThan(25);
  }, 90_000);
});
