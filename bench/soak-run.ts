/**
 * Soak: many short real calls (real VAD, media session, sockets) opened and hung up in waves of
 * `wave` concurrent calls, then a run of calls strictly one after another. Each call is hung up at a
 * random moment, so hang-ups land in every conversation state. Afterwards memory, handles, ports and
 * ticker subscribers must be back to the baseline taken after a warm-up wave.
 */
import { readdirSync } from 'node:fs';
import { LiveCalls, type LiveCall } from './live-calls.ts';
import { forceGc, prng } from './stats.ts';

export interface SoakOptions {
  calls: number;
  wave: number;
  seed: number;
  maxSeconds: number;
  /** Lifetime range of the 60% of calls that outlive the greeting (default 4.5-10 s). */
  longLifeMs?: readonly [number, number];
  /** Share of `calls` run one at a time after the waves (default 0.1). */
  sequentialShare?: number;
  portMin?: number;
  portMax?: number;
  log?: (line: string) => void;
}

export interface SoakSnapshot {
  rssMiB: number;
  heapUsedMiB: number;
  activeHandles: number;
  timers: number;
  portsInUse: number;
  /** The process's open file descriptors: batched-UDP sockets are not libuv handles, but they are fds. */
  openFds: number;
  tickerSubscribers: number;
  liveCalls: number;
}

export interface SoakReport {
  ok: boolean;
  failures: string[];
  seed: number;
  callsRun: number;
  waves: number;
  sequential: number;
  seconds: number;
  baseline: SoakSnapshot;
  after: SoakSnapshot;
  peak: SoakSnapshot;
  hangupStates: Record<string, number>;
  endReasons: Record<string, number>;
}

const MiB = 1024 * 1024;
const HEAP_TOLERANCE_MIB = 8;

async function snapshot(live: LiveCalls): Promise<SoakSnapshot> {
  await forceGc();
  const m = process.memoryUsage();
  const resources = process.getActiveResourcesInfo();
  return {
    rssMiB: Math.round((m.rss / MiB) * 10) / 10,
    heapUsedMiB: Math.round((m.heapUsed / MiB) * 10) / 10,
    // libuv resources other than timers (sockets, file and DNS requests, ...)
    activeHandles: resources.filter((r) => r !== 'Timeout' && r !== 'Immediate').length,
    // timers: the ticker's own, plus any a leak left behind
    timers: resources.filter((r) => r === 'Timeout').length,
    portsInUse: live.pool.inUse,
    openFds: readdirSync('/proc/self/fd').length,
    tickerSubscribers: live.ticker.size,
    liveCalls: live.calls.size,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const rnd = prng(o.seed);
  const live = new LiveCalls({ portMin: o.portMin ?? 48000, portMax: o.portMax ?? 49999 });
  const hangupStates: Record<string, number> = {};
  const endReasons: Record<string, number> = {};
  const failures: string[] = [];
  const t0 = performance.now();
  const deadline = t0 + o.maxSeconds * 1000;
  let callsRun = 0;
  let waves = 0;
  let sequential = 0;

  const hangUp = async (l: LiveCall): Promise<void> => {
    const state = l.call.currentState;
    hangupStates[state] = (hangupStates[state] ?? 0) + 1;
    await live.close(l, 'caller-hangup');
    const reason = l.ended ?? 'not-ended';
    endReasons[reason] = (endReasons[reason] ?? 0) + 1;
  };

  /** One call that lives `lifeMs` then is hung up by its caller. */
  const oneCall = async (lifeMs: number): Promise<void> => {
    const l = await live.open();
    await sleep(lifeMs);
    await hangUp(l);
    callsRun++;
  };

  live.start();
  try {
    // warm-up wave: loads the VAD's WASM, JIT-compiles the hot path, fills the greeting cache
    await Promise.all(Array.from({ length: Math.min(o.wave, 50) }, () => oneCall(300)));
    callsRun = 0;
    for (const k of Object.keys(hangupStates)) delete hangupStates[k];
    for (const k of Object.keys(endReasons)) delete endReasons[k];
    await sleep(200);
    const baseline = await snapshot(live);
    let peak = baseline;
    log(`soak: baseline rss ${baseline.rssMiB} MiB, heap ${baseline.heapUsedMiB} MiB, handles ${baseline.activeHandles}`);

    const seqTarget = Math.round(o.calls * (o.sequentialShare ?? 0.1));
    const waveTarget = o.calls - seqTarget;
    while (callsRun < waveTarget && performance.now() < deadline) {
      const n = Math.min(o.wave, waveTarget - callsRun);
      // 40% hung up during the greeting (20-800 ms), the rest 4.5-10 s in, mid-conversation
      // (the callers talk over the agent, so that lands in listening, thinking and speaking)
      const [lo, hi] = o.longLifeMs ?? [4500, 10_000];
      await Promise.all(Array.from({ length: n }, () => oneCall(rnd() < 0.4 ? 20 + Math.floor(rnd() * 780) : lo + Math.floor(rnd() * (hi - lo)))));
      waves++;
      if (waves % 5 === 0) {
        const s = await snapshot(live);
        if (s.rssMiB > peak.rssMiB) peak = s;
        log(`  wave ${waves}: ${callsRun} calls, rss ${s.rssMiB} MiB, heap ${s.heapUsedMiB} MiB, handles ${s.activeHandles}, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
    }
    while (sequential < seqTarget && performance.now() < deadline) {
      await oneCall(20 + Math.floor(rnd() * 80));
      sequential++;
    }
    await sleep(300);
    const after = await snapshot(live);
    const seconds = (performance.now() - t0) / 1000;
    if (callsRun < o.calls) failures.push(`time bound hit: ${callsRun} of ${o.calls} calls in ${o.maxSeconds} s`);
    if (after.activeHandles > baseline.activeHandles) failures.push(`handles leaked: ${baseline.activeHandles} -> ${after.activeHandles}`);
    if (after.timers > baseline.timers) failures.push(`timers leaked: ${baseline.timers} -> ${after.timers}`);
    if (after.portsInUse !== 0) failures.push(`${after.portsInUse} RTP ports still in use`);
    if (after.openFds > baseline.openFds) failures.push(`file descriptors leaked: ${baseline.openFds} -> ${after.openFds}`);
    if (after.tickerSubscribers !== baseline.tickerSubscribers) failures.push(`ticker subscribers ${baseline.tickerSubscribers} -> ${after.tickerSubscribers}`);
    if (after.liveCalls !== 0) failures.push(`${after.liveCalls} calls still live`);
    if (after.heapUsedMiB - baseline.heapUsedMiB > HEAP_TOLERANCE_MIB) {
      failures.push(`heap grew ${(after.heapUsedMiB - baseline.heapUsedMiB).toFixed(1)} MiB (tolerance ${HEAP_TOLERANCE_MIB})`);
    }
    if ((endReasons['caller-hangup'] ?? 0) !== callsRun) failures.push(`end reasons ${JSON.stringify(endReasons)}: expected every call to end by caller-hangup`);
    log(`soak: ${callsRun} calls (${waves} waves of up to ${o.wave}, then ${sequential} one at a time) in ${seconds.toFixed(0)} s`);
    return { ok: failures.length === 0, failures, seed: o.seed, callsRun, waves, sequential, seconds, baseline, after, peak, hangupStates, endReasons };
  } finally {
    live.stop();
    await live.closeAll();
  }
}

export function formatSoakReport(r: SoakReport): string {
  const s = (x: SoakSnapshot): string =>
    `rss ${x.rssMiB} MiB, heap ${x.heapUsedMiB} MiB, handles ${x.activeHandles}, timers ${x.timers}, ports ${x.portsInUse}, fds ${x.openFds}, ticker subs ${x.tickerSubscribers}, live calls ${x.liveCalls}`;
  return [
    `soak ${r.ok ? 'PASSED' : 'FAILED'}: ${r.callsRun} calls (seed ${r.seed}) in ${r.seconds.toFixed(0)} s: ${r.waves} waves, then ${r.sequential} in sequence`,
    `  baseline: ${s(r.baseline)}`,
    `  peak:     ${s(r.peak)}`,
    `  after:    ${s(r.after)}`,
    `  hung up in state: ${Object.entries(r.hangupStates).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `  end reasons: ${Object.entries(r.endReasons).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    ...r.failures.map((f) => `  FAIL: ${f}`),
  ].join('\n');
}
