import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { validateConfig } from '../../src/config/load.ts';

const script = fileURLToPath(new URL('../../scripts/install.sh', import.meta.url));
const unit = fileURLToPath(new URL('../../scripts/ai-bridge.service', import.meta.url));
const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const sh = (args: string[]) => spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('scripts/install.sh', () => {
  it.skipIf(!has('shellcheck'))('is shellcheck-clean', () => {
    const r = spawnSync('shellcheck', [script], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('--dry-run plans the apt install and changes nothing', () => {
    const r = sh(['--dry-run', '--pkg-manager', 'apt', '--prefix', '/opt/ai-bridge-test', '--max-calls', '2000']);
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toContain('[dry-run] env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends flite libpocketsphinx3 pocketsphinx-en-us python3 make g++');
    if (spawnSync('id', ['-u', 'ai-bridge']).status !== 0) expect(out).toMatch(/\[dry-run\] useradd --system .* ai-bridge/);
    expect(out).toContain('[dry-run] npm ci --omit=dev');
    expect(out).toMatch(/\[dry-run\] install -d -m 0750 .*\/var\/lib\/ai-bridge\/records/);
    expect(out).toMatch(/\[dry-run\] install -d -m 0750 .*\/var\/lib\/ai-bridge\/queue/);
    expect(out).toMatch(/write \/etc\/ai-bridge\/config\.yaml .* generated ARI\/ESL password|config \/etc\/ai-bridge\/config\.yaml exists/);
    expect(out).toContain('LimitNOFILE=17024 for 2000 calls');
    expect(existsSync('/opt/ai-bridge-test')).toBe(false);
    for (const line of out.split('\n')) expect(line.startsWith('[dry-run]') || line.startsWith('==>') || line === '').toBe(true);
  });

  it('says what it uses on zypper and dnf', () => {
    const z = sh(['--dry-run', '--pkg-manager', 'zypper']);
    expect(z.stdout).toContain('zypper --non-interactive install --no-recommends flite');
    const d = sh(['--dry-run', '--pkg-manager', 'dnf']);
    expect(d.stdout).toContain('dnf install -y flite');
    expect(d.stderr).toMatch(/no pocketsphinx 5 package for EL/);
    expect(sh(['--bogus']).status).not.toBe(0);
  });

  it('installs into a throw-away root idempotently, never overwrites the config, uninstall keeps records', () => {
    const root = mkdtempSync(join(tmpdir(), 'install-root-'));
    try {
      const first = sh(['--root', root]);
      expect(first.status, first.stderr).toBe(0);
      const conf = join(root, 'etc/ai-bridge/config.yaml');
      const text = readFileSync(conf, 'utf8');
      const cfg = validateConfig(parse(text));
      expect(cfg.asterisk?.password).toMatch(/^[0-9a-f]{24}$/);
      expect(statSync(conf).mode & 0o777).toBe(0o640);
      expect(first.stdout).not.toContain(cfg.asterisk!.password);
      const unitText = readFileSync(join(root, 'etc/systemd/system/ai-bridge.service'), 'utf8');
      expect(unitText).toContain('LimitNOFILE=8192');
      expect(existsSync(join(root, 'opt/ai-bridge/src/records/call-recorder.ts'))).toBe(true);
      expect(existsSync(join(root, 'var/lib/ai-bridge/records'))).toBe(true);

      writeFileSync(join(root, 'var/lib/ai-bridge/records/keep.json'), '{}');
      const second = sh(['--root', root]);
      expect(second.status).toBe(0);
      expect(second.stdout).toContain('exists: kept as is');
      expect(readFileSync(conf, 'utf8')).toBe(text);

      const un = sh(['--root', root, '--uninstall']);
      expect(un.status).toBe(0);
      expect(existsSync(join(root, 'opt/ai-bridge'))).toBe(false);
      expect(existsSync(join(root, 'var/lib/ai-bridge/records/keep.json'))).toBe(true);
      expect(existsSync(conf)).toBe(true);
      expect(sh(['--root', root, '--uninstall', '--purge']).status).toBe(0);
      expect(existsSync(join(root, 'var/lib/ai-bridge'))).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('scripts/ai-bridge.service', () => {
  const text = readFileSync(unit, 'utf8');
  it('has the required settings', () => {
    for (const line of ['Restart=on-failure', 'User=ai-bridge', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/ai-bridge', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'StandardOutput=journal', 'ExecReload=/bin/kill -HUP $MAINPID']) {
      expect(text.split('\n')).toContain(line);
    }
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(text)?.[1]);
    expect(stop).toBeGreaterThan(30 + 5 + 15); // default drain + end grace + flush
    expect(Number(/^LimitNOFILE=(\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(100 * 8 + 1024);
  });
  it.skipIf(!has('systemd-analyze'))('passes systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unit-'));
    try {
      const copy = join(dir, 'ai-bridge.service');
      copyFileSync(unit, copy);
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30_000 });
      const complaints = r.stderr.split('\n').filter((l) => l.includes('ai-bridge.service'));
      expect(complaints, r.stderr).toEqual([]);
      expect(r.status, r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
