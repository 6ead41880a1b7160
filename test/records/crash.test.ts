import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FilesCallIndex } from '../../src/records/call-index.ts';
import { recoverUnfinished } from '../../src/records/recovery.ts';
import { parseWavHeader } from '../../src/records/wav.ts';

const child = fileURLToPath(new URL('./fixtures/record-child.ts', import.meta.url));

describe('a recording survives SIGKILL', () => {
  it('keeps the audio and events written so far; recovery closes the record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crash-'));
    try {
      const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, 'killed-call'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stderr.on('data', (d) => (err += d));
      const ready = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`child not ready in 30 s: ${err}`)), 30_000);
        proc.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) {
            clearTimeout(t);
            resolve(out.trim());
          }
        });
        proc.on('exit', (code) => reject(new Error(`child exited early (${code}): ${err}`)));
      });
      const [, wavPath, written] = ready.split(' ');
      expect(Number(written)).toBe(100); // 10 chunks of 10 frames; the last 5 frames were still buffered
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;

      // Before any repair: the header written during the call already describes the data on disk.
      const raw = await readFile(wavPath);
      expect(parseWavHeader(raw).dataBytes).toBe(100 * 640);
      expect(raw.length).toBe(44 + 100 * 640);
      expect(raw.readInt16LE(44 + 50 * 640)).toBe(50);
      expect(raw.readInt16LE(44 + 50 * 640 + 2)).toBe(-50);

      const res = await recoverUnfinished({ dir });
      expect(res.recovered).toHaveLength(1);
      const rec = res.recovered[0].record;
      expect(rec).toMatchObject({ callId: 'killed-call', leadId: 777, endReason: 'error' });
      expect(rec.transcript.map((t) => t.text)).toEqual(['is this about solar']);
      expect(rec.metrics.turnLatencyMs).toEqual([500]);
      expect(rec.endedAt).toBeTruthy();
      await stat(res.recovered[0].jsonPath);
      expect((await new FilesCallIndex(dir).list())[0]).toMatchObject({ callId: 'killed-call', inProgress: false, endReason: 'error' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
