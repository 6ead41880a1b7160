/** `ai-bridge serve`: the daemon under systemd. SIGTERM drains, SIGHUP reloads what is safe to reload. */
import { loadConfig } from '../config/load.ts';
import { startDaemon } from '../daemon.ts';
import { createLogger } from '../observability/log.ts';
import { installShutdown } from '../ops/drain.ts';
import { installReload } from '../ops/reload.ts';
import { flagString, type ParsedArgs } from './args.ts';

export async function run(args: ParsedArgs): Promise<number> {
  const file = flagString(args, 'config') ?? process.env.AI_BRIDGE_CONFIG;
  const config = loadConfig({ file });
  const logger = createLogger(config.log);
  const daemon = await startDaemon(config, logger);
  installShutdown({ drainer: daemon.drainer, drainSeconds: config.ops.drainSeconds, close: () => daemon.close(), log: logger });
  let current = config;
  installReload({
    load: () => loadConfig({ file }),
    current: () => current,
    // reloadConfig has already logged which keys apply now and which need a restart
    apply: (next) => {
      daemon.reload(next);
      current = next;
    },
    log: logger,
  });
  // Keep running: the adapters' sockets hold the event loop open.
  return new Promise<number>(() => undefined);
}
