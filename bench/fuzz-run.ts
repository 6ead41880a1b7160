/**
 * RTP fuzzing against live calls: `calls` real calls talk with well-behaved callers while seeded
 * random/mutated datagrams are thrown at a quarter of them (the targets), from the target's own
 * latched caller address (so they reach the parser, DTMF and jitter buffer) and from a stranger's
 * address. Afterwards: the process is alive, no exception reached the socket/ticker handlers, every
 * call is still up, the untouched calls saw no drop of any kind and kept their audio both ways, and
 * the targets' counters account for the garbage. Bounded by packet count and wall time.
 */
import dgram from 'node:dgram';
import { LiveCalls, type LiveCall } from './live-calls.ts';
import { RtpFuzzer, FUZZ_KINDS, type FuzzKind } from './rtp-fuzz.ts';
import { prng } from './stats.ts';

export interface FuzzOptions {
  packets: number;
  calls: number;
  seed: number;
  maxSeconds: number;
  portMin?: number;
  portMax?: number;
  log?: (line: string) => void;
}

export interface FuzzReport {
  ok: boolean;
  failures: string[];
  seed: number;
  packetsSent: number;
  byKind: Record<FuzzKind, number>;
  fromStranger: number;
  seconds: number;
  calls: number;
  targets: number;
  /** Counters summed over the targeted calls / the untouched calls. */
  targetCounters: Record<string, number>;
  /** Fuzz plus the targets' own callers' datagrams: compare with targetCounters.packetsIn (the rest died in the kernel). */
  datagramsToTargets: number;
  controlCounters: Record<string, number>;
  tickerErrors: number;
  uncaught: number;
  controlAudioFramesMin: number;
  controlRepliesMin: number;
}

// libuv reads at most 32 datagrams per socket per loop turn: bigger bursts would mostly die in the
// kernel's receive buffer instead of reaching the parser.
const BATCH = 32;
const DROP_KEYS = ['oversize', 'kernelDrops', 'malformed.RTP_TRUNCATED', 'malformed.RTP_BAD_VERSION', 'malformed.RTP_BAD_PADDING', 'malformed.RTP_BAD_EXTENSION', 'wrongSource', 'unknownPayload', 'duplicate', 'late', 'overflow', 'ssrcChanges'];

function sum(list: LiveCall[], at: Map<number, Record<string, number>>): Record<string, number> {
  const s: Record<string, number> = {};
  for (const l of list) {
    const base = at.get(l.index) ?? {};
    for (const [k, v] of Object.entries(l.counters())) s[k] = (s[k] ?? 0) + v - (base[k] ?? 0);
  }
  return s;
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const log = o.log ?? (() => {});
  const rnd = prng(o.seed);
  const fuzzer = new RtpFuzzer(prng(o.seed ^ 0x9e3779b9));
  let uncaught = 0;
  const onUncaught = (err: unknown): void => {
    uncaught++;
    log(`UNCAUGHT: ${err instanceof Error ? err.stack : String(err)}`);
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const live = new LiveCalls({ portMin: o.portMin ?? 46000, portMax: o.portMax ?? 47999 });
  const stranger = dgram.createSocket('udp4');
  await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()));
  stranger.on('error', () => {});
  const failures: string[] = [];
  const byKind = Object.fromEntries(FUZZ_KINDS.map((k) => [k, 0])) as Record<FuzzKind, number>;
  let fromStranger = 0;
  let sent = 0;
  const t0 = performance.now();
  try {
    live.start();
    const all: LiveCall[] = [];
    for (let i = 0; i < o.calls; i++) all.push(await live.open());
    const nTargets = Math.max(1, Math.floor(o.calls / 4));
    const targets = all.slice(0, nTargets);
    const controls = all.slice(nTargets);
    // let every call latch its caller and play its greeting before the garbage starts
    await new Promise((r) => setTimeout(r, 1500));
    const before = new Map(all.map((l) => [l.index, l.counters()]));
    const receivedBefore = new Map(all.map((l) => [l.index, l.received]));
    const legitSentBefore = targets.reduce((a, l) => a + l.sent, 0);
    const deadline = t0 + o.maxSeconds * 1000;
    log(`fuzz: ${o.packets} packets at ${nTargets} of ${o.calls} live calls, seed ${o.seed}`);
    let nextLog = 100_000;
    while (sent < o.packets && performance.now() < deadline) {
      const n = Math.min(BATCH, o.packets - sent);
      for (let i = 0; i < n; i++) {
        const target = targets[Math.floor(rnd() * targets.length)];
        const p = fuzzer.next();
        byKind[p.kind]++;
        if (rnd() < 0.25) {
          fromStranger++;
          stranger.send(p.data, target.media.localPort, '127.0.0.1');
        } else {
          target.callerSock.send(p.data);
        }
      }
      sent += n;
      if (sent >= nextLog) {
        log(`  ${sent} sent, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        nextLog += 100_000;
      }
      // Batched UDP reads only as the ticks wake (every 5 ms): at this rate the targets' queues
      // would overflow in the kernel between reads (counted as kernelDrops) and most of the fuzz
      // would never reach the parser. Read after each batch, as the dgram sockets read themselves.
      live.udp?.poll();
      // yield to the receive side and the ticker between batches (setImmediate runs after I/O)
      await new Promise((r) => setImmediate(r));
    }
    // a few ticks for the last datagrams to be read; a short run also waits (bounded) until every
    // untouched call has answered its caller at least once since the fuzz began
    await new Promise((r) => setTimeout(r, 500));
    const answerBy = performance.now() + 8000;
    while (performance.now() < answerBy && controls.some((l) => l.received === receivedBefore.get(l.index))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const targetCounters = sum(targets, before);
    const datagramsToTargets = sent + targets.reduce((a, l) => a + l.sent, 0) - legitSentBefore;
    const controlCounters = sum(controls, before);
    if (sent < o.packets) failures.push(`time bound hit: only ${sent} of ${o.packets} packets sent in ${o.maxSeconds} s`);
    if (uncaught > 0) failures.push(`${uncaught} uncaught exceptions / unhandled rejections`);
    if (live.ticker.counters.errors > 0) failures.push(`${live.ticker.counters.errors} ticker subscriber exceptions`);
    for (const k of ['handlerErrors', 'callErrors']) {
      const v = (targetCounters[k] ?? 0) + (controlCounters[k] ?? 0);
      if (v > 0) failures.push(`${v} ${k}: an exception escaped into the media handlers`);
    }
    for (const l of all) if (l.ended) failures.push(`call ${l.index} ended (${l.ended}) during the fuzz`);
    for (const k of DROP_KEYS) {
      if ((controlCounters[k] ?? 0) > 0 && !['late', 'overflow'].includes(k)) failures.push(`untargeted calls show ${controlCounters[k]} ${k}`);
    }
    const dropsAtTargets = DROP_KEYS.reduce((a, k) => a + (targetCounters[k] ?? 0), 0);
    if (dropsAtTargets === 0) failures.push('the targeted calls counted no drops at all');
    let controlAudioFramesMin = Infinity;
    let controlRepliesMin = Infinity;
    for (const l of controls) {
      const c = l.counters();
      controlAudioFramesMin = Math.min(controlAudioFramesMin, c.framesAudio - (before.get(l.index)?.framesAudio ?? 0));
      controlRepliesMin = Math.min(controlRepliesMin, l.received - (receivedBefore.get(l.index) ?? 0));
    }
    const seconds = (performance.now() - t0) / 1000;
    // the untouched calls kept hearing their caller and kept talking back through the storm
    if (controls.length && controlAudioFramesMin < 25) failures.push(`an untargeted call received only ${controlAudioFramesMin} audio frames during the fuzz`);
    if (controls.length && controlRepliesMin < 1) failures.push('an untargeted call sent no audio back during the fuzz');
    return {
      ok: failures.length === 0,
      failures,
      seed: o.seed,
      packetsSent: sent,
      byKind,
      fromStranger,
      seconds,
      calls: o.calls,
      targets: nTargets,
      targetCounters,
      controlCounters,
      datagramsToTargets,
      tickerErrors: live.ticker.counters.errors,
      uncaught,
      controlAudioFramesMin: Number.isFinite(controlAudioFramesMin) ? controlAudioFramesMin : 0,
      controlRepliesMin: Number.isFinite(controlRepliesMin) ? controlRepliesMin : 0,
    };
  } finally {
    live.stop();
    await live.closeAll();
    await new Promise<void>((r) => stranger.close(() => r()));
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
}

/** Human-readable summary for the CLI and RESULTS.md. */
export function formatFuzzReport(r: FuzzReport): string {
  const interesting = (c: Record<string, number>): string =>
    Object.entries(c)
      .filter(([k, v]) => v !== 0 && !k.startsWith('bytes'))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  return [
    `fuzz ${r.ok ? 'PASSED' : 'FAILED'}: ${r.packetsSent} packets (seed ${r.seed}) in ${r.seconds.toFixed(1)} s at ${r.targets} of ${r.calls} live calls; ${r.fromStranger} from a stranger's address`,
    `  by kind: ${Object.entries(r.byKind).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `  datagrams to the targets ${r.datagramsToTargets}, read from their sockets ${r.targetCounters.packetsIn ?? 0}`,
    `  targeted calls: ${interesting(r.targetCounters)}`,
    `  untargeted calls: ${interesting(r.controlCounters)}`,
    `  untargeted calls, least audio frames received during fuzz: ${r.controlAudioFramesMin}; least packets sent back: ${r.controlRepliesMin}`,
    `  ticker errors ${r.tickerErrors}, uncaught ${r.uncaught}`,
    ...r.failures.map((f) => `  FAIL: ${f}`),
  ].join('\n');
}
