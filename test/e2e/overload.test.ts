/**
 * Overload admission at daemon level, with the real agent: while the event loop is blocked for
 * longer than ops.overload.eventLoopP99Ms, the guard turns admission off; a new Asterisk caller is
 * then handed back to the dialplan (AI_BRIDGE_STATUS=OVER_LIMIT, AI_BRIDGE_REFUSED=overloaded) with
 * nothing created for it, the call already running keeps going, /readyz says why, and the metrics
 * count the refusal.
 */
import { describe, expect, it } from 'vitest';
import { DRAIN_VARIABLE } from '../../src/ops/drain.ts';
import { OVERLOAD_VALUE } from '../../src/ops/overload.ts';
import { FakeAri } from '../helpers/fake-ari.ts';
import { startTestDaemon, waitFor, closeAfterEach } from './helpers.ts';

const closing = closeAfterEach();

/** Hold the event loop as an overloaded media thread would. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('e2e: overload admission with the real agent', () => {
  it('refuses a new caller while the loop is behind, keeps the running call, says so on /readyz and in the metrics', async () => {
    const fake = closing(await new FakeAri().start());
    const rig = await startTestDaemon(
      {
        asterisk: { url: fake.url, username: 'aibridge', password: 'test-secret' },
        media: { rtpPortMin: 38200, rtpPortMax: 38219 },
        // The loop-delay path, end to end (the CPU share is unit-tested): a CI box's start-up can keep
        // the main thread busy for two 200 ms windows, so its threshold is out of reach here.
        ops: { overload: { windowMs: 200, enterWindows: 2, exitWindows: 100, eventLoopP99Ms: 40, cpuPct: 100 } },
      },
      { metricsPort0: true },
    );
    closing(rig);
    const { daemon } = rig;
    const first = fake.startCall({ callerNumber: '5550001111' });
    await waitFor(() => (fake.rtpFor(first.id)?.received.length ?? 0) >= 10, 'first call greeting', 15_000);
    // (A call's set-up can hold the loop for one window, as here: enterWindows 2 forgives that.)
    expect(daemon.overload.overloaded).toBe(false);

    // Held over and over, as a loop that cannot keep up is: every window is a bad one.
    for (let i = 0; i < 40 && !daemon.overload.overloaded; i++) {
      block(100);
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(daemon.overload.overloaded).toBe(true);
    expect(daemon.overload.reading.loopP99Ms).toBeGreaterThan(40);

    const second = fake.startCall({ callerNumber: '5550002222' });
    await waitFor(() => fake.channels.get(second.id)?.continuedTo !== undefined, 'hand-back', 5000);
    const vars = fake.channels.get(second.id)!.vars;
    expect(vars.get(DRAIN_VARIABLE)).toBe(OVERLOAD_VALUE);
    expect(vars.get('AI_BRIDGE_STATUS')).toBe('OVER_LIMIT');
    expect(fake.bridges.size).toBe(1); // only the first call's
    expect(fake.unicastChannels()).toHaveLength(1);
    expect(daemon.activeCalls()).toBe(1);
    const heard = fake.rtpFor(first.id)!.received.length;
    await waitFor(() => fake.rtpFor(first.id)!.received.length > heard + 5, 'the running call keeps its audio');

    const ready = await fetch(`${daemon.ops!.url}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { checks: Array<{ name: string; ok: boolean; detail: string }> };
    expect(body.checks.find((c) => c.name === 'media load')).toMatchObject({ ok: false, detail: expect.stringMatching(/^refusing new calls: \d+ ticks skipped, event-loop delay p99 \d+\.\d ms/) });
    let text = '';
    for (let i = 0; i < 30 && !/ai_bridge_calls_refused_overload_total 1\b/.test(text); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await (await fetch(`${daemon.ops!.url}/metrics`)).text();
    }
    expect(text).toMatch(/^ai_bridge_media_overloaded 1$/m);
    expect(text).toMatch(/^ai_bridge_calls_refused_overload_total 1$/m);
  }, 30_000);
});
