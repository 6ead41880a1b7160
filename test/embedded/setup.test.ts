import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { assertEmbeddedStack, checkEmbeddedStack, EMBEDDED_PACKAGES } from '../../src/providers/embedded-setup.ts';

describe('embedded stack setup check', () => {
  it('finds the installed stack on this box (agrees with dpkg)', () => {
    const dpkgMissing = EMBEDDED_PACKAGES.filter((p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout.indexOf('install ok installed') < 0);
    const r = checkEmbeddedStack();
    expect(r.missing).toEqual(dpkgMissing);
    expect(r.ok).toBe(dpkgMissing.length === 0);
    if (r.ok) expect(() => assertEmbeddedStack()).not.toThrow();
  });

  it('reports flite missing, by its Debian name, when it is not on PATH', () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const r = checkEmbeddedStack();
      expect(r.missing).toContain('flite');
      expect(() => assertEmbeddedStack()).toThrow(/missing Debian packages: .*flite.*install with: sudo apt-get install -y .*flite/);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('scripts/setup-embedded.sh is idempotent when everything is installed', () => {
    const out = execFileSync('sh', ['scripts/setup-embedded.sh'], { encoding: 'utf8' });
    expect(out).toMatch(/all packages installed/);
  });
});
