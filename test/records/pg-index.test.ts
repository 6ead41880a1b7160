/**
 * The PostgreSQL call index against a real server: a throw-away cluster (initdb + pg_ctl on a
 * free loopback port, as the `postgres` user when running as root), or AI_BRIDGE_TEST_PG_URL.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialRecord } from '../../src/records/events.ts';
import { openCallIndex } from '../../src/records/open-index.ts';
import { PostgresCallIndex } from '../../src/records/pg-index.ts';

function pgBinDir(): string | null {
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return join(onPath, '..');
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'initdb'))) return join(base, v, 'bin');
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const bin = pgBinDir();
const externalUrl = process.env.AI_BRIDGE_TEST_PG_URL;
const canRun = !!externalUrl || !!bin;
if (!canRun) console.warn('SKIPPED: PostgreSQL binaries (initdb, pg_ctl) not found and AI_BRIDGE_TEST_PG_URL not set');

let url = '';
let root = '';
let asUser: Pick<SpawnSyncOptions, 'uid' | 'gid'> = {};

function pg(tool: string, args: string[]): void {
  const r = spawnSync(join(bin!, tool), args, { encoding: 'utf8', timeout: 60_000, ...asUser });
  if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr || r.stdout || r.error?.message}`);
}

describe.skipIf(!canRun)('PostgresCallIndex (real server)', () => {
  beforeAll(async () => {
    if (externalUrl) {
      url = externalUrl;
      return;
    }
    root = mkdtempSync(join(tmpdir(), 'pg-'));
    if (process.getuid?.() === 0) {
      // initdb refuses to run as root: use the postgres system user the Debian package creates.
      const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
      if (id.status !== 0) throw new Error('running as root and no postgres user to run initdb as');
      asUser = { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
      chownSync(root, asUser.uid!, asUser.gid!);
    }
    const port = await freePort();
    pg('initdb', ['-D', join(root, 'data'), '-U', 'bridge', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    pg('pg_ctl', ['-D', join(root, 'data'), '-l', join(root, 'log'), '-w', '-t', '30', '-o', `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
    url = `postgres://bridge:not-a-real-secret@127.0.0.1:${port}/postgres`;
  }, 90_000);

  afterAll(() => {
    if (root) {
      try {
        pg('pg_ctl', ['-D', join(root, 'data'), '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }
  });

  const rec = (id: string, startedAt: string, over = {}) => ({
    ...initialRecord({ callId: id, pbx: 'asterisk' as const, startedAt, providers: { stt: 'embedded', llm: 'embedded', tts: 'embedded' } }),
    endedAt: startedAt.replace(':00.000Z', ':42.000Z'),
    endReason: 'caller-hangup' as const,
    ...over,
  });

  it('creates the table, upserts, lists newest first, gets, filters and expires', async () => {
    const index = (await openCallIndex({ dir: '/unused', index: { type: 'postgres', postgresUrl: url, table: 'calls_test' } })) as PostgresCallIndex;
    try {
      await index.init(); // idempotent
      await index.put(rec('a', '2025-01-01T10:00:00.000Z', { campaignId: 'SOLAR', leadId: 11 }), { wavPath: '/x/a.wav' });
      await index.put(rec('b', '2025-03-01T10:00:00.000Z', { campaignId: 'SOLAR', disposition: 'SALE' }));
      await index.put(rec('c', '2025-03-02T10:00:00.000Z', { campaignId: 'OTHER' }));
      const withTranscript = rec('b', '2025-03-01T10:00:00.000Z', { campaignId: 'SOLAR', disposition: 'NI' });
      withTranscript.transcript.push({ role: 'agent', text: 'Hello from Postgres', startMs: 0, endMs: 1000 });
      await index.put(withTranscript); // upsert replaces

      expect((await index.list()).map((r) => r.callId)).toEqual(['c', 'b', 'a']);
      expect((await index.list({ campaignId: 'SOLAR' })).map((r) => r.callId)).toEqual(['b', 'a']);
      expect((await index.list({ since: new Date('2025-02-01T00:00:00Z'), limit: 1 })).map((r) => r.callId)).toEqual(['c']);
      const b = await index.get('b');
      expect(b?.disposition).toBe('NI');
      expect(b?.transcript[0].text).toBe('Hello from Postgres');
      expect((await index.list())[1]).toMatchObject({ callId: 'b', durationSec: 42, turns: 1 });
      expect(await index.get('zzz')).toBeNull();

      expect(await index.deleteOlderThan(new Date('2025-02-01T00:00:00Z'))).toBe(1);
      expect((await index.list()).map((r) => r.callId)).toEqual(['c', 'b']);
    } finally {
      await index.close();
    }
  });

  it('reports a server it cannot reach without printing the password', async () => {
    const port = await freePort();
    const bad = new PostgresCallIndex({ url: `postgres://bridge:Sup3rSecretPw@127.0.0.1:${port}/postgres` });
    try {
      const err = await bad.init().then(
        () => null,
        (e: Error & { context?: Record<string, unknown> }) => e,
      );
      expect(err).not.toBeNull();
      expect(err!.message).toMatch(/postgres call index/);
      expect(JSON.stringify({ m: err!.message, c: err!.context })).not.toContain('Sup3rSecretPw');
    } finally {
      await bad.close();
    }
  });

  it('refuses a table name that is not a plain identifier', () => {
    expect(() => new PostgresCallIndex({ url, table: 'calls; drop table x' })).toThrow(/identifier/);
  });
});
