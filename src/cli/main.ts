/**
 * `ai-bridge <command>`: one executable for the daemon and its tools. Known failures (bad config,
 * missing packages, unreachable PBX) print one clear message and exit 1 — never a stack trace.
 */
import { BridgeError, errorMessage } from '../errors.ts';
import { parseArgs, type ParsedArgs } from './args.ts';

const USAGE = `usage: ai-bridge <command> [options]

commands:
  simulate [--out DIR] [--config FILE]   a complete simulated call over loopback RTP (embedded stack)
  serve [--config FILE]                  run the daemon (Asterisk ARI and/or FreeSWITCH ESL)
  check-config [--config FILE]           validate the configuration and print it (secrets redacted)
  doctor [--config FILE]                 check PBX, providers, VICIdial, ports and disk; non-zero on failure
  calls [--limit N] [--config FILE]      list recent calls
  call ID [--config FILE]                print one call's transcript with latencies
  bench [--steps 50,200,...] [--out F]   load benchmark (N concurrent simulated calls)
  bench --floor [--calls N]              what moving N calls' datagrams alone costs on this box
  bench --fuzz | --fuzz-events | --soak | --faults   reliability runs (see bench/RESULTS.md)
`;

type Handler = (args: ParsedArgs) => Promise<number>;

const commands: Record<string, () => Promise<Handler>> = {
  simulate: async () => (await import('./cmd-simulate.ts')).run,
  demo: async () => (await import('./cmd-simulate.ts')).run,
  serve: async () => (await import('./cmd-serve.ts')).run,
  'check-config': async () => (await import('./cmd-check-config.ts')).run,
  doctor: async () => (await import('./cmd-ops.ts')).doctor,
  calls: async () => (await import('./cmd-ops.ts')).calls,
  call: async () => (await import('./cmd-ops.ts')).call,
  bench: async () => (await import('./cmd-bench.ts')).run,
};

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.command === 'help' || args.flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const load = commands[args.command];
  if (!load) {
    process.stderr.write(`ai-bridge: unknown command "${args.command}"\n\n${USAGE}`);
    return 2;
  }
  const handler = await load();
  return handler(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof BridgeError) {
      process.stderr.write(`ai-bridge: ${err.message}\n`);
    } else {
      process.stderr.write(`ai-bridge: unexpected error: ${errorMessage(err)}\n`);
      if (process.env.AI_BRIDGE_DEBUG) console.error(err);
    }
    process.exitCode = 1;
  },
);
