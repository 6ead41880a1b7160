import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chart, runLoadBench } from '../../bench/load-bench.ts';
import { parseArgs } from '../../src/cli/args.ts';
import { run as runBenchCommand } from '../../src/cli/cmd-bench.ts';
import { isBridgeError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'ai-bridge-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run bench (one small step)', () => {
  it('runs real calls over loopback and writes the JSON the issue asks for, with the UDP floor and a chart', async () => {
    const out = join(dir, 'results.json');
    const lines: string[] = [];
    const r = await runLoadBench({
      steps: [10], durationS: 10, warmupS: 4, out, svg: join(dir, 'results.svg'),
      portMin: 65200, portMax: 65499, // clear of other tests' pools and of the ephemeral range
      seed: 7, profile: false, floorSockets: 10, log: (l) => lines.push(l),
    });
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(Object.keys(json)).toEqual(expect.arrayContaining(['machine', 'targets', 'udpFloor', 'steps']));
    const s = json.steps[0];
    for (const k of ['calls', 'cpuPerCallPct', 'rssPerCallMiB', 'jitterP50Ms', 'jitterP99Ms', 'internalLoss', 'addedLatencyP50Ms', 'bargeInP95Ms', 'eventLoopP99Ms']) {
      expect(s[k], `${k}\n${lines.join('\n')}`).not.toBeNull();
    }
    expect(s.error, lines.join('\n')).toBeUndefined();
    expect(s.calls).toBe(10);
    expect(s.turns).toBeGreaterThan(0); // callers spoke and got replies in the window
    // a reply comes after the configured silence wait (450 ms), and not seconds later
    expect(s.turnLatencyP50Ms).toBeGreaterThan(450);
    expect(s.turnLatencyP50Ms).toBeLessThan(1500);
    expect(s.internalLoss).toBeLessThan(0.01);
    // the host's noise during the window, read from /proc/stat
    if (process.platform === 'linux') expect(s.stealPct).toBeGreaterThanOrEqual(0);
    if (process.platform === 'linux') expect(s.stealPct).toBeLessThan(100);
    // the daemon's overload guard judged the 10 s window in its 1 s windows (what it decides depends on the box's load)
    expect(s.guardWindows).toBeGreaterThanOrEqual(7);
    expect(s.guardWindows).toBeLessThanOrEqual(11);
    expect(s.guardBadWindows).toBeLessThanOrEqual(s.guardWindows);
    expect(s.guard).toBe(`${s.guardRefused ? 'REFUSE' : 'ok'} ${s.guardBadWindows}/${s.guardWindows}`);
    // the window second by second: 10 calls' packets both ways (50 a second each way per talking call)
    expect(s.timeline.length).toBeGreaterThanOrEqual(8);
    expect(s.timeline.length).toBeLessThanOrEqual(11);
    const inPerSecond = s.timeline.map((t: { packetsIn: number }) => t.packetsIn);
    expect(Math.min(...inPerSecond)).toBeGreaterThan(300); // the callers send all the time
    expect(Math.max(...inPerSecond)).toBeLessThan(700);
    expect(s.timeline.every((t: { cpuPct: number; sysPct: number }) => t.cpuPct >= t.sysPct && t.sysPct >= 0)).toBe(true);
    expect(r.udpFloor?.sockets).toBe(10);
    expect(r.udpFloor!.delivered).toBeGreaterThan(0.95);
    expect(r.udpFloor!.usPerDatagram).toBeGreaterThan(0);
    expect(r.udpFloor!.daemonIo).toBe('dgram');
    // and again with the daemon side on batched UDP (CI builds the addon), each datagram counted
    expect(r.udpFloorBatched?.daemonIo).toBe('batched');
    expect(r.udpFloorBatched!.sockets).toBe(10);
    expect(r.udpFloorBatched!.delivered).toBeGreaterThan(0.95);
    expect(r.udpFloorBatched!.delivered).toBeLessThan(1.05); // (window edges: a few sent before it are received in it)
    expect(json.udpFloorBatched.daemonIo).toBe('batched');
    expect(json.machine.config.rtpIo).toBe('auto');
    expect(readFileSync(join(dir, 'results.svg'), 'utf8')).toMatch(/<svg[^>]*>[\s\S]*<\/svg>\s*$/);
  }, 90_000);
});

describe('npm run bench -- --ramp (calls offered one by one through the overload guard)', () => {
  it('offers the step\'s calls, starts those the guard admits, and only their callers talk', async () => {
    const out = join(dir, 'ramp.json');
    const lines: string[] = [];
    const r = await runLoadBench({
      steps: [8], durationS: 6, warmupS: 2, out, svg: join(dir, 'ramp.svg'),
      portMin: 65300, portMax: 65499,
      seed: 9, profile: false, floorSockets: 0, rampPerS: 40, log: (l) => lines.push(l),
    });
    const s = r.steps[0];
    expect(s.error, lines.join('\n')).toBeUndefined();
    // 8 calls at 40/s take 0.2 s: less than the two 1 s windows the guard needs to refuse anything
    expect(lines.join('\n')).toContain('ramp: 8 calls offered at 40/s, 8 admitted, 0 refused by the overload guard');
    expect(s.offeredCalls).toBe(8);
    expect(s.calls).toBe(8);
    expect(s.turns).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).machine.rampPerS).toBe(40);
    // drawn as the closing ramp of a run: one point in each of the jitter, barge-in and loss panels
    // that has a figure (a 6 s window may hold no barge-in)
    const svg = chart(r.machine, [], s);
    const figures = [s.jitterP99Ms, s.bargeInP95Ms, s.internalLoss].filter((v) => typeof v === 'number').length;
    expect(figures).toBeGreaterThanOrEqual(2);
    expect(svg.match(/guard admitted 8 of 8 \(--ramp\) @ 8:/g)).toHaveLength(figures);
  }, 90_000);
});

describe('ai-bridge bench: bad flags', () => {
  it('rejects --tick-slots outside 1-10, a --ramp rate out of range, an unknown --rtp-io, a --guard-cpu-pct out of range and bad --steps before any step starts, naming the flag and value', async () => {
    for (const [flag, value, pattern] of [
      ['--tick-slots', '0', /--tick-slots expects an integer from 1 to 10 \(media\.tickSlots\), got 0/],
      ['--tick-slots', '2.5', /--tick-slots .* got 2\.5/],
      ['--steps', '50,0', /--steps expects .* got "50,0"/],
      ['--ramp', '0', /--ramp expects calls per second, more than 0 and at most 500, got 0/],
      ['--ramp', '501', /--ramp .* got 501/],
      ['--rtp-io', 'uring', /--rtp-io expects auto, native or dgram \(media\.rtpIo\), got "uring"/],
      ['--guard-cpu-pct', '5', /--guard-cpu-pct expects a share of one core from 10 to 100 \(ops\.overload\.cpuPct\), got 5/],
    ] as const) {
      const err = await runBenchCommand(parseArgs(['bench', flag, value, '--out', join(dir, 'never.json')])).catch((e: unknown) => e);
      expect(isBridgeError(err, 'CONFIG_INVALID'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(pattern);
    }
    // not a number at all: the shared flag parser's own error names it
    const nan = await runBenchCommand(parseArgs(['bench', '--tick-slots', 'many'])).catch((e: unknown) => e);
    expect((nan as Error).message).toMatch(/--tick-slots expects a number, got "many"/);
  });
});
