/** `ai-bridge doctor [--json]`: the lead wires it into src/cli/main.ts with a loaded config. */
import type { Config } from '../config/schema.ts';
import type { OpsConfig } from '../config/ops.ts';
import { doctorExitCode, formatResults, runDoctor } from './doctor.ts';

export interface DoctorArgs {
  json?: boolean;
  skipHost?: boolean;
}

/** Prints one line per check; resolves to the exit code (0 all ok, 1 any failure). */
export async function doctorCommand(cfg: Config, args: DoctorArgs, out: (line: string) => void, ops?: OpsConfig): Promise<number> {
  const results = await runDoctor(cfg, { ops, skipHost: args.skipHost });
  out(args.json ? JSON.stringify(results, null, 2) : formatResults(results));
  const failed = results.filter((r) => !r.ok).length;
  if (!args.json) out(failed === 0 ? `all ${results.length} checks passed` : `${failed} of ${results.length} checks failed`);
  return doctorExitCode(results);
}
