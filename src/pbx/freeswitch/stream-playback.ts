/**
 * Agent audio back to the caller through community mod_audio_stream: we send `streamAudio` chunks
 * (raw L16 8 kHz, base64) on the WebSocket, the module writes each to a file and fires
 * `mod_audio_stream::play`; we then `uuid_broadcast <uuid> <file> aleg`. FreeSWITCH queues
 * broadcasts as private events and runs them one after another, so issuing each as soon as its file
 * exists plays the chunks back to back. Barge-in: `uuid_break <uuid> all` stops the file and drops the
 * queue; play events still in flight for chunks sent before the break are skipped.
 *
 * Chunking: frames arrive at the 20 ms pace the agent speaks, so a chunk costs its own length in
 * waiting, and chunk k is ready exactly when chunk k-1 would finish if both had the same length. The
 * first chunk of a talk-spurt (firstChunkMs) therefore sets the only safety margin: later chunks
 * (chunkMs) are smaller, and every chunk k plays gap-free while its round trip is no more than
 * (firstChunkMs - chunkMs) slower than the first one's. A talk-spurt's tail (pullOutbound -> null)
 * is sent at once.
 */
import type pino from 'pino';
import { FRAME_SAMPLES, type Pcm } from '../../media/audio-frame.ts';
import { errorMessage } from '../../errors.ts';
import { breakAll, broadcast, isOk, type ApiCall } from './commands.ts';
import { writeL16 } from './l16.ts';
import type { FreeswitchCounters, OutboundTransport } from './transport.ts';

export interface StreamPlaybackOptions {
  uuid: string;
  firstChunkFrames: number;
  chunkFrames: number;
  /** Sends a text frame on the call's WebSocket; false when the socket is gone. */
  sendText: (text: string) => boolean;
  api: (call: ApiCall) => Promise<string>;
  counters: FreeswitchCounters;
  log: pino.Logger;
}

const BYTES_PER_FRAME = FRAME_SAMPLES * 2;

export class StreamPlayback implements OutboundTransport {
  private readonly buf: Buffer;
  private frames = 0;
  private target: number;
  private talking = false;
  /** Chunks sent whose play event has not arrived yet. */
  private inFlight = 0;
  /** Of those, how many were sent before the last break (their files must not be played). */
  private stale = 0;
  /** Broadcasts issued and not yet known finished: something may be audible or queued in FreeSWITCH. */
  private queued = 0;
  private closed = false;
  /** Latency probe: when the current talk-spurt's first frame was pulled. */
  spurtStartedAt: number | null = null;

  constructor(private readonly opts: StreamPlaybackOptions) {
    this.buf = Buffer.alloc(Math.max(opts.firstChunkFrames, opts.chunkFrames) * BYTES_PER_FRAME);
    this.target = opts.firstChunkFrames;
  }

  sendFrame(frame: Pcm | null): void {
    if (this.closed) return;
    if (frame) {
      if (!this.talking) {
        this.talking = true;
        this.target = this.opts.firstChunkFrames;
      }
      writeL16(frame, this.buf, this.frames * BYTES_PER_FRAME);
      this.frames++;
      if (this.frames >= this.target) {
        this.sendChunk();
        this.target = this.opts.chunkFrames;
      }
    } else if (this.talking) {
      this.talking = false;
      if (this.frames > 0) this.sendChunk();
    }
  }

  private sendChunk(): void {
    const audio = this.buf.toString('base64', 0, this.frames * BYTES_PER_FRAME);
    this.frames = 0;
    // JSON per chunk (every 100+ ms), not per packet: fine for the hot-path rule.
    const text = `{"type":"streamAudio","data":{"audioDataType":"raw","sampleRate":8000,"audioData":"${audio}"}}`;
    if (this.opts.sendText(text)) {
      this.inFlight++;
      this.opts.counters.chunksSent++;
    }
  }

  /** `mod_audio_stream::play` for this call: `file` is where the module wrote the chunk. */
  onPlay(file: string): void {
    this.opts.counters.playEvents++;
    if (this.inFlight > 0) this.inFlight--;
    if (this.stale > 0) {
      this.stale--;
      return;
    }
    if (this.closed) return;
    let call: ApiCall;
    try {
      call = broadcast(this.opts.uuid, file);
    } catch (err) {
      this.opts.log.warn({ uuid: this.opts.uuid, err: errorMessage(err) }, 'unusable play event');
      return;
    }
    this.queued++;
    this.opts.counters.broadcasts++;
    this.opts.api(call).then(
      (reply) => {
        if (!isOk(reply)) {
          this.queued = Math.max(0, this.queued - 1);
          this.opts.counters.apiErrors++;
          this.opts.log.warn({ uuid: this.opts.uuid, reply: reply.trim() }, 'uuid_broadcast refused');
        }
      },
      (err: unknown) => {
        this.queued = Math.max(0, this.queued - 1);
        this.opts.counters.apiErrors++;
        this.opts.log.warn({ uuid: this.opts.uuid, err: errorMessage(err) }, 'uuid_broadcast failed');
      },
    );
  }

  /** PLAYBACK_STOP for one of our files. */
  onPlaybackStop(): void {
    if (this.queued > 0) this.queued--;
  }

  flush(): void {
    if (this.closed) return;
    this.frames = 0;
    this.talking = false;
    this.stale = this.inFlight;
    if (this.queued === 0 && this.stale === 0) return;
    this.queued = 0;
    this.opts.counters.breaks++;
    this.opts.api(breakAll(this.opts.uuid)).catch((err: unknown) => {
      this.opts.counters.apiErrors++;
      this.opts.log.warn({ uuid: this.opts.uuid, err: errorMessage(err) }, 'uuid_break failed');
    });
  }

  close(): void {
    this.closed = true;
  }
}
