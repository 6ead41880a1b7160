import { describe, expect, it } from 'vitest';
import { formatSoakReport, runSoak } from '../../bench/soak-run.ts';

describe('soak (short: the full 10,000-call run is `ai-bridge bench --soak`)', () => {
  it('200 real calls in waves and in sequence, hung up in every state, leave no sockets, ports, subscribers or heap behind', async () => {
    const r = await runSoak({ calls: 200, wave: 90, seed: 99, maxSeconds: 90, sequentialShare: 0.1, longLifeMs: [1500, 4000], portMin: 45000, portMax: 45999 });
    expect(r.failures, formatSoakReport(r)).toEqual([]);
    expect(r.callsRun).toBe(200);
    expect(r.sequential).toBe(20);
    expect(r.after.portsInUse).toBe(0);
    expect(r.after.liveCalls).toBe(0);
    expect(r.after.activeHandles).toBeLessThanOrEqual(r.baseline.activeHandles);
    expect(r.after.tickerSubscribers).toBe(r.baseline.tickerSubscribers);
    // hang-ups landed in more than one conversation state
    expect(Object.keys(r.hangupStates).length).toBeGreaterThanOrEqual(2);
    expect(r.endReasons['caller-hangup']).toBe(200);
  }, 120_000);
});
