/**
 * Embedded, offline speech-to-text: Debian's pocketsphinx (libpocketsphinx3, 0.8+5prealpha) through koffi.
 * One decoder per call, in its own worker thread (pocketsphinx-worker.mjs). The dialog's expected phrases
 * become a JSGF grammar (0.015x real time, exact on the expected answers); with no phrases the decoder
 * falls back to the open-vocabulary language model (20x the CPU, ~24-72% WER on phone audio).
 *
 * Out-of-grammar speech: a closed grammar always answers with its nearest phrase, so at finalize() the
 * utterance is re-decoded with a free phone loop; when the phrase's score falls below the loop's by more
 * than `rejectMargin` log-score units per speech frame, the final's text is '' ("didn't understand").
 */
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { BridgeError, errorMessage } from '../../errors.ts';
import type { Pcm } from '../../media/audio-frame.ts';
import { Upsampler8to16 } from '../../media/resample.ts';
import type { Expectations, ProviderOpenOptions, SpeechToText, SttEvent, SttSession } from '../types.ts';
import { assertEmbeddedStack } from '../embedded-setup.ts';
import { DEBIAN_DICT, DEBIAN_LM, ensurePhoneBandModel } from './pocketsphinx-model.ts';

/** Minimum (phrase score - phone-loop score) per speech frame; measured threshold (docs/embedded-speech-accuracy.md). */
export const DEFAULT_REJECT_MARGIN = -6;

/** The matched phrase must span at least this share of the speech the phone loop found. */
export const DEFAULT_MIN_COVERAGE = 0.5;

export interface PocketsphinxOptions {
  logger?: pino.Logger;
  /** An acoustic model folder used as is (skips building the phone-band copy). */
  modelDir?: string;
  /** Where the phone-band model copy is built (default os.tmpdir()/ai-bridge-ps-model). */
  dataDir?: string;
  /** Out-of-grammar threshold (log-score per speech frame, default -6); higher rejects more. */
  rejectMargin?: number;
  /** Minimum share of the phone loop's speech frames the phrase's words must span (default 0.5). */
  minCoverage?: number;
}

const WORKER_URL = new URL('./pocketsphinx-worker.mjs', import.meta.url);
/** 100 ms per postMessage: five 20 ms frames at 16 kHz. */
const BATCH_SAMPLES = 1600;
const MAX_UTTERANCE_SEC = 30;

type WorkerMsg =
  | { t: 'ready'; dropped: string[] }
  | { t: 'dropped'; phrases: string[] }
  | { t: 'speech-start' }
  | { t: 'partial'; text: string }
  | { t: 'final'; text: string; raw: string; margin: number | null; coverage: number | null; confidence: number; decodeMs: number }
  | { t: 'error'; message: string };

export class PocketsphinxStt implements SpeechToText {
  readonly name = 'pocketsphinx';
  private readonly log: pino.Logger;
  private modelDir: string | undefined;

  constructor(private readonly opts: PocketsphinxOptions = {}) {
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.modelDir = opts.modelDir;
  }

  async open(opts: ProviderOpenOptions & { expect?: Expectations }, onEvent: (event: SttEvent) => void): Promise<SttSession> {
    this.modelDir ??= ensurePhoneBandModel(undefined, this.opts.dataDir);
    const session = new PocketsphinxSession(
      {
        modelDir: this.modelDir,
        dictPath: DEBIAN_DICT,
        lmPath: DEBIAN_LM,
        phrases: [...(opts.expect?.phrases ?? [])],
        rejectMargin: this.opts.rejectMargin ?? DEFAULT_REJECT_MARGIN,
        minCoverage: this.opts.minCoverage ?? DEFAULT_MIN_COVERAGE,
        maxUttSec: MAX_UTTERANCE_SEC,
      },
      this.log.child({ callId: opts.callId, provider: 'pocketsphinx' }),
      onEvent,
    );
    try {
      await session.ready;
    } catch (err) {
      assertEmbeddedStack(); // a missing Debian package explains itself better than the worker's error
      throw err;
    }
    if (opts.signal.aborted) await session.close();
    else opts.signal.addEventListener('abort', () => void session.close(), { once: true });
    return session;
  }
}

class PocketsphinxSession implements SttSession {
  readonly provider = 'pocketsphinx';
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private readonly up = new Upsampler8to16();
  private batch = new Int16Array(BATCH_SAMPLES);
  private batchLen = 0;
  private closed = false;
  private failed = false;
  private exited: Promise<void>;
  /** Frames dropped because the session had failed or closed (counted, never thrown). */
  droppedFrames = 0;

  constructor(
    workerData: Record<string, unknown>,
    private readonly log: pino.Logger,
    private readonly onEvent: (event: SttEvent) => void,
  ) {
    this.worker = new Worker(WORKER_URL, { workerData });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.once('exit', (code) => {
      const e = new BridgeError('PROVIDER_UNAVAILABLE', `pocketsphinx worker exited unexpectedly (code ${code})`, {});
      if (!this.ready_) this.rejectReady?.(e);
      else this.fail(e);
    });
    this.ready = new Promise((resolve, reject) => {
      this.rejectReady = reject;
      this.worker.on('message', (msg: WorkerMsg) => {
        if (msg.t === 'ready') {
          if (msg.dropped.length) this.log.warn({ phrases: msg.dropped }, 'phrases with words unknown to the dictionary dropped');
          resolve();
        } else if (msg.t === 'error' && !this.ready_) {
          this.failed = true;
          void this.worker.terminate();
          reject(new BridgeError('PROVIDER_UNAVAILABLE', `pocketsphinx failed to start: ${msg.message}`, {}));
        } else this.onMessage(msg);
      });
      this.worker.once('error', (err) => {
        const e = new BridgeError('PROVIDER_UNAVAILABLE', `pocketsphinx worker crashed: ${errorMessage(err)}`, {}, { cause: err });
        if (!this.ready_) reject(e);
        else this.fail(e);
      });
    });
    this.ready.then(
      () => (this.ready_ = true),
      () => undefined,
    );
  }

  private ready_ = false;
  private rejectReady: ((err: BridgeError) => void) | undefined;

  write(frame: Pcm): void {
    if (this.closed || this.failed) {
      this.droppedFrames++;
      return;
    }
    const up = this.up.process(frame);
    let off = 0;
    while (off < up.length) {
      const n = Math.min(up.length - off, BATCH_SAMPLES - this.batchLen);
      this.batch.set(up.subarray(off, off + n), this.batchLen);
      this.batchLen += n;
      off += n;
      if (this.batchLen === BATCH_SAMPLES) this.flush();
    }
  }

  setExpectations(expect: Expectations): void {
    if (this.closed || this.failed) return;
    this.flush();
    this.worker.postMessage({ t: 'grammar', phrases: [...expect.phrases] });
  }

  finalize(): void {
    if (this.closed || this.failed) return;
    this.flush();
    this.worker.postMessage({ t: 'finalize' });
  }

  async close(): Promise<void> {
    if (this.closed) return this.exited;
    this.closed = true;
    // ask the worker to free the decoder; terminate regardless after a short grace period
    this.worker.postMessage({ t: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), 1000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Hands the filled part of the batch to the worker (transferred, not copied). */
  private flush(): void {
    if (this.batchLen === 0) return;
    const pcm = this.batchLen === BATCH_SAMPLES ? this.batch : this.batch.slice(0, this.batchLen);
    this.worker.postMessage({ t: 'audio', pcm }, [pcm.buffer]);
    if (pcm === this.batch) this.batch = new Int16Array(BATCH_SAMPLES);
    this.batchLen = 0;
  }

  private onMessage(msg: WorkerMsg): void {
    if (this.closed) return;
    switch (msg.t) {
      case 'speech-start':
        this.onEvent({ type: 'speech-start' });
        break;
      case 'partial':
        this.onEvent({ type: 'partial', text: msg.text });
        break;
      case 'final':
        this.log.debug({ raw: msg.raw, margin: msg.margin, coverage: msg.coverage, decodeMs: msg.decodeMs }, 'final');
        this.onEvent({ type: 'final', text: msg.text, confidence: msg.confidence, endOfUtterance: true });
        break;
      case 'dropped':
        this.log.warn({ phrases: msg.phrases }, 'phrases with words unknown to the dictionary dropped');
        break;
      case 'error':
        this.fail(new BridgeError('PROVIDER_UNAVAILABLE', `pocketsphinx: ${msg.message}`, {}));
        break;
      case 'ready':
        break;
    }
  }

  private fail(error: BridgeError): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.log.error({ err: error.message }, 'pocketsphinx session failed');
    this.onEvent({ type: 'error', error });
    void this.worker.terminate();
  }
}
