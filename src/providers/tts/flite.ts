/**
 * Embedded, offline text-to-speech: Debian's flite as a child process, one sentence per synthesize().
 * flite writes its WAV only once the utterance is complete, so streaming happens at sentence level
 * (first audio ~75-90 ms for kal/kal16). Under Node `flite -o /dev/stdout` silently writes nothing (stdout
 * is a socket), hence a temp file in a per-session folder, removed on close.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { BridgeError } from '../../errors.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import { Resampler } from '../../media/resample.ts';
import type { ProviderOpenOptions, TextToSpeech, TtsSession } from '../types.ts';

export type FliteVoice = 'kal' | 'kal16' | 'rms' | 'slt' | 'awb';
export const FLITE_VOICES: readonly FliteVoice[] = ['kal', 'kal16', 'rms', 'slt', 'awb'];

/** 100 ms at 8 kHz per yielded chunk. */
const CHUNK_SAMPLES = 800;
/** Longest text handed to flite in one call; a sentence chunker never gets near it. */
export const MAX_TEXT_CHARS = 2000;
/** flite processes alive at once in this process: 100 overlapping calls must not fork-bomb the box. */
export const MAX_CONCURRENT_FLITE = 4;

export interface FliteOptions {
  voice?: FliteVoice;
  logger?: pino.Logger;
  /** Binary to run (tests and unusual installs). */
  bin?: string;
}

/** A small FIFO semaphore; waiting is abortable. */
class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(private readonly max: number) {}

  async acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    if (this.active < this.max) {
      this.active++;
      return true;
    }
    return new Promise<boolean>((resolve) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.active++;
        resolve(true);
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      };
      this.waiters.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    this.active--;
    this.waiters.shift()?.();
  }
}

const fliteSlots = new Semaphore(MAX_CONCURRENT_FLITE);

/**
 * Text flite can take safely: control characters removed, whitespace collapsed, length capped. The text
 * travels as one argv entry (no shell), so quotes and `;` are harmless; a leading '-' is harmless too
 * because it follows `-t`.
 */
export function sanitizeForFlite(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return clean.length > MAX_TEXT_CHARS ? clean.slice(0, MAX_TEXT_CHARS) : clean;
}

/**
 * PCM of a 16-bit WAV (RIFF) file, first channel only. Tolerates a data chunk whose declared length runs
 * past the end of the file (espeak-ng writes 0x7ffff000) by reading what is there.
 */
export function parseWavPcm16(buf: Uint8Array): { sampleRate: number; pcm: Int16Array } {
  const bad = (why: string): BridgeError => new BridgeError('PROVIDER_PROTOCOL', `bad WAV from TTS: ${why}`, { bytes: buf.length });
  if (buf.length < 12) throw bad('too short');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (at: number): string => String.fromCharCode(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw bad('not RIFF/WAVE');
  let off = 12;
  let sampleRate = 0;
  let channels = 0;
  while (off + 8 <= buf.length) {
    const id = tag(off);
    const size = view.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) throw bad('short fmt chunk');
      const format = view.getUint16(body, true);
      channels = view.getUint16(body + 2, true);
      sampleRate = view.getUint32(body + 4, true);
      const bits = view.getUint16(body + 14, true);
      if (format !== 1 || bits !== 16 || channels < 1) throw bad(`unsupported format ${format}/${bits} bit/${channels} ch`);
    } else if (id === 'data') {
      if (!sampleRate) throw bad('data before fmt');
      const end = Math.min(buf.length, body + size);
      const frames = Math.floor((end - body) / (2 * channels));
      const pcm = new Int16Array(frames);
      for (let i = 0; i < frames; i++) pcm[i] = view.getInt16(body + i * 2 * channels, true);
      return { sampleRate, pcm };
    }
    off = body + size + (size & 1);
  }
  throw bad('no data chunk');
}

/** `pcm` at `rate` -> 8 kHz through a proper low-pass (filter tail flushed). */
export function to8k(pcm: Int16Array, rate: number): Int16Array {
  if (rate === 8000) return pcm;
  const r = new Resampler(rate, 8000);
  const head = r.process(pcm);
  const tail = r.process(new Int16Array(Math.ceil((r.delayOutputSamples * rate) / 8000) + 1));
  const out = new Int16Array(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out;
}

export class FliteTts implements TextToSpeech {
  readonly name = 'flite';
  readonly voice: FliteVoice;
  private readonly log: pino.Logger;
  private readonly bin: string;

  constructor(opts: FliteOptions = {}) {
    this.voice = opts.voice ?? 'kal16';
    if (!FLITE_VOICES.includes(this.voice)) {
      throw new BridgeError('CONFIG_INVALID', `unknown flite voice "${String(this.voice)}"; expected one of ${FLITE_VOICES.join(', ')}`);
    }
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.bin = opts.bin ?? 'flite';
  }

  async open(opts: ProviderOpenOptions): Promise<TtsSession> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ai-bridge-flite-'));
    const session = new FliteSession(this.bin, this.voice, dir, this.log.child({ callId: opts.callId, provider: 'flite' }));
    if (opts.signal.aborted) await session.close();
    else opts.signal.addEventListener('abort', () => void session.close(), { once: true });
    return session;
  }
}

class FliteSession implements TtsSession {
  readonly provider = 'flite';
  private seq = 0;
  private closed = false;
  /** Aborts every running synthesis when the session closes. */
  private readonly closing = new AbortController();

  constructor(
    private readonly bin: string,
    private readonly voice: FliteVoice,
    private readonly dir: string,
    private readonly log: pino.Logger,
  ) {}

  async *synthesize(text: string, signal: AbortSignal): AsyncIterable<Pcm> {
    if (this.closed) throw new BridgeError('PROVIDER_CLOSED', 'flite session is closed');
    const clean = sanitizeForFlite(text);
    if (!clean || signal.aborted) return;
    const both = AbortSignal.any([signal, this.closing.signal]);
    if (!(await fliteSlots.acquire(both))) return;
    const file = path.join(this.dir, `${this.seq++}.wav`);
    let wav: Buffer | null;
    try {
      wav = await this.run(clean, file, both);
    } finally {
      fliteSlots.release();
    }
    await fs.rm(file, { force: true });
    if (!wav || both.aborted) return;
    const { sampleRate, pcm } = parseWavPcm16(wav);
    const out = to8k(pcm, sampleRate);
    for (let i = 0; i < out.length; i += CHUNK_SAMPLES) {
      if (both.aborted) return;
      yield out.slice(i, i + CHUNK_SAMPLES);
    }
  }

  /** Runs flite to `file`; null when aborted (the process is killed at once). */
  private run(text: string, file: string, signal: AbortSignal): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      // argv, never a shell: the text cannot inject anything
      const child = spawn(this.bin, ['-voice', this.voice, '-t', text, '-o', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        if (stderr.length < 2000) stderr += d;
      });
      const onAbort = (): void => {
        child.kill('SIGKILL');
      };
      signal.addEventListener('abort', onAbort, { once: true });
      child.once('error', (err: NodeJS.ErrnoException) => {
        signal.removeEventListener('abort', onAbort);
        reject(
          err.code === 'ENOENT'
            ? new BridgeError('SETUP_MISSING_PACKAGES', `flite not found (${this.bin}); install with: sudo apt-get install -y flite`, {}, { cause: err })
            : new BridgeError('PROVIDER_UNAVAILABLE', `cannot run flite: ${err.message}`, {}, { cause: err }),
        );
      });
      child.once('close', (code, sig) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return resolve(null);
        if (code !== 0) {
          this.log.warn({ code, sig, stderr: stderr.slice(0, 300) }, 'flite failed');
          return reject(new BridgeError('PROVIDER_UNAVAILABLE', `flite exited with ${code ?? sig}`, { voice: this.voice }));
        }
        fs.readFile(file).then(resolve, (err: unknown) =>
          reject(new BridgeError('PROVIDER_PROTOCOL', 'flite wrote no audio file', { voice: this.voice }, { cause: err })),
        );
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
