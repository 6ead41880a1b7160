/**
 * `ai-bridge simulate`: the README's first command. Checks the embedded speech stack first (and, when
 * it can, installs it through scripts/setup-embedded.sh), then places one complete call over loopback.
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { loadConfig } from '../config/load.ts';
import { BridgeError } from '../errors.ts';
import { checkEmbeddedStack } from '../providers/embedded-setup.ts';
import { simulate } from '../sim/simulate.ts';
import { formatSimulation } from '../sim/report.ts';
import { flagString, type ParsedArgs } from './args.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export async function run(args: ParsedArgs): Promise<number> {
  ensureEmbeddedStack();
  const file = flagString(args, 'config') ?? process.env.AI_BRIDGE_CONFIG;
  // --cloud-local: the cloud chain (Deepgram, OpenAI, ElevenLabs -> Cartesia) against the local servers
  // in test/ that speak each vendor's wire protocol, with realistic delays. Needs the repository's test/.
  const cloud = args.flags['cloud-local'] ? await import('../../test/providers/servers/cloud-scenario.ts') : null;
  const servers = cloud ? await cloud.startLocalCloud() : null;
  const config = loadConfig({
    file,
    overrides: file
      ? undefined
      : {
          // The demo's lead is transferred to this in-group when qualified.
          transfers: { specialists: { description: 'live solar specialists', context: 'default', ingroup: 'SOLARXFER' } },
          media: { rtpPortMin: 41000, rtpPortMax: 41999 },
          ...(cloud && servers ? { providers: servers.config, agent: { greeting: cloud.CLOUD_GREETING } } : {}),
        },
  });
  const level = flagString(args, 'log-level') ?? (args.flags.verbose ? 'debug' : 'warn');
  const logger = pino({ level }, pino.destination(2));
  const out = flagString(args, 'out');
  process.stdout.write(`Placing a simulated call over loopback RTP (${servers ? 'cloud providers against their local protocol servers' : 'embedded speech stack, no network'})...\n`);
  const result = await simulate({ config, logger, out, script: cloud?.CLOUD_SCRIPT }).finally(() => servers?.stop());
  process.stdout.write(formatSimulation(result.record));
  if (result.wavPath) process.stdout.write(`\nwrote ${result.wavPath} (caller left, agent right) and ${result.jsonPath}\n`);
  return 0;
}

function ensureEmbeddedStack(): void {
  let check = checkEmbeddedStack();
  if (check.ok) return;
  process.stderr.write(`The embedded speech stack needs Debian packages: ${check.missing.join(' ')}\nRunning scripts/setup-embedded.sh ...\n`);
  const r = spawnSync('bash', [resolve(ROOT, 'scripts/setup-embedded.sh')], { stdio: 'inherit' });
  check = checkEmbeddedStack();
  if (r.status !== 0 || !check.ok) {
    throw new BridgeError(
      'SETUP_MISSING_PACKAGES',
      `the embedded speech stack is missing Debian packages: ${check.missing.join(' ')}\n  install them with: sudo apt-get install -y ${check.missing.join(' ')}`,
      { missing: check.missing },
    );
  }
}
