import { describe, expect, it } from 'vitest';
import { runFaults } from '../../bench/faults-run.ts';

describe('faults on live calls', () => {
  it('RTP gap, provider failures and stalls, hang-ups in every state (transferring too): designed outcome each, nothing leaked', async () => {
    const lines: string[] = [];
    const r = await runFaults({ rtpGapMs: 10_000, portMin: 43000, portMax: 43999, log: (l) => lines.push(l) });
    const failed = r.outcomes.filter((o) => !o.ok);
    expect(failed, lines.join('\n')).toEqual([]);
    expect(r.leaks, lines.join('\n')).toEqual([]);
    expect(r.outcomes.map((o) => o.scenario).sort()).toEqual([
      'controls-untouched', 'hangup-in-greeting', 'hangup-in-listening', 'hangup-in-speaking', 'hangup-in-thinking', 'hangup-in-transferring',
      'llm-fails', 'llm-fails-caller-talks', 'rtp-stops', 'stt-disconnect', 'tts-fails', 'tts-stall',
    ]);
    expect(r.ok).toBe(true);
  }, 60_000);
});
