/**
 * Live calls inside this process for the reliability runs (fuzz, soak): real Calls with the real
 * WebRTC VAD, each on the daemon's RtpMediaSession (own socket from a PortPool on 127.0.0.1, jitter
 * buffer, pacer, shared Ticker), zero-latency providers, and for each call a well-behaved caller: a
 * connected UDP socket that sends speech-like G.711 RTP every tick and counts what comes back.
 */
import dgram from 'node:dgram';
import pino from 'pino';
import { Call } from '../src/agent/call.ts';
import { AudioCache } from '../src/agent/audio-cache.ts';
import type { EndReason } from '../src/agent/call-port.ts';
import { FRAME_SAMPLES } from '../src/media/audio-frame.ts';
import type { SpeechToText, TextToSpeech } from '../src/providers/types.ts';
import type { Brain } from '../src/agent/brain/types.ts';
import { PortPool } from '../src/media/port-pool.ts';
import { RtpMediaSession } from '../src/media/rtp-media-session.ts';
import { writeRtpFixedHeader } from '../src/media/rtp-packet.ts';
import { BatchedUdp, batchedUdpFor } from '../src/media/batched-udp.ts';
import { systemClock } from '../src/media/clock.ts';
import { Ticker } from '../src/media/ticker.ts';
import { createVad } from '../src/media/vad.ts';
import { loadBenchAudio } from './audio.ts';
import { benchConfig } from './bench-config.ts';
import { flattenCounters } from './media-glue.ts';
import { BenchBrain, InstantStt, InstantTts } from './providers.ts';

const RING = 16;

export interface LiveCall {
  readonly index: number;
  readonly call: Call;
  readonly media: RtpMediaSession;
  /** The well-behaved caller's socket (connected to the call's port). */
  readonly callerSock: dgram.Socket;
  readonly callerPort: number;
  sent: number;
  received: number;
  /** The caller sends nothing until this time (performance.now() ms): RTP stopping mid-call. */
  mutedUntil: number;
  ended: EndReason | null;
  counters(): Record<string, number>;
}

export interface LiveCallsOptions {
  portMin: number;
  portMax: number;
  logger?: pino.Logger;
}

/** Calls and their callers, all on one Ticker; open/close any number over time (soak) or keep a set live (fuzz). */
export class LiveCalls {
  /** The daemon's socket I/O (media.rtpIo): batched when the addon is built. */
  readonly udp: BatchedUdp | null;
  readonly ticker: Ticker;
  readonly pool: PortPool;
  readonly calls = new Map<number, LiveCall>();
  private readonly cfg = benchConfig();
  private readonly audio = loadBenchAudio();
  private readonly stt = new InstantStt();
  private readonly tts = new InstantTts(this.audio.agentGreeting, this.audio.agentReply);
  private readonly greetingCache = new AudioCache();
  private readonly logger: pino.Logger;
  private nextIndex = 0;
  private stopCallers: (() => void) | null = null;
  private tickNo = 0;

  constructor(opts: LiveCallsOptions) {
    this.pool = new PortPool(opts.portMin, opts.portMax);
    this.udp = batchedUdpFor(this.cfg.media.rtpIo, systemClock);
    this.ticker = new Ticker(systemClock, { io: this.udp });
    this.logger = opts.logger ?? pino({ level: 'silent' });
  }

  start(): void {
    // Callers speak first on each tick so their packets are in flight when the calls' ticks run.
    this.stopCallers ??= this.ticker.add(() => this.sendCallerFrames());
    this.ticker.start();
  }

  /** A new call; `providers` replaces the zero-latency ones (fault runs: failing or stalling providers). */
  async open(providers: { stt?: SpeechToText; tts?: TextToSpeech; brain?: Brain } = {}): Promise<LiveCall> {
    const index = this.nextIndex++;
    const cfg = this.cfg;
    const call = new Call(`live-${index}`, { pbx: 'sim', fields: {} }, {
      agent: cfg.agent,
      vad: cfg.media.vad,
      transfers: cfg.transfers,
      clock: this.ticker.clock,
      logger: this.logger,
      brain: providers.brain ?? new BenchBrain(),
      stt: providers.stt ?? this.stt,
      tts: providers.tts ?? this.tts,
      createVad: () => createVad(cfg.media.vad),
      greetingCache: this.greetingCache,
    });
    const media = await RtpMediaSession.open({
      call,
      ticker: this.ticker,
      pool: this.pool,
      bindAddress: '127.0.0.1',
      jitterBufferMs: cfg.media.jitterBufferMs,
      jitterAdaptive: cfg.media.jitterAdaptive,
      logger: this.logger,
    });
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => sock.connect(media.localPort, '127.0.0.1', () => {
        sock.off('error', reject);
        resolve();
      }));
    });
    sock.on('error', () => {}); // ICMP port unreachable after the call closes: not a failure here
    const live: LiveCall = {
      index,
      call,
      media,
      callerSock: sock,
      callerPort: sock.address().port,
      sent: 0,
      received: 0,
      mutedUntil: 0,
      ended: null,
      counters: () => flattenCounters(media.counters()),
    };
    sock.on('message', () => {
      live.received++;
    });
    call.on('ended', (rec) => {
      live.ended = rec.endReason ?? 'error';
    });
    this.calls.set(index, live);
    await call.start();
    return live;
  }

  /** Hang up (as the caller would), close media and the caller's socket. */
  async close(live: LiveCall, reason: EndReason = 'caller-hangup'): Promise<void> {
    this.calls.delete(live.index);
    live.call.end(reason);
    await live.media.close();
    await new Promise<void>((r) => live.callerSock.close(() => r()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.calls.values()].map((l) => this.close(l, 'shutdown')));
  }

  stop(): void {
    this.stopCallers?.();
    this.stopCallers = null;
    this.ticker.stop();
    this.udp?.close();
  }

  private readonly rings = new Map<number, { bufs: Buffer[]; i: number; seq: number; ts: number; ssrc: number }>();

  /** Each caller loops its utterance with a pause: speech, then silence, forever. */
  private sendCallerFrames(): void {
    const t = this.tickNo++;
    const frames = this.audio.callerFrames[0];
    const now = performance.now();
    const cycle = frames.length + 100; // ~2.7 s of speech, 2 s of silence
    for (const live of this.calls.values()) {
      if (live.mutedUntil > now) continue;
      let r = this.rings.get(live.index);
      if (!r) {
        r = { bufs: Array.from({ length: RING }, () => Buffer.alloc(12 + FRAME_SAMPLES)), i: 0, seq: live.index * 1000, ts: 0, ssrc: 0x1000 + live.index };
        this.rings.set(live.index, r);
      }
      const pos = (t + live.index * 37) % cycle;
      const buf = r.bufs[r.i];
      r.i = (r.i + 1) % RING;
      writeRtpFixedHeader(buf, false, 0, r.seq, r.ts, r.ssrc);
      if (pos < frames.length) buf.set(frames[pos], 12);
      else buf.fill(0xff, 12);
      r.seq = (r.seq + 1) & 0xffff;
      r.ts = (r.ts + FRAME_SAMPLES) >>> 0;
      live.callerSock.send(buf);
      live.sent++;
    }
    if (this.rings.size > this.calls.size * 2 + 64) {
      for (const k of this.rings.keys()) if (!this.calls.has(k)) this.rings.delete(k);
    }
  }
}
