/**
 * An append-only JSONL journal of API requests VICIdial has not yet accepted. Every `add` and `done`
 * is written and fsync'd before the call returns, so a disposition or DNC request survives a crash
 * or restart. Replay = adds minus dones; a torn last line (crash mid-write) is skipped and counted.
 * Compaction rewrites the file to the pending set (tmp file + fsync + rename) when it grows.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';

export interface QueuedRequest {
  readonly id: string;
  readonly fn: string;
  readonly params: Readonly<Record<string, string>>;
  /** Wall-clock ms when first queued. */
  readonly queuedAt: number;
  /** Why (for logs): e.g. 'disposition', 'dnc'. */
  readonly purpose: string;
}

type JournalLine = { op: 'add'; req: QueuedRequest } | { op: 'done'; id: string; result: string };

export class DurableQueue {
  private fd: number;
  private readonly file: string;
  private readonly pending = new Map<string, QueuedRequest>();
  private lines = 0;
  private closed = false;
  readonly stats = { replayed: 0, tornLines: 0, compactions: 0 };
  private readonly log: pino.Logger;

  constructor(dir: string, logger?: pino.Logger, private readonly compactAfterLines = 1000) {
    this.log = logger ?? pino({ level: 'silent' });
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'vicidial-queue.jsonl');
    this.replay();
    this.compact();
    this.fd = openSync(this.file, 'a');
  }

  private replay(): void {
    if (!existsSync(this.file)) return;
    const text = readFileSync(this.file, 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let parsed: JournalLine;
      try {
        parsed = JSON.parse(line) as JournalLine;
      } catch {
        this.stats.tornLines++;
        continue;
      }
      if (parsed.op === 'add' && parsed.req && typeof parsed.req.id === 'string') this.pending.set(parsed.req.id, parsed.req);
      else if (parsed.op === 'done') this.pending.delete(parsed.id);
    }
    this.stats.replayed = this.pending.size;
    if (this.pending.size > 0 || this.stats.tornLines > 0) {
      this.log.info({ pending: this.pending.size, tornLines: this.stats.tornLines }, 'vicidial queue replayed from disk');
    }
  }

  /** Rewrite the journal to the pending set only; atomic through rename. */
  private compact(): void {
    const tmp = this.file + '.tmp';
    const fd = openSync(tmp, 'w');
    try {
      for (const req of this.pending.values()) writeSync(fd, JSON.stringify({ op: 'add', req } satisfies JournalLine) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    this.lines = this.pending.size;
    this.stats.compactions++;
  }

  private append(line: JournalLine): void {
    if (this.closed) throw new Error('vicidial queue is closed');
    writeSync(this.fd, JSON.stringify(line) + '\n');
    fsyncSync(this.fd);
    this.lines++;
  }

  add(fn: string, params: Record<string, string>, purpose: string): QueuedRequest {
    const req: QueuedRequest = { id: randomUUID(), fn, params, queuedAt: Date.now(), purpose };
    this.append({ op: 'add', req });
    this.pending.set(req.id, req);
    return req;
  }

  /** The request reached a final answer (sent, or refused for good): drop it from the journal. */
  done(id: string, result: string): void {
    // Closed mid-send: the request stays journalled and is resent next start (at-least-once).
    if (!this.pending.has(id) || this.closed) return;
    this.append({ op: 'done', id, result });
    this.pending.delete(id);
    if (this.lines >= this.compactAfterLines && !this.closed) {
      closeSync(this.fd);
      this.compact();
      this.fd = openSync(this.file, 'a');
    }
  }

  /** Oldest first. */
  list(): QueuedRequest[] {
    return [...this.pending.values()];
  }

  get size(): number {
    return this.pending.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
