/**
 * SIGHUP: re-read the config, diff it against the running one, apply what is safe to change
 * between calls (prompts, campaign file, transfers, log level, recording switches, retention) and
 * name the keys that only a restart can apply (ports, PBX credentials, endpoints). An invalid new
 * config changes nothing. Values are never printed: only key paths.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { errorMessage } from '../errors.ts';

/** Key prefixes a running daemon takes on for the next call. Everything else needs a restart. */
export const LIVE_KEYS = [
  'agent',
  'log.level',
  'log.redactPhoneNumbers',
  'records.recordAudio',
  'records.noAudioCampaigns',
  'records.redactPhoneNumbers',
] as const;

export interface ConfigDiff {
  /** Changed keys the daemon applies now. */
  applied: string[];
  /** Changed keys that wait for a restart. */
  needsRestart: string[];
}

function leaves(obj: unknown, prefix: string, out: Map<string, string>): Map<string, string> {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    const entries = Object.entries(obj as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.set(prefix, '{}');
    for (const [k, v] of entries) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, JSON.stringify(obj) ?? 'undefined');
  return out;
}

function isLive(key: string): boolean {
  return LIVE_KEYS.some((p) => key === p || key.startsWith(`${p}.`));
}

export function diffConfig(oldCfg: unknown, newCfg: unknown): ConfigDiff {
  const a = leaves(oldCfg, '', new Map());
  const b = leaves(newCfg, '', new Map());
  const changed = new Set<string>();
  for (const [k, v] of a) if (b.get(k) !== v) changed.add(k);
  for (const k of b.keys()) if (!a.has(k)) changed.add(k);
  // An empty object that gained (or lost) children is reported through the children only.
  const hasChildren = (m: Map<string, string>, k: string) => [...m.keys()].some((x) => x.startsWith(`${k}.`));
  for (const k of [...changed]) if ((a.get(k) === '{}' && hasChildren(b, k)) || (b.get(k) === '{}' && hasChildren(a, k))) changed.delete(k);
  const applied: string[] = [];
  const needsRestart: string[] = [];
  for (const k of [...changed].sort()) (isLive(k) ? applied : needsRestart).push(k);
  return { applied, needsRestart };
}

export interface ReloadHooks {
  load: () => Config | Promise<Config>;
  current: () => Config;
  /** Swap in the new config for the live keys (the daemon decides how). */
  apply: (next: Config, diff: ConfigDiff) => void | Promise<void>;
  log?: Logger;
}

export type ReloadOutcome = { ok: true; diff: ConfigDiff } | { ok: false; error: string };

export async function reloadConfig(h: ReloadHooks): Promise<ReloadOutcome> {
  let next: Config;
  try {
    next = await h.load();
  } catch (err) {
    // BridgeError messages from loadConfig already keep secrets out.
    const error = errorMessage(err);
    h.log?.error({ err: error }, 'reload: new config rejected, keeping the running one');
    return { ok: false, error };
  }
  const diff = diffConfig(h.current(), next);
  try {
    await h.apply(next, diff);
  } catch (err) {
    const error = errorMessage(err);
    h.log?.error({ err: error }, 'reload: applying the new config failed');
    return { ok: false, error };
  }
  if (diff.applied.length === 0 && diff.needsRestart.length === 0) h.log?.info('reload: no changes');
  else h.log?.info({ applied: diff.applied, needsRestart: diff.needsRestart }, 'reload: config applied; restart needed for needsRestart keys');
  return { ok: true, diff };
}

/** SIGHUP -> reloadConfig; reloads never overlap. */
export function installReload(h: ReloadHooks & { proc?: Pick<NodeJS.Process, 'on'>; onDone?: (o: ReloadOutcome) => void }): void {
  const proc = h.proc ?? process;
  let busy = false;
  proc.on('SIGHUP', () => {
    if (busy) return;
    busy = true;
    void reloadConfig(h)
      .then((o) => h.onDone?.(o))
      .finally(() => {
        busy = false;
      });
  });
}
