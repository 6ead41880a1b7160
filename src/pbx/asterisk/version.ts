/**
 * Asterisk version gate. ExternalMedia arrived in 16.6 (and 17.1); VICIdial installs still run 13,
 * where the ARI path cannot work at all — refuse clearly instead of failing on the first call.
 */
import { BridgeError } from '../../errors.ts';

export interface AsteriskVersion {
  readonly major: number;
  readonly minor: number;
  readonly raw: string;
}

/** "20.5.2", "16.30.1-vici", "certified/18.9-cert5", "GIT-master-abc" (-> undefined: unknown). */
export function parseAsteriskVersion(raw: string): AsteriskVersion | undefined {
  const m = /(?:^|\/)(\d+)\.(\d+)/.exec(raw.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), raw };
}

export function supportsExternalMedia(v: AsteriskVersion): boolean {
  if (v.major === 16) return v.minor >= 6;
  if (v.major === 17) return v.minor >= 1;
  return v.major >= 18;
}

/** Throws PBX_VERSION for a known-too-old Asterisk; an unparseable version passes (GIT builds). */
export function assertExternalMediaVersion(raw: string): AsteriskVersion | undefined {
  const v = parseAsteriskVersion(raw);
  if (v && !supportsExternalMedia(v)) {
    throw new BridgeError(
      'PBX_VERSION',
      `Asterisk ${raw} has no ARI ExternalMedia (needs 16.6+, 17.1+ or 18+). Upgrade Asterisk (VICIdial supports 16 and 18 builds) or use the FreeSWITCH path.`,
      { version: raw },
    );
  }
  return v;
}
