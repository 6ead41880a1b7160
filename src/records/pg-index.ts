/**
 * PostgreSQL call index (`pg`): one row per call, the whole record as jsonb plus the columns a
 * supervisor filters on. Upsert by call id, so re-indexing after recovery is harmless. The table
 * name comes from config, validated as a plain identifier (it cannot be a bind parameter).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { CallRecord } from '../agent/call-record.ts';
import { BridgeError, errorMessage } from '../errors.ts';
import { summarize, type CallIndex, type CallSummary, type ListQuery } from './call-index.ts';

const IDENT = /^[a-z_][a-z0-9_]*$/;

export interface PgIndexOptions {
  url: string;
  table?: string;
  log?: Logger;
  /** Pool size; index writes are one per call, a few connections suffice. */
  max?: number;
}

/** Connection string with the password blanked, for messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

export class PostgresCallIndex implements CallIndex {
  private readonly pool: pg.Pool;
  private readonly table: string;

  constructor(private readonly opts: PgIndexOptions) {
    this.table = opts.table ?? 'calls';
    if (!IDENT.test(this.table)) throw new BridgeError('CONFIG_INVALID', 'records.index.table must be a plain SQL identifier', { table: this.table });
    this.pool = new pg.Pool({ connectionString: opts.url, max: opts.max ?? 3 });
    // An idle client losing its server must not crash the daemon.
    this.pool.on('error', (err) => opts.log?.warn({ err: errorMessage(err) }, 'postgres index connection error'));
  }

  /** Creates the table and indexes if missing. Call once at start. */
  async init(): Promise<void> {
    const t = this.table;
    await this.query(`CREATE TABLE IF NOT EXISTS ${t} (
      call_id     text PRIMARY KEY,
      started_at  timestamptz NOT NULL,
      ended_at    timestamptz,
      pbx         text NOT NULL,
      campaign_id text,
      lead_id     bigint,
      disposition text,
      end_reason  text,
      wav_path    text,
      record      jsonb NOT NULL
    )`);
    await this.query(`CREATE INDEX IF NOT EXISTS ${t}_started_at_idx ON ${t} (started_at DESC)`);
    await this.query(`CREATE INDEX IF NOT EXISTS ${t}_lead_id_idx ON ${t} (lead_id)`);
  }

  async put(record: CallRecord, extra: { wavPath?: string } = {}): Promise<void> {
    await this.query(
      `INSERT INTO ${this.table} (call_id, started_at, ended_at, pbx, campaign_id, lead_id, disposition, end_reason, wav_path, record)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (call_id) DO UPDATE SET
         started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, pbx = EXCLUDED.pbx,
         campaign_id = EXCLUDED.campaign_id, lead_id = EXCLUDED.lead_id, disposition = EXCLUDED.disposition,
         end_reason = EXCLUDED.end_reason, wav_path = EXCLUDED.wav_path, record = EXCLUDED.record`,
      [
        record.callId,
        record.startedAt,
        record.endedAt ?? null,
        record.pbx,
        record.campaignId ?? null,
        record.leadId ?? null,
        record.disposition ?? null,
        record.endReason ?? null,
        extra.wavPath ?? null,
        JSON.stringify(record),
      ],
    );
  }

  async list(q: ListQuery = {}): Promise<CallSummary[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.since) {
      args.push(q.since.toISOString());
      where.push(`started_at >= $${args.length}`);
    }
    if (q.campaignId !== undefined) {
      args.push(q.campaignId);
      where.push(`campaign_id = $${args.length}`);
    }
    args.push(q.limit ?? 50);
    const rows = await this.query<{ record: CallRecord }>(
      `SELECT record FROM ${this.table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY started_at DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map((r) => summarize(r.record));
  }

  async get(callId: string): Promise<CallRecord | null> {
    const rows = await this.query<{ record: CallRecord }>(`SELECT record FROM ${this.table} WHERE call_id = $1`, [callId]);
    return rows[0]?.record ?? null;
  }

  async deleteOlderThan(cutoff: Date): Promise<number> {
    const res = await this.pool.query(`DELETE FROM ${this.table} WHERE started_at < $1`, [cutoff.toISOString()]).catch((err: unknown) => {
      throw this.wrap(err);
    });
    return res.rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, args: unknown[] = []): Promise<R[]> {
    try {
      const res = await this.pool.query<R>(sql, args);
      return res.rows;
    } catch (err) {
      throw this.wrap(err);
    }
  }

  private wrap(err: unknown): BridgeError {
    // pg's messages never carry the password; the URL we add is blanked.
    return new BridgeError('INTERNAL', `postgres call index: ${errorMessage(err)}`, { url: safeUrl(this.opts.url), table: this.table }, { cause: err });
  }
}
