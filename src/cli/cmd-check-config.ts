import { loadConfig } from '../config/load.ts';
import { flagString, type ParsedArgs } from './args.ts';

/** Keys whose values are secrets (apiKeyEnv, the NAME of a variable, is not one). */
const SECRET = /^(pass|password|apikey|api_key|secret|token|postgresurl)$|password$|secret$/i;

export async function run(args: ParsedArgs): Promise<number> {
  const file = flagString(args, 'config') ?? process.env.AI_BRIDGE_CONFIG;
  const cfg = loadConfig({ file });
  process.stdout.write(`configuration OK${file ? ` (${file})` : ' (defaults)'}\n`);
  process.stdout.write(JSON.stringify(cfg, (k, v) => (SECRET.test(k) && typeof v === 'string' ? '<redacted>' : v), 2) + '\n');
  return 0;
}
