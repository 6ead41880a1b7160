/** `doctor`, `calls`, `call ID`: thin CLI shells over src/ops (the logic and its tests live there). */
import { loadConfig } from '../config/load.ts';
import { BridgeError } from '../errors.ts';
import { callCommand, callsCommand } from '../ops/cli-calls.ts';
import { doctorCommand } from '../ops/cli-doctor.ts';
import { openCallIndex } from '../records/open-index.ts';
import { flagNumber, flagString, type ParsedArgs } from './args.ts';

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);

function config(args: ParsedArgs) {
  return loadConfig({ file: flagString(args, 'config') ?? process.env.AI_BRIDGE_CONFIG });
}

export async function doctor(args: ParsedArgs): Promise<number> {
  const cfg = config(args);
  return doctorCommand(cfg, { json: args.flags.json === true, skipHost: args.flags['skip-host'] === true }, out, cfg.ops);
}

export async function calls(args: ParsedArgs): Promise<number> {
  const cfg = config(args);
  const index = await openCallIndex(cfg.records);
  try {
    return await callsCommand(
      index,
      { limit: flagNumber(args, 'limit') ?? 20, since: flagString(args, 'since'), campaign: flagString(args, 'campaign'), json: args.flags.json === true },
      out,
    );
  } finally {
    await index.close();
  }
}

export async function call(args: ParsedArgs): Promise<number> {
  const id = args.positional[0];
  if (!id) throw new BridgeError('CONFIG_INVALID', 'usage: ai-bridge call <call-id>');
  const cfg = config(args);
  const index = await openCallIndex(cfg.records);
  try {
    return await callCommand(index, id, { json: args.flags.json === true }, out);
  } finally {
    await index.close();
  }
}
