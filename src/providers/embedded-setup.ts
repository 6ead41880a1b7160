/**
 * Is the embedded (offline) speech stack installed? It lives in Debian packages, not npm, so a fresh
 * box fails here with the exact `apt-get install` line instead of a stack trace deep in a call.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { BridgeError } from '../errors.ts';
import { DEBIAN_DICT, DEBIAN_HMM_DIR, DEBIAN_LM } from './stt/pocketsphinx-model.ts';

export const EMBEDDED_PACKAGES = ['flite', 'libpocketsphinx3', 'pocketsphinx-en-us'] as const;
export type EmbeddedPackage = (typeof EMBEDDED_PACKAGES)[number];

const MODEL_FILES = [
  `${DEBIAN_HMM_DIR}/mdef`,
  `${DEBIAN_HMM_DIR}/means`,
  `${DEBIAN_HMM_DIR}/variances`,
  `${DEBIAN_HMM_DIR}/transition_matrices`,
  `${DEBIAN_HMM_DIR}/feat.params`,
  DEBIAN_DICT,
  DEBIAN_LM,
];

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    try {
      fs.accessSync(`${dir}/${bin}`, fs.constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

function libraryLoads(name: string): boolean {
  try {
    // koffi is CommonJS; loading the library is the only check that also catches a broken install
    const koffi = createRequire(import.meta.url)('koffi') as { load(path: string): { unload?(): void } };
    koffi.load(name);
    return true;
  } catch {
    return false;
  }
}

export function checkEmbeddedStack(): { ok: boolean; missing: string[] } {
  const missing: EmbeddedPackage[] = [];
  if (!onPath('flite')) missing.push('flite');
  if (!libraryLoads('libpocketsphinx.so.3')) missing.push('libpocketsphinx3');
  if (!MODEL_FILES.every((f) => fs.existsSync(f))) missing.push('pocketsphinx-en-us');
  return { ok: missing.length === 0, missing };
}

export function assertEmbeddedStack(): void {
  const { ok, missing } = checkEmbeddedStack();
  if (ok) return;
  throw new BridgeError(
    'SETUP_MISSING_PACKAGES',
    `embedded speech stack missing Debian packages: ${missing.join(', ')} ; install with: sudo apt-get install -y ${missing.join(' ')} (or run scripts/setup-embedded.sh as root)`,
    { missing },
  );
}
