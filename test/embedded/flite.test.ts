import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../../src/errors.ts';
import { FliteTts, MAX_CONCURRENT_FLITE, parseWavPcm16, sanitizeForFlite } from '../../src/providers/tts/flite.ts';

const never = new AbortController().signal;

function rms(pcm: Int16Array): number {
  let s = 0;
  for (const v of pcm) s += v * v;
  return Math.sqrt(s / Math.max(1, pcm.length));
}

/** flite processes whose command line mentions `needle` (our per-session temp dir). */
function fliteProcsWith(needle: string): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.startsWith('flite\0') && cmd.includes(needle)) n++;
    } catch {
      // process ended meanwhile
    }
  }
  return n;
}

function sessionDirs(): Set<string> {
  return new Set(fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith('ai-bridge-flite-')));
}

async function collect(it: AsyncIterable<Int16Array>): Promise<Int16Array[]> {
  const out: Int16Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('FliteTts', () => {
  it.each(['kal16', 'kal'] as const)('voice %s: non-silent 8 kHz audio of plausible duration in ~100 ms chunks', async (voice) => {
    const s = await new FliteTts({ voice }).open({ callId: 'c1', signal: never });
    const chunks = await collect(s.synthesize('Hello, this is Sam from Sunrise Solar. Is this a good time?', never));
    await s.close();
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const seconds = total / 8000;
    expect(seconds).toBeGreaterThan(2);
    expect(seconds).toBeLessThan(7);
    expect(chunks.slice(0, -1).every((c) => c.length === 800)).toBe(true);
    const all = new Int16Array(total);
    let off = 0;
    for (const c of chunks) (all.set(c, off), (off += c.length));
    expect(rms(all)).toBeGreaterThan(300);
  });

  it('abort kills the flite process at once and yields nothing', async () => {
    const before = sessionDirs();
    const s = await new FliteTts({ voice: 'rms' }).open({ callId: 'c2', signal: never });
    const dir = [...sessionDirs()].find((d) => !before.has(d));
    expect(dir).toBeDefined();
    const ac = new AbortController();
    const long = 'This is a long sentence that keeps flite busy for a while. '.repeat(30);
    const done = collect(s.synthesize(long, ac.signal));
    // wait (bounded) until the process exists, then abort
    for (let i = 0; i < 200 && fliteProcsWith(dir!) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(fliteProcsWith(dir!)).toBe(1);
    ac.abort();
    expect(await done).toEqual([]);
    for (let i = 0; i < 100 && fliteProcsWith(dir!) > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(fliteProcsWith(dir!)).toBe(0);
    // the session stays usable after an abort
    expect((await collect(s.synthesize('Okay.', never))).length).toBeGreaterThan(0);
    await s.close();
    expect(fs.existsSync(path.join(os.tmpdir(), dir!))).toBe(false);
  });

  it('caps concurrent flite processes per daemon', async () => {
    const before = sessionDirs();
    const s = await new FliteTts({ voice: 'kal' }).open({ callId: 'c3', signal: never });
    const dir = [...sessionDirs()].find((d) => !before.has(d))!;
    let maxSeen = 0;
    let running = true;
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => collect(s.synthesize(`Sentence number ${i}, please hold.`, never)))).finally(
      () => (running = false),
    );
    for (let i = 0; i < 2000 && running; i++) {
      maxSeen = Math.max(maxSeen, fliteProcsWith(dir));
      await new Promise((r) => setTimeout(r, 2));
    }
    const results = await all;
    await s.close();
    expect(results.every((r) => r.length > 0)).toBe(true);
    expect(maxSeen).toBeGreaterThan(0);
    expect(maxSeen).toBeLessThanOrEqual(MAX_CONCURRENT_FLITE);
  });

  it('text cannot reach a shell', async () => {
    const marker = path.join(os.tmpdir(), `ai-bridge-injection-${process.pid}`);
    const s = await new FliteTts({ voice: 'kal' }).open({ callId: 'c4', signal: never });
    const chunks = await collect(s.synthesize(`"; touch ${marker}; echo "$(touch ${marker}) \`touch ${marker}\``, never));
    await s.close();
    expect(chunks.length).toBeGreaterThan(0);
    expect(fs.existsSync(marker)).toBe(false);
    expect(sanitizeForFlite('a\u0000b\n\tc   d')).toBe('a b c d');
    expect(sanitizeForFlite('-o /etc/passwd')).toBe('-o /etc/passwd'); // harmless: it follows -t in argv
  });

  it('empty text yields nothing; unknown voice and bad WAV are clear errors', async () => {
    const s = await new FliteTts().open({ callId: 'c5', signal: never });
    expect(await collect(s.synthesize(' \n ', never))).toEqual([]);
    await s.close();
    expect(() => new FliteTts({ voice: 'bogus' as never })).toThrow(/unknown flite voice/);
    try {
      parseWavPcm16(new Uint8Array(20));
      expect.unreachable();
    } catch (e) {
      expect(isBridgeError(e, 'PROVIDER_PROTOCOL')).toBe(true);
    }
  });

  it('parses a WAV whose data length is bogus (espeak-ng style)', () => {
    const pcm = new Int16Array([1, -2, 3, -4]);
    const b = Buffer.alloc(44 + 8);
    b.write('RIFF', 0);
    b.writeUInt32LE(0x7ffff000, 4);
    b.write('WAVEfmt ', 8);
    b.writeUInt32LE(16, 16);
    b.writeUInt16LE(1, 20);
    b.writeUInt16LE(1, 22);
    b.writeUInt32LE(22050, 24);
    b.writeUInt32LE(44100, 28);
    b.writeUInt16LE(2, 32);
    b.writeUInt16LE(16, 34);
    b.write('data', 36);
    b.writeUInt32LE(0x7ffff000, 40);
    for (let i = 0; i < 4; i++) b.writeInt16LE(pcm[i], 44 + i * 2);
    const r = parseWavPcm16(b);
    expect(r.sampleRate).toBe(22050);
    expect([...r.pcm]).toEqual([1, -2, 3, -4]);
  });

  it('a missing flite binary is a SETUP_MISSING_PACKAGES error naming the package', async () => {
    const s = await new FliteTts({ bin: '/nonexistent/flite' }).open({ callId: 'c6', signal: never });
    await expect(collect(s.synthesize('hello', never))).rejects.toThrow(/apt-get install -y flite/);
    await s.close();
  });
});
