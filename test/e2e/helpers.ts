/**
 * Shared pieces of the end-to-end tests: the daemon started from a config as `serve` would, with
 * records in a temp dir; the caller's lines synthesized with flite's 'rms' voice (the agent speaks
 * with another voice), as the simulator does; and small audio checks made on what the fake PBX
 * received. Everything bounded in time.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach } from 'vitest';
import type { CallRecord } from '../../src/agent/call-record.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { startDaemon, type Daemon } from '../../src/daemon.ts';
import { FRAME_SAMPLES, type Pcm } from '../../src/media/audio-frame.ts';
import { FliteTts } from '../../src/providers/tts/flite.ts';

/** Poll until `cond` holds; bounded (fails with `what`). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The caller's lines, synthesized once before the call (the caller does not "think"). */
export async function callerVoice(lines: readonly string[]): Promise<Map<string, Pcm>> {
  const tts = await new FliteTts({ voice: 'rms' }).open({ callId: 'e2e-caller', signal: new AbortController().signal });
  const out = new Map<string, Pcm>();
  try {
    for (const text of lines) {
      const parts: Pcm[] = [];
      for await (const pcm of tts.synthesize(text, new AbortController().signal)) parts.push(pcm);
      out.set(text, trimSilence(concat(parts)));
    }
  } finally {
    await tts.close();
  }
  return out;
}

function concat(parts: Pcm[]): Pcm {
  const out = new Int16Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Drop leading/trailing near-silence, padded to whole 20 ms frames. */
function trimSilence(pcm: Pcm): Pcm {
  let a = 0;
  let b = pcm.length;
  while (a < b && Math.abs(pcm[a]!) < 300) a++;
  while (b > a && Math.abs(pcm[b - 1]!) < 300) b--;
  const n = Math.ceil((b - a) / FRAME_SAMPLES) * FRAME_SAMPLES;
  const out = new Int16Array(n);
  out.set(pcm.subarray(a, b));
  return out;
}

export function frames(pcm: Pcm): Pcm[] {
  const out: Pcm[] = [];
  for (let o = 0; o < pcm.length; o += FRAME_SAMPLES) {
    const f = new Int16Array(FRAME_SAMPLES);
    f.set(pcm.subarray(o, o + FRAME_SAMPLES));
    out.push(f);
  }
  return out;
}

export function rms(pcm: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < pcm.length; i++) s += pcm[i]! * pcm[i]!;
  return pcm.length ? Math.sqrt(s / pcm.length) : 0;
}

/** Plain G.711 mu-law encoder, written here so a codec bug in the daemon cannot hide itself. */
export function muLawEncode(pcm: Pcm): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    let s = pcm[i]!;
    let sign = 0;
    if (s < 0) {
      s = -s;
      sign = 0x80;
    }
    s = Math.min(s, 32635) + 0x84;
    let exp = 7;
    for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
    out[i] = ~(sign | (exp << 4) | ((s >> (exp + 3)) & 0x0f)) & 0xff;
  }
  return out;
}

export function muLawDecode(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const u = ~bytes[i]! & 0xff;
    const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
    out[i] = u & 0x80 ? 0x84 - t : t - 0x84;
  }
  return out;
}

/**
 * Wait until a growing count stops growing for `quietMs` (the agent finished a prompt: nothing is
 * sent during silence), after it reached at least `min`.
 */
export async function waitQuiet(count: () => number, min: number, quietMs: number, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = count();
  let since = Date.now();
  for (;;) {
    await sleep(50);
    const n = count();
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (n >= min && Date.now() - since >= quietMs) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (count ${n})`);
  }
}

export interface DaemonRig {
  daemon: Daemon;
  config: Config;
  recordsDir: string;
  close(): Promise<void>;
}

/** startDaemon as `serve` runs it, from a config over the defaults (embedded stack, scripted campaign). */
export async function startTestDaemon(raw: Record<string, unknown>, opts: { metricsPort0?: boolean; logger?: pino.Logger } = {}): Promise<DaemonRig> {
  const recordsDir = mkdtempSync(join(tmpdir(), 'e2e-records-'));
  // The overload guard judges this process's event loop, which on a CI box also runs the other test
  // files: off unless a test sets ops.overload itself (test/e2e/overload.test.ts), so no other
  // test's caller is refused because of the machine's load.
  const ops = (raw.ops ?? {}) as Record<string, unknown>;
  const withOps = { ...raw, ops: { ...ops, overload: ops.overload ?? { enabled: false } } };
  const validated = validateConfig({ ...withOps, records: { dir: recordsDir, flushMs: 200, retentionDays: 0 }, log: { level: 'silent' } });
  // The schema wants a fixed port (1..65535); the ops server itself takes 0 = any free port.
  const config: Config = opts.metricsPort0 ? { ...validated, metrics: { ...validated.metrics, enabled: true, port: 0, processMetrics: false } } : validated;
  const logger = opts.logger ?? pino({ level: process.env.TEST_LOG ?? 'silent' });
  const daemon = await startDaemon(config, logger);
  return {
    daemon,
    config,
    recordsDir,
    async close() {
      await daemon.close();
      rmSync(recordsDir, { recursive: true, force: true });
    },
  };
}

/** Finished call records (JSON) and WAV files under the records dir (`<dir>/<day>/<callId>.*`). */
export function readRecords(dir: string): Array<{ record: CallRecord; json: string; wav: string | null }> {
  const out: Array<{ record: CallRecord; json: string; wav: string | null }> = [];
  for (const day of readdirSync(dir, { withFileTypes: true })) {
    if (!day.isDirectory()) continue;
    const folder = join(dir, day.name);
    const names = readdirSync(folder);
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const json = join(folder, n);
      const wavName = n.replace(/\.json$/, '.wav');
      out.push({ record: JSON.parse(readFileSync(json, 'utf8')) as CallRecord, json, wav: names.includes(wavName) ? join(folder, wavName) : null });
    }
  }
  return out;
}

/** Text the caller side of the transcript holds (recognized words). */
export function callerText(record: CallRecord): string[] {
  return record.transcript.filter((t) => t.role === 'caller').map((t) => t.text);
}

export function agentText(record: CallRecord): string[] {
  return record.transcript.filter((t) => t.role === 'agent').map((t) => t.text);
}

/**
 * Close what a test opened (fakes, the daemon rig) after each test, last opened first:
 * `const closing = closeAfterEach();` at file level, then `const fake = closing(await ...)`.
 */
export function closeAfterEach(): <T extends { close(): unknown }>(opened: T) => T {
  const open: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  return (opened) => {
    open.push(opened);
    return opened;
  };
}
