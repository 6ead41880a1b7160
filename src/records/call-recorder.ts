/**
 * Writes one call's record while the call runs: a stereo WAV (caller left, agent right, 8 kHz
 * 16-bit) appended in chunks of `flushMs` with its header patched after each chunk, a JSONL
 * journal appended per event, and at the end the final JSON record (tmp + rename). A process
 * killed mid-call leaves a playable WAV up to the last chunk and a journal that recovery folds.
 *
 * Hot path: caller()/agent() copy 160 samples into a preallocated ring; one Buffer per chunk
 * (one per second by default) is the only allocation. Disk errors never reach the call: they are
 * logged once, counted, and the recorder goes quiet.
 */
import { mkdir, open, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import pino from 'pino';
import type { CallRecord } from '../agent/call-record.ts';
import { FRAME_SAMPLES } from '../media/audio-frame.ts';
import type { RecordsConfig } from '../config/ops.ts';
import { errorMessage } from '../errors.ts';
import { maskPhone } from '../observability/log.ts';
import { initialRecord, type RecordEvent } from './events.ts';
import { recordPaths, type RecordPaths } from './paths.ts';
import { sizeFields, wavHeader, WAV_HEADER_BYTES } from './wav.ts';

const STEREO_FRAME = FRAME_SAMPLES * 2;
/** A side this many frames behind the other is treated as silent and padded (100 ms). */
const MAX_LAG_FRAMES = 5;
/** Queued, unwritten audio beyond this is dropped (slow disk must not grow memory without bound). */
const MAX_QUEUED_BYTES = 8000 * 4 * 10; // 10 s of stereo audio

export interface CallRecorderOptions {
  dir: string;
  /** The record as known at answer; `initialRecord()` builds one. */
  start: CallRecord;
  recordAudio: boolean;
  flushMs?: number;
  redactPhoneNumbers?: boolean;
  log?: Logger;
  /** Called on each failed write (metrics.recordWriteError). */
  onWriteError?: () => void;
}

export interface RecorderStats {
  framesWritten: number;
  framesDropped: number;
  writeErrors: number;
}

/** Audio for this campaign? (global switch + per-campaign opt-out for consent laws). */
export function shouldRecordAudio(cfg: Pick<RecordsConfig, 'recordAudio' | 'noAudioCampaigns'>, campaignId?: string): boolean {
  if (!cfg.recordAudio) return false;
  return !(campaignId !== undefined && cfg.noAudioCampaigns.includes(campaignId));
}

export class CallRecorder {
  readonly paths: RecordPaths;
  readonly recordAudio: boolean;
  private readonly log: Logger;
  private readonly chunkFrames: number;
  private readonly ringFrames: number;
  private readonly ring: Int16Array;
  /** Next frame index per side: [caller, agent]. */
  private readonly next = [0, 0];
  private flushedFrames = 0;
  private wavBytes = 0;
  private queuedBytes = 0;
  private wav: FileHandle | null = null;
  private journal: FileHandle | null = null;
  private chain: Promise<void>;
  private failed = false;
  private finished: Promise<void> | null = null;
  private readonly st: RecorderStats = { framesWritten: 0, framesDropped: 0, writeErrors: 0 };

  constructor(private readonly opts: CallRecorderOptions) {
    this.paths = recordPaths(opts.dir, opts.start.callId, opts.start.startedAt);
    this.recordAudio = opts.recordAudio;
    this.log = opts.log ?? pino({ level: 'silent' });
    this.chunkFrames = Math.max(1, Math.round((opts.flushMs ?? 1000) / 20));
    this.ringFrames = this.chunkFrames * 2 + MAX_LAG_FRAMES + 4;
    this.ring = new Int16Array(this.recordAudio ? this.ringFrames * STEREO_FRAME : 0);
    this.chain = this.run(async () => {
      await mkdir(this.paths.folder, { recursive: true });
      this.journal = await open(this.paths.events, 'a');
      if (this.recordAudio) {
        this.wav = await open(this.paths.wav, 'w');
        await this.wav.write(wavHeader(0), 0, WAV_HEADER_BYTES, 0);
      }
    });
    this.event({ type: 'start', record: this.redact(opts.start) });
  }

  /** Constructs and waits until the files exist. */
  static async open(opts: CallRecorderOptions): Promise<CallRecorder> {
    const r = new CallRecorder(opts);
    await r.flushed();
    return r;
  }

  get stats(): Readonly<RecorderStats> {
    return this.st;
  }

  /** One 20 ms caller frame (what we received). */
  caller(frame: Int16Array | null): void {
    this.put(0, frame);
  }

  /** One 20 ms agent frame (what we sent); null = we said nothing this tick. */
  agent(frame: Int16Array | null): void {
    this.put(1, frame);
  }

  /** Both sides of one tick at once. */
  tick(callerFrame: Int16Array | null, agentFrame: Int16Array | null): void {
    this.put(0, callerFrame);
    this.put(1, agentFrame);
  }

  event(ev: RecordEvent): void {
    if (this.finished) return;
    const line = JSON.stringify({ ts: new Date().toISOString(), ...ev }) + '\n';
    this.chain = this.run(async () => {
      if (this.journal) await this.journal.write(line);
    });
  }

  /** Resolves when everything handed over so far is on disk (or failed). */
  flushed(): Promise<void> {
    return this.chain;
  }

  /** Writes the rest of the audio, the final header and the final JSON. Idempotent. */
  finish(record: CallRecord): Promise<void> {
    if (this.finished) return this.finished;
    if (this.recordAudio) {
      const end = Math.max(this.next[0], this.next[1]);
      this.padTo(0, end);
      this.padTo(1, end);
      if (end > this.flushedFrames) this.queueChunk(end - this.flushedFrames);
    }
    const endLine =
      JSON.stringify({ ts: new Date().toISOString(), type: 'end', endReason: record.endReason ?? 'error', endDetail: record.endDetail }) + '\n';
    const final = JSON.stringify(this.redact(record), null, 2) + '\n';
    this.finished = this.run(async () => {
      // The final JSON matters most: a failed journal or WAV step must not prevent it.
      await this.journal?.write(endLine).catch(() => undefined);
      if (this.wav) {
        await this.wav.sync().catch(() => undefined);
        await this.wav.close().catch(() => undefined);
        this.wav = null;
      }
      const tmp = `${this.paths.json}.tmp`;
      await writeFile(tmp, final);
      await rename(tmp, this.paths.json);
      if (this.journal) {
        await this.journal.close();
        this.journal = null;
      }
      // The final JSON supersedes the journal; its absence marks the call as finished.
      await unlink(this.paths.events).catch(() => undefined);
    }, true).then(() => this.closeQuietly());
    return this.finished;
  }

  private put(side: 0 | 1, frame: Int16Array | null): void {
    if (!this.recordAudio || this.finished) return;
    const other = 1 - side;
    // A side that stopped being fed (and now resumes) rejoins at the other's position.
    if (this.next[side] < this.next[other] - 2) this.padTo(side, this.next[other] - 1);
    const base = (this.next[side] % this.ringFrames) * STEREO_FRAME + side;
    const n = frame ? Math.min(frame.length, FRAME_SAMPLES) : 0;
    for (let i = 0; i < n; i++) this.ring[base + 2 * i] = frame![i];
    for (let i = n; i < FRAME_SAMPLES; i++) this.ring[base + 2 * i] = 0;
    this.next[side]++;
    // The other side is silent (not fed at all): pad it so the chunk can go out.
    if (this.next[side] - this.next[other] > MAX_LAG_FRAMES) this.padTo(other, this.next[side] - 1);
    const ready = Math.min(this.next[0], this.next[1]) - this.flushedFrames;
    if (ready >= this.chunkFrames) this.queueChunk(this.chunkFrames);
  }

  private padTo(side: number, frameIndex: number): void {
    while (this.next[side] < frameIndex) {
      const base = (this.next[side] % this.ringFrames) * STEREO_FRAME + side;
      for (let i = 0; i < FRAME_SAMPLES; i++) this.ring[base + 2 * i] = 0;
      this.next[side]++;
    }
  }

  private queueChunk(frames: number): void {
    const bytes = frames * STEREO_FRAME * 2;
    const start = this.flushedFrames;
    this.flushedFrames += frames;
    if (this.failed || this.queuedBytes + bytes > MAX_QUEUED_BYTES) {
      this.st.framesDropped += frames;
      return;
    }
    const buf = Buffer.allocUnsafe(bytes);
    for (let f = 0; f < frames; f++) {
      const slot = ((start + f) % this.ringFrames) * STEREO_FRAME;
      const src = this.ring.subarray(slot, slot + STEREO_FRAME);
      // Int16 little-endian on every platform Node runs on here (x86/ARM): copy the bytes.
      Buffer.from(src.buffer, src.byteOffset, src.byteLength).copy(buf, f * STEREO_FRAME * 2);
    }
    this.queuedBytes += bytes;
    this.chain = this.run(async () => {
      this.queuedBytes -= bytes;
      if (!this.wav) return;
      await this.wav.write(buf, 0, bytes, WAV_HEADER_BYTES + this.wavBytes);
      this.wavBytes += bytes;
      this.st.framesWritten += frames;
      // Keep the header true after every chunk: a kill leaves a playable file.
      for (const [offset, value] of sizeFields(this.wavBytes)) {
        const b = Buffer.allocUnsafe(4);
        b.writeUInt32LE(value);
        await this.wav.write(b, 0, 4, offset);
      }
    });
  }

  /** Serializes file operations; the first failure is logged once and stops further writes. */
  private run(op: () => Promise<void>, always = false): Promise<void> {
    const prev = this.chain ?? Promise.resolve();
    return prev.then(async () => {
      if (this.failed && !always) return;
      try {
        await op();
      } catch (err) {
        this.st.writeErrors++;
        this.opts.onWriteError?.();
        if (!this.failed) this.log.error({ err: errorMessage(err), callId: this.opts.start.callId }, 'call record write failed; recording stopped for this call');
        this.failed = true;
      }
    });
  }

  private async closeQuietly(): Promise<void> {
    await this.wav?.close().catch(() => undefined);
    await this.journal?.close().catch(() => undefined);
    this.wav = null;
    this.journal = null;
  }

  private redact(record: CallRecord): CallRecord {
    if (!this.opts.redactPhoneNumbers || record.callerNumber === undefined) return record;
    return { ...record, callerNumber: String(maskPhone(record.callerNumber)) };
  }
}

export { initialRecord };
