/**
 * `ai-bridge doctor`: every check the configuration implies, run concurrently, printed one line
 * each. A failure anywhere makes the exit code 1. Secrets from the config are scrubbed from every
 * detail before it is returned, whatever a remote server echoed back.
 */
import type { Config } from '../config/schema.ts';
import { opsSchema, type OpsConfig } from '../config/ops.ts';
import { scrub, type CheckResult } from './check.ts';
import { checkDisk, checkRtpIo, checkRtpRange } from './check-host.ts';
import { checkAri, checkEsl } from './check-pbx.ts';
import { checkProviders } from './check-providers.ts';
import { checkVicidial } from './check-vicidial.ts';

export type { CheckResult } from './check.ts';

const SECRET_KEY = /pass(word)?|secret|token|api_?key|postgresurl/i;

/** Every string value under a secret-looking key, anywhere in the config. */
export function collectSecrets(obj: unknown, out: string[] = [], underSecret = false): string[] {
  if (typeof obj === 'string') {
    if (underSecret) out.push(obj);
  } else if (Array.isArray(obj)) for (const v of obj) collectSecrets(v, out, underSecret);
  else if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) collectSecrets(v, out, underSecret || SECRET_KEY.test(k));
  }
  return out;
}

export interface DoctorOptions {
  ops?: OpsConfig;
  /** Skip the local-host checks (RTP range, disk), e.g. when checking a config for another box. */
  skipHost?: boolean;
}

export async function runDoctor(cfg: Config, opts: DoctorOptions = {}): Promise<CheckResult[]> {
  const ops = opts.ops ?? opsSchema.parse({});
  const t = ops.doctor.timeoutMs;
  const jobs: Array<Promise<CheckResult[]>> = [];
  if (!cfg.asterisk && !cfg.freeswitch) {
    jobs.push(Promise.resolve([{ name: 'pbx', ok: false, detail: 'neither asterisk nor freeswitch is configured' }]));
  }
  if (cfg.asterisk) jobs.push(checkAri(cfg.asterisk, t));
  if (cfg.freeswitch) jobs.push(checkEsl(cfg.freeswitch, t));
  jobs.push(checkProviders(cfg.providers as unknown as Record<string, ReadonlyArray<{ type: string }>>, t));
  if (cfg.vicidial) jobs.push(checkVicidial(cfg.vicidial, t));
  if (!opts.skipHost) {
    jobs.push(
      checkRtpRange({
        bindAddress: cfg.media.bindAddress,
        rtpPortMin: cfg.media.rtpPortMin,
        rtpPortMax: cfg.media.rtpPortMax,
        rtpConfPath: ops.doctor.rtpConfPath,
      }),
    );
    jobs.push(checkDisk(cfg.records.dir, ops.doctor.minFreeDiskMb).then((r) => [r]));
    jobs.push(Promise.resolve([checkRtpIo(cfg.media.rtpIo, cfg.media.bindAddress)]));
  }
  const settled = await Promise.allSettled(jobs);
  const secrets = collectSecrets(cfg);
  const results: CheckResult[] = [];
  for (const s of settled) {
    if (s.status === 'fulfilled') results.push(...s.value);
    else results.push({ name: 'doctor', ok: false, detail: `a check crashed: ${(s.reason as Error)?.message ?? String(s.reason)}` });
  }
  return results.map((r) => ({ ...r, name: scrub(r.name, secrets), detail: scrub(r.detail, secrets) }));
}

/** "OK   asterisk ari       connected as 'ai', Asterisk 20.5.0" */
export function formatResults(results: readonly CheckResult[]): string {
  const width = Math.min(28, Math.max(...results.map((r) => r.name.length), 4));
  return results
    .map((r) => `${(r.ok ? (r.warn ? 'WARN' : 'OK') : 'FAIL').padEnd(5)}${r.name.padEnd(width + 2)}${r.detail}`)
    .join('\n');
}

export function doctorExitCode(results: readonly CheckResult[]): number {
  return results.every((r) => r.ok) ? 0 : 1;
}
