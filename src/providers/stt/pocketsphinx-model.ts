/**
 * The acoustic model folder pocketsphinx decodes phone calls with. The model's own feat.params overrides
 * command-line flags and its -cmninit assumes full-band audio, so we build a copy: every file of the
 * Debian model symlinked except feat.params, which is rewritten with a phone-band -cmninit (measured:
 * open-vocabulary WER on phone-band speech 89% -> 38%; see shared/docs/embedded-speech.md beside the repository).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BridgeError } from '../../errors.ts';

export const DEBIAN_MODEL_ROOT = '/usr/share/pocketsphinx/model/en-us';
export const DEBIAN_HMM_DIR = `${DEBIAN_MODEL_ROOT}/en-us`;
export const DEBIAN_DICT = `${DEBIAN_MODEL_ROOT}/cmudict-en-us.dict`;
export const DEBIAN_LM = `${DEBIAN_MODEL_ROOT}/en-us.lm.bin`;

/** Cepstral mean of phone-band (300-3400 Hz, µ-law) speech upsampled to 16 kHz. */
export const PHONE_BAND_CMNINIT = '45.25,27.90,-42.36,40.26,-12.20,-2.08,9.63,-28.38,17.21,-12.35,-4.78,5.49,-13.39';

export function defaultModelDataDir(): string {
  return path.join(os.tmpdir(), 'ai-bridge-ps-model');
}

/** feat.params of the source model with -cmninit replaced (added when absent). */
export function phoneBandFeatParams(original: string): string {
  const lines = original.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('-cmninit'));
  lines.push(`-cmninit ${PHONE_BAND_CMNINIT}`);
  return lines.join('\n') + '\n';
}

/**
 * Creates (once; idempotent and safe against a concurrent creator) the phone-band model copy in
 * `dataDir` and returns its path. Building in a temp folder then renaming means a half-built copy
 * is never seen by another process.
 */
export function ensurePhoneBandModel(sourceDir = DEBIAN_HMM_DIR, dataDir = defaultModelDataDir()): string {
  const wanted = phoneBandFeatParams(readSource(path.join(sourceDir, 'feat.params')));
  try {
    if (fs.readFileSync(path.join(dataDir, 'feat.params'), 'utf8') === wanted) return dataDir;
  } catch {
    // not built yet
  }
  const parent = path.dirname(dataDir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dataDir)}-`));
  try {
    for (const name of fs.readdirSync(sourceDir)) {
      if (name === 'feat.params') continue;
      fs.symlinkSync(path.join(sourceDir, name), path.join(tmp, name));
    }
    fs.writeFileSync(path.join(tmp, 'feat.params'), wanted);
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.renameSync(tmp, dataDir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // another process may have won the race with an identical copy
    try {
      if (fs.readFileSync(path.join(dataDir, 'feat.params'), 'utf8') === wanted) return dataDir;
    } catch {
      // fall through
    }
    throw new BridgeError('PROVIDER_UNAVAILABLE', `cannot build the pocketsphinx model copy in ${dataDir}`, { dataDir }, { cause: err });
  }
  return dataDir;
}

function readSource(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new BridgeError(
      'SETUP_MISSING_PACKAGES',
      `pocketsphinx model not found (${file}); install with: sudo apt-get install -y pocketsphinx-en-us`,
      { file },
      { cause: err },
    );
  }
}
