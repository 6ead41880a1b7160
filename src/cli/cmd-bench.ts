/**
 * `ai-bridge bench`: the load benchmark (default), or the reliability runs with --fuzz /
 * --fuzz-events [--count N --seed S --max-seconds T] / --soak / --faults / --floor [--calls N] (the
 * UDP floor alone; the load benchmark measures it first unless --no-floor).
 * Load benchmark flags: `--tick-slots N` runs the daemon side with media.tickSlots N, `--rtp-io M`
 * with media.rtpIo M (auto, native or dgram), `--guard-cpu-pct P` its guard with ops.overload.cpuPct P; `--ramp R`
 * offers each step's calls at R per second through the overload guard. Past the limit the run ends
 * with one such ramp, at 20/s, of 1.3 times that step's calls (unless --no-ramp).
 * See bench/RESULTS.md for what each measures and the numbers on the reference box.
 */
import { resolve } from 'node:path';
import { BridgeError } from '../errors.ts';
import type { RtpIoMode } from '../media/batched-udp.ts';
import { flagNumber, flagString, type ParsedArgs } from './args.ts';

const DEFAULT_STEPS = [50, 200, 500, 1000, 1500];
/** The closing ramp's rate past the limit (calls offered per second). */
const RAMP_AFTER_PER_S = 20;

function parseSteps(v: string | undefined): number[] {
  if (!v) return DEFAULT_STEPS;
  const steps = v.split(',').map((s) => Number(s.trim()));
  if (steps.some((n) => !Number.isInteger(n) || n < 1 || n > 5000)) {
    throw new BridgeError('CONFIG_INVALID', `--steps expects comma-separated call counts between 1 and 5000, got "${v}"`, { steps: v });
  }
  return steps;
}

function parseTickSlots(v: number | undefined): number | undefined {
  if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 10)) {
    throw new BridgeError('CONFIG_INVALID', `--tick-slots expects an integer from 1 to 10 (media.tickSlots), got ${v}`, { tickSlots: v });
  }
  return v;
}

function parseRtpIo(v: string | undefined): RtpIoMode | undefined {
  if (v === undefined) return undefined;
  if (v !== 'auto' && v !== 'native' && v !== 'dgram') {
    throw new BridgeError('CONFIG_INVALID', `--rtp-io expects auto, native or dgram (media.rtpIo), got "${String(v)}"`, { rtpIo: String(v) });
  }
  return v;
}

function parseGuardCpuPct(v: number | undefined): number | undefined {
  if (v !== undefined && !(v >= 10 && v <= 100)) {
    throw new BridgeError('CONFIG_INVALID', `--guard-cpu-pct expects a share of one core from 10 to 100 (ops.overload.cpuPct), got ${v}`, { guardCpuPct: v });
  }
  return v;
}

function parseRamp(v: number | undefined): number | undefined {
  if (v !== undefined && !(v > 0 && v <= 500)) {
    throw new BridgeError('CONFIG_INVALID', `--ramp expects calls per second, more than 0 and at most 500, got ${v}`, { ramp: v });
  }
  return v;
}

export async function run(args: ParsedArgs): Promise<number> {
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const seed = flagNumber(args, 'seed') ?? 20261125;
  if (args.flags.fuzz) {
    const { runFuzz, formatFuzzReport } = await import('../../bench/fuzz-run.ts');
    const r = await runFuzz({
      packets: flagNumber(args, 'packets') ?? 1_000_000,
      calls: flagNumber(args, 'calls') ?? 20,
      seed,
      maxSeconds: flagNumber(args, 'max-seconds') ?? 600,
      log,
    });
    log(formatFuzzReport(r));
    return r.ok ? 0 : 1;
  }
  if (args.flags['fuzz-events']) {
    const { runEventsFuzz, formatEventsFuzzReport } = await import('../../bench/fuzz-events.ts');
    const r = await runEventsFuzz({
      count: flagNumber(args, 'count') ?? 1_000_000,
      seed,
      maxSeconds: flagNumber(args, 'max-seconds') ?? 240,
      controls: flagNumber(args, 'calls') ?? 4,
      log,
    });
    log(formatEventsFuzzReport(r));
    return r.ok ? 0 : 1;
  }
  if (args.flags.faults) {
    const { runFaults } = await import('../../bench/faults-run.ts');
    const r = await runFaults({ rtpGapMs: flagNumber(args, 'rtp-gap-ms') ?? 10_000, log });
    log(`faults ${r.ok ? 'PASSED' : 'FAILED'}`);
    return r.ok ? 0 : 1;
  }
  if (args.flags.soak) {
    const { runSoak, formatSoakReport } = await import('../../bench/soak-run.ts');
    const r = await runSoak({
      calls: flagNumber(args, 'calls') ?? 10_000,
      wave: flagNumber(args, 'wave') ?? 200,
      seed,
      maxSeconds: flagNumber(args, 'max-seconds') ?? 900,
      log,
    });
    log(formatSoakReport(r));
    return r.ok ? 0 : 1;
  }
  if (args.flags.floor) {
    const { measureUdpFloors } = await import('../../bench/udp-floor.ts');
    const { formatUdpFloor } = await import('../../bench/load-bench.ts');
    const floors = await measureUdpFloors({ sockets: flagNumber(args, 'calls') ?? 1000, seconds: flagNumber(args, 'duration') ?? 10 });
    for (const f of [floors.dgram, floors.batched]) if (f) log(formatUdpFloor(f));
    return 0;
  }
  const { runLoadBench, formatTable } = await import('../../bench/load-bench.ts');
  const out = resolve(flagString(args, 'out') ?? 'bench/results.json');
  const svg = out.replace(/\.json$/, '') + '.svg';
  const requested = parseSteps(flagString(args, 'steps'));
  const rampPerS = parseRamp(flagNumber(args, 'ramp'));
  const { steps, ramp } = await runLoadBench({
    steps: requested,
    durationS: flagNumber(args, 'duration') ?? 25,
    warmupS: flagNumber(args, 'warmup') ?? 8,
    out,
    svg,
    portMin: flagNumber(args, 'port-min') ?? 42000,
    portMax: flagNumber(args, 'port-max') ?? 49999,
    tickSlots: parseTickSlots(flagNumber(args, 'tick-slots')),
    rtpIo: parseRtpIo(flagString(args, 'rtp-io')),
    guardCpuPct: parseGuardCpuPct(flagNumber(args, 'guard-cpu-pct')),
    rampPerS,
    // Past the limit, one ramp through the overload guard (unless --no-ramp, or every step is one).
    rampAfterPerS: args.flags['no-ramp'] || rampPerS ? undefined : RAMP_AFTER_PER_S,
    seed,
    profile: Boolean(args.flags.profile),
    floorSockets: args.flags['no-floor'] ? 0 : Math.min(1000, Math.max(...requested)),
    log,
  });
  log('');
  log(formatTable(steps));
  if (ramp) log(`\nwith the overload guard deciding (--ramp ${RAMP_AFTER_PER_S} after the limit):\n${formatTable([ramp])}`);
  log(`\nwrote ${out} and ${svg}`);
  return steps.some((s) => s.error) || ramp?.error ? 1 : 0;
}
