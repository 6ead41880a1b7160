/** Picks the call index from config: the records folder, or PostgreSQL as well. */
import type { Logger } from 'pino';
import type { RecordsConfig } from '../config/ops.ts';
import { FilesCallIndex, type CallIndex } from './call-index.ts';
import { PostgresCallIndex } from './pg-index.ts';

export async function openCallIndex(cfg: Pick<RecordsConfig, 'dir' | 'index'>, log?: Logger): Promise<CallIndex> {
  if (cfg.index.type === 'postgres' && cfg.index.postgresUrl) {
    const idx = new PostgresCallIndex({ url: cfg.index.postgresUrl, table: cfg.index.table, log });
    await idx.init();
    return idx;
  }
  return new FilesCallIndex(cfg.dir);
}
