/** Forking the bench's TypeScript children (through tsx, like bin/ai-bridge.js) and talking to them with timeouts. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

export function forkTs(file: string, extraExecArgv: string[] = [], args: string[] = []): ChildProcess {
  return fork(join(here, file), args, {
    execArgv: ['--import', 'tsx', '--expose-gc', ...extraExecArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
}

/**
 * In a child: send its last message (the result) and disconnect once it is written. At 1,000 calls
 * a result is hundreds of KiB, more than a pipe holds: disconnecting right after send() can close
 * the channel mid-write, and the parent never gets it.
 */
export function sendLastToParent(msg: object): void {
  process.send?.(msg, undefined, {}, () => process.disconnect?.());
}

/** The next message of `type` from the child, or reject on error message, exit or timeout. */
export function nextMessage<T extends { type: string }>(child: ChildProcess, type: T['type'], timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for "${type}"`)), timeoutMs);
    const onMsg = (m: { type: string; message?: string }): void => {
      if (m.type === type) done(null, m as T);
      else if (m.type === 'error') done(new Error(`child error: ${m.message}`));
    };
    const onExit = (code: number | null): void => done(new Error(`child exited (${code}) before "${type}"`));
    function done(err: Error | null, v?: T): void {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(v!);
    }
    child.on('message', onMsg);
    child.on('exit', onExit);
  });
}

/** Wait for exit; kill (by this child's pid only) if it does not leave in time. */
export async function reap(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
