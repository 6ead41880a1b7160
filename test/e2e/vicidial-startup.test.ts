/**
 * The daemon's VICIdial start-up check: a rejected API user is logged as a clear error and the
 * daemon keeps running (calls work without VICIdial; the durable queue keeps the requests); a good
 * user passes. Against the fake Non-Agent API server, through the real client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeVicidial } from '../helpers/fake-vicidial.ts';
import { startTestDaemon, waitFor, type DaemonRig } from './helpers.ts';

let vd: FakeVicidial | null = null;
let rig: DaemonRig | null = null;
let queueDir = '';
afterEach(async () => {
  await rig?.close();
  rig = null;
  await vd?.close();
  vd = null;
  if (queueDir) rmSync(queueDir, { recursive: true, force: true });
});

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('e2e: VICIdial start-up check in the daemon', () => {
  for (const good of [false, true]) {
    it(good ? 'a good API user passes the check' : 'a rejected API user is logged as an error; the daemon stays up', async () => {
      vd = await new FakeVicidial().start();
      queueDir = mkdtempSync(join(tmpdir(), 'e2e-vdq-'));
      const { logger, lines } = capture();
      rig = await startTestDaemon(
        { vicidial: { url: vd.url, user: 'aiapi', pass: good ? 'apipass' : 'wrong-pass-123', queueDir, fetchLead: false } },
        { logger },
      );
      if (good) {
        await waitFor(() => lines.some((l) => l.msg === 'VICIdial API check passed'), 'check passed log', 5000);
        expect(lines.some((l) => (l.level as number) >= 50)).toBe(false);
      } else {
        await waitFor(() => lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('VICIdial API user rejected')), 'auth error log', 5000);
        const line = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('VICIdial API user rejected'))!;
        expect(line.level).toBe(50);
        expect(line.user).toBe('aiapi');
        // The password never reaches the log.
        expect(JSON.stringify(lines)).not.toContain('wrong-pass-123');
        expect(rig.daemon.activeCalls()).toBe(0); // still up and serving
      }
    });
  }
});
