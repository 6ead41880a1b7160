import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBridgeError } from '../../src/errors.ts';
import { DEBIAN_HMM_DIR, ensurePhoneBandModel, PHONE_BAND_CMNINIT, phoneBandFeatParams } from '../../src/providers/stt/pocketsphinx-model.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ai-bridge-ps-model-test-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('phone-band model copy', () => {
  it('rewrites -cmninit and keeps the other acoustic settings', () => {
    const out = phoneBandFeatParams('-lowerf 130\n-cmninit 41.00,-5.29\n-cmn batch\n');
    expect(out).toBe(`-lowerf 130\n-cmn batch\n-cmninit ${PHONE_BAND_CMNINIT}\n`);
  });

  it('symlinks every model file but feat.params, idempotently', () => {
    const dir = path.join(root, 'model');
    expect(ensurePhoneBandModel(DEBIAN_HMM_DIR, dir)).toBe(dir);
    const source = fs.readdirSync(DEBIAN_HMM_DIR).sort();
    expect(fs.readdirSync(dir).sort()).toEqual(source);
    for (const name of source) {
      const st = fs.lstatSync(path.join(dir, name));
      expect(st.isSymbolicLink()).toBe(name !== 'feat.params');
    }
    const feat = fs.readFileSync(path.join(dir, 'feat.params'), 'utf8');
    expect(feat).toContain(`-cmninit ${PHONE_BAND_CMNINIT}`);
    expect(feat).not.toContain('41.00,-5.29');
    const mtime = fs.statSync(path.join(dir, 'feat.params')).mtimeMs;
    ensurePhoneBandModel(DEBIAN_HMM_DIR, dir);
    expect(fs.statSync(path.join(dir, 'feat.params')).mtimeMs).toBe(mtime);
  });

  it('a missing source model names the Debian package', () => {
    try {
      ensurePhoneBandModel('/nonexistent/en-us', path.join(root, 'x'));
      expect.unreachable();
    } catch (e) {
      expect(isBridgeError(e, 'SETUP_MISSING_PACKAGES')).toBe(true);
      expect((e as Error).message).toContain('pocketsphinx-en-us');
    }
  });
});
