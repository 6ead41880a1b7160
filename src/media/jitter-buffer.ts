/**
 * Inbound jitter buffer for one call: packets in as they arrive, exactly one 20 ms frame out per
 * pop() (the shared 20 ms tick), so the agent sees a steady stream whatever the network did.
 *
 * Asterisk sends nothing while nothing is heard (no comfort noise), so an empty buffer usually
 * means silence, not loss. Rules:
 * - Gap inside a talk-spurt (a later packet is already here): conceal the missing frame (last
 *   frame, attenuated 6 dB per frame, then silence) and count it lost.
 * - Buffer runs dry: conceal for at most `concealMs` without giving the missing packet up (it may
 *   only be late, as after a sender's or the network's stall). If it arrives, it plays next: the
 *   stream is stretched by the concealed frames instead of losing a packet that did arrive, and the
 *   adaptive mode later takes the extra delay back out of quiet frames. If a later packet comes
 *   first, the missing one is lost, and the frames already concealed stand in for it. Stretching
 *   is bounded (MAX_STRETCH_FRAMES not yet taken back); beyond it a dry tick moves on past the
 *   packet, counted lost if the talk-spurt goes on. If nothing arrives within `concealMs`, the
 *   talk-spurt is over: emit 'silence' frames and count no loss.
 * - A talk-spurt (the first packets after idle) is held for `depthMs` before playing, which is
 *   what absorbs the jitter; in adaptive mode the depth is re-chosen at each talk-spurt start
 *   from the RFC 3550 interarrival jitter estimate, so it never changes mid-sentence; a stream
 *   that never pauses is brought down to that depth by dropping quiet frames, never speech.
 *
 * The payload is assumed to be 20 ms of G.711 (shorter payloads, like the last packet of an
 * Asterisk prompt, are padded with silence; longer ones truncated). Memory is a fixed ring of
 * slots indexed by sequence number; nothing is allocated per packet.
 */
import { FRAME_MS, FRAME_SAMPLES } from './audio-frame.ts';
import { decoderFor, encoderFor, silenceByte, type G711Codec } from './g711.ts';
import type { RtpPacket } from './rtp-packet.ts';

/** Adaptive mode never holds a talk-spurt for less than this (see adaptDepth). */
const MIN_ADAPTIVE_DEPTH_MS = 10;
/**
 * Most frames a dry buffer may stretch the stream by, waiting for late packets, before quiet frames
 * have taken earlier stretches back out. Beyond it a dry tick gives the packet up, as on a loss: a
 * host so loaded that its reads fall behind every tick must not grow the delay without bound.
 */
const MAX_STRETCH_FRAMES = 3;
/** Per packet: the recent-peak delay estimate halves in ~700 packets. */
const PEAK_DECAY = 0.999;
/** A 20 ms frame's sum of squared samples at a level: compared with energy(), no log per frame. */
function frameEnergyAt(levelDbfs: number): number {
  return FRAME_SAMPLES * (32768 * 10 ** (levelDbfs / 20)) ** 2;
}

const squareTables = new Map<G711Codec, Float64Array>();

function squaresFor(codec: G711Codec): Float64Array {
  let t = squareTables.get(codec);
  if (!t) {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const pcm = new Int16Array(256);
    decoderFor(codec)(bytes, pcm);
    t = Float64Array.from(pcm, (v) => v * v);
    squareTables.set(codec, t);
  }
  return t;
}

/** A frame below -50 dBFS (line noise, digital silence) may be dropped to shrink the delay. */
const QUIET_ENERGY = frameEnergyAt(-50);

export type JitterFrameKind = 'audio' | 'concealed' | 'silence';

export interface JitterFrame {
  readonly kind: JitterFrameKind;
  /** 160 bytes of G.711, always present (silence = the codec's silence byte). Valid until the next push()/pop(). */
  readonly payload: Uint8Array;
  /** RTP sequence number of an 'audio' frame. */
  readonly seq?: number;
  /** When an 'audio' frame's packet arrived (the clock push() was given); NaN for the other kinds. */
  readonly arrivalMs: number;
}

export interface JitterBufferOptions {
  readonly codec?: G711Codec;
  /** Playout delay at talk-spurt start (default 60 ms). */
  readonly depthMs?: number;
  /** Re-choose the depth at each talk-spurt start from measured jitter, 10 ms .. depthMs * 3. */
  readonly adaptive?: boolean;
  /** Most audio held; beyond it the oldest is dropped (default max(depth * 4, 200) ms). */
  readonly maxDepthMs?: number;
  /** How long a dry buffer is concealed before it is taken as silence (default 40 ms). */
  readonly concealMs?: number;
}

export interface JitterBufferCounters {
  received: number;
  played: number;
  /** Arrived after a later packet had played (or from before the current talk-spurt). */
  late: number;
  duplicate: number;
  /** Sequence numbers never played although later packets of the same talk-spurt were. */
  lost: number;
  /** Concealment frames emitted. */
  concealed: number;
  /** Arrived out of order but in time. */
  reordered: number;
  ssrcChanges: number;
  /** Buffered packets dropped to stay within maxDepthMs (sender faster than us, or a burst). */
  overflow: number;
  /** Sequence jumps too large to bridge: the buffer restarted from the new packet. */
  resyncs: number;
  /** Quiet frames dropped to shrink the delay of a stream that never pauses (adaptive mode). */
  skipped: number;
}

const EMPTY = 0;
const BUFFERED = 1;
const PLAYED = 2;
/** Concealment fades over this many frames (6 dB each), then carries silence. */
const FADE_FRAMES = 3;

/** Signed distance a - b in 16-bit sequence space. */
function seqDiff(a: number, b: number): number {
  return (((a - b) & 0xffff) << 16) >> 16;
}

/** Mutable on the inside, readonly to callers: one result object reused by every pop(). */
interface FrameSlot {
  kind: JitterFrameKind;
  payload: Uint8Array;
  seq: number | undefined;
  arrivalMs: number;
}

export class JitterBuffer {
  readonly counters: JitterBufferCounters = {
    received: 0,
    played: 0,
    late: 0,
    duplicate: 0,
    lost: 0,
    concealed: 0,
    reordered: 0,
    ssrcChanges: 0,
    overflow: 0,
    resyncs: 0,
    skipped: 0,
  };

  private readonly cap: number;
  private readonly mask: number;
  private readonly maxSpan: number;
  private readonly store: Uint8Array;
  private readonly slots: Uint8Array[] = [];
  private readonly slotSeq: Int32Array;
  private readonly slotState: Uint8Array;
  /** Arrival time of each buffered packet: how long it has waited is the slack the buffer holds. */
  private readonly slotArrival: Float64Array;
  /** Each buffered frame's energy once asked for (NaN until then): a frame is measured at most once. */
  private readonly slotEnergy: Float64Array;
  /** Squared sample value of each G.711 byte: a frame's energy without decoding it. */
  private readonly squares: Float64Array;
  private readonly silence: Uint8Array;
  private readonly lastGood: Uint8Array;
  private readonly concealOut: Uint8Array;
  private readonly pcm = new Int16Array(FRAME_SAMPLES);
  private readonly decode;
  private readonly encode;
  private readonly baseDepthMs: number;
  private readonly adaptive: boolean;
  private readonly concealFrames: number;
  private readonly out: FrameSlot;

  private depth: number;
  private ssrc = -1;
  private playing = false;
  private nextSeq = 0;
  private count = 0;
  private anchorSeq = 0;
  private firstArrivalMs = 0;
  private haveHorizon = false;
  private horizonSeq = 0;
  private haveHighest = false;
  private highestSeq = 0;
  /** Consecutive dry ticks (concealed: the talk-spurt may have ended, or the packet is late). */
  private dryFrames = 0;
  /** Dry ticks that waited for nextSeq instead of moving past it: stand-ins for the missing packet. */
  private owedFrames = 0;
  /** Dry ticks that moved past a packet (stretch bound reached): lost if the talk-spurt goes on. */
  private pendingLost = 0;
  /** Frames the stream has been stretched by and quiet frames have not taken back yet. */
  private stretchFrames = 0;
  private concealRun = 0;
  private haveLastGood = false;
  // RFC 3550 A.8 interarrival jitter, in ms.
  private jitterMs = 0;
  private peakDevMs = 0;
  private lastTransit = 0;
  private haveTransit = false;

  constructor(opts: JitterBufferOptions = {}) {
    const codec = opts.codec ?? 'ulaw';
    this.baseDepthMs = Math.max(FRAME_MS, opts.depthMs ?? 60);
    this.depth = this.baseDepthMs;
    this.adaptive = opts.adaptive ?? false;
    this.concealFrames = Math.max(0, Math.round((opts.concealMs ?? 40) / FRAME_MS));
    const maxDepthMs = Math.max(opts.maxDepthMs ?? Math.max(this.baseDepthMs * 4, 200), this.baseDepthMs * 3 + FRAME_MS);
    this.maxSpan = Math.ceil(maxDepthMs / FRAME_MS);
    let cap = 8;
    while (cap < this.maxSpan + 1) cap <<= 1;
    this.cap = cap;
    this.mask = cap - 1;
    this.store = new Uint8Array(cap * FRAME_SAMPLES);
    for (let i = 0; i < cap; i++) this.slots.push(this.store.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES));
    this.slotSeq = new Int32Array(cap).fill(-1);
    this.slotState = new Uint8Array(cap);
    this.slotArrival = new Float64Array(cap);
    this.slotEnergy = new Float64Array(cap).fill(NaN);
    this.silence = new Uint8Array(FRAME_SAMPLES).fill(silenceByte(codec));
    this.lastGood = new Uint8Array(FRAME_SAMPLES);
    this.concealOut = new Uint8Array(FRAME_SAMPLES);
    this.decode = decoderFor(codec);
    this.encode = encoderFor(codec);
    this.squares = squaresFor(codec);
    this.out = { kind: 'silence', payload: this.silence, seq: undefined, arrivalMs: NaN };
  }

  /** Playout delay in use (changes only at talk-spurt starts in adaptive mode). */
  get depthMs(): number {
    return this.depth;
  }

  /** Interarrival jitter estimate (RFC 3550), ms. */
  get jitter(): number {
    return this.jitterMs;
  }

  /** Packets held and not yet played. */
  get buffered(): number {
    return this.count;
  }

  push(pkt: RtpPacket, arrivalMs: number): void {
    this.counters.received++;
    if (pkt.ssrc !== this.ssrc) {
      if (this.ssrc !== -1) {
        this.counters.ssrcChanges++;
        this.clear();
      }
      this.ssrc = pkt.ssrc;
    }
    this.updateJitter(pkt.timestamp, arrivalMs);
    const seq = pkt.sequence;

    if (this.playing) {
      const d = seqDiff(seq, this.nextSeq);
      if (pkt.marker && this.count === 0 && this.dryFrames > 0 && -d <= this.pendingLost) {
        // The talk-spurt we thought might continue had ended; this is the next one, held afresh.
        this.endSpurt();
      } else if (d < 0) {
        this.rejectOld(seq);
        return;
      } else if (d >= this.maxSpan) {
        if (d >= 2 * this.maxSpan) {
          this.resync();
        } else {
          this.nextSeq = this.dropOldest(this.nextSeq, seq);
        }
      }
    }
    if (!this.playing) {
      if (this.haveHorizon) {
        const h = seqDiff(seq, this.horizonSeq);
        if (h < 0 && h > -this.maxSpan) {
          this.rejectOld(seq);
          return;
        }
      }
      if (this.count === 0) {
        this.anchorSeq = seq;
        this.firstArrivalMs = arrivalMs;
      } else {
        const d = seqDiff(seq, this.anchorSeq);
        if (d < 0) {
          if (seqDiff(this.highestSeq, seq) >= this.maxSpan) {
            this.resync();
            this.anchorSeq = seq;
            this.firstArrivalMs = arrivalMs;
          } else this.anchorSeq = seq;
        } else if (d >= 2 * this.maxSpan) {
          this.resync();
          this.anchorSeq = seq;
          this.firstArrivalMs = arrivalMs;
        } else if (d >= this.maxSpan) {
          this.anchorSeq = this.dropOldest(this.anchorSeq, seq);
        }
      }
    }

    const idx = seq & this.mask;
    if (this.slotState[idx] === BUFFERED) {
      if (this.slotSeq[idx] === seq) {
        this.counters.duplicate++;
        return;
      }
      // Only reachable through a bug in the span bookkeeping; keep memory bounded regardless.
      this.counters.overflow++;
      this.count--;
    }
    if (this.haveHighest && seqDiff(seq, this.highestSeq) < 0) this.counters.reordered++;
    if (!this.haveHighest || seqDiff(seq, this.highestSeq) > 0) {
      this.highestSeq = seq;
      this.haveHighest = true;
    }
    const slot = this.slots[idx];
    const p = pkt.payload;
    if (p.length >= FRAME_SAMPLES) slot.set(p.subarray(0, FRAME_SAMPLES));
    else {
      slot.set(p);
      slot.fill(this.silence[0], p.length);
    }
    this.slotSeq[idx] = seq;
    this.slotState[idx] = BUFFERED;
    this.slotArrival[idx] = arrivalMs;
    this.slotEnergy[idx] = NaN;
    this.count++;
  }

  /** The frame for this 20 ms tick. The returned object is reused by the next call. */
  pop(nowMs: number): JitterFrame {
    const out = this.out;
    out.seq = undefined;
    out.arrivalMs = NaN;
    if (!this.playing) {
      if (this.count > 0 && nowMs - this.firstArrivalMs >= this.depth) {
        this.playing = true;
        this.nextSeq = this.anchorSeq;
        this.resetDry();
        this.concealRun = 0;
      } else {
        out.kind = 'silence';
        out.payload = this.silence;
        return out;
      }
    }

    if (this.adaptive && this.count > 1) this.maybeSkipQuiet(nowMs);
    for (;;) {
      const idx = this.nextSeq & this.mask;
      if (this.slotState[idx] === BUFFERED && this.slotSeq[idx] === this.nextSeq) {
        // Frames concealed while waiting for it stretched the stream: this packet was late, not lost.
        this.slotState[idx] = PLAYED;
        this.count--;
        this.counters.played++;
        this.counters.lost += this.pendingLost;
        this.stretchFrames += this.owedFrames;
        this.resetDry();
        this.concealRun = 0;
        const slot = this.slots[idx];
        this.lastGood.set(slot);
        this.haveLastGood = true;
        out.kind = 'audio';
        out.payload = slot;
        out.seq = this.nextSeq;
        out.arrivalMs = this.slotArrival[idx];
        this.nextSeq = (this.nextSeq + 1) & 0xffff;
        return out;
      }
      if (this.count > 0) {
        // A hole with later packets already here: a real loss inside the talk-spurt.
        this.counters.lost += 1 + this.pendingLost;
        this.pendingLost = 0;
        this.dryFrames = 0;
        this.slotState[idx] = EMPTY;
        this.nextSeq = (this.nextSeq + 1) & 0xffff;
        if (this.owedFrames > 0) {
          // A frame concealed while waiting already stood in for it: go on to the next packet now.
          this.owedFrames--;
          continue;
        }
        break;
      }
      if (this.dryFrames >= this.concealFrames) {
        this.endSpurt();
        out.kind = 'silence';
        out.payload = this.silence;
        return out;
      }
      // Dry: maybe late, maybe the end of the talk-spurt. Conceal, and wait for nextSeq while the
      // stretch bound allows; past it, move on (lost if the spurt goes on, rolled back if it ended).
      this.dryFrames++;
      if (this.stretchFrames + this.owedFrames < MAX_STRETCH_FRAMES) this.owedFrames++;
      else {
        this.pendingLost++;
        this.slotState[idx] = EMPTY;
        this.nextSeq = (this.nextSeq + 1) & 0xffff;
      }
      break;
    }
    this.counters.concealed++;
    out.kind = 'concealed';
    out.payload = this.conceal();
    return out;
  }

  /**
   * Any buffered, not yet played frame louder than `levelDbfs`: what the listener has not heard yet
   * but has already arrived (a turn must not be ended over speech sitting in the buffer).
   */
  pendingAbove(levelDbfs: number): boolean {
    if (this.count === 0) return false;
    const threshold = frameEnergyAt(levelDbfs);
    const first = this.playing ? this.nextSeq : this.anchorSeq;
    let seen = 0;
    for (let k = 0; k < this.maxSpan && seen < this.count; k++) {
      const seq = (first + k) & 0xffff;
      const idx = seq & this.mask;
      if (this.slotState[idx] !== BUFFERED || this.slotSeq[idx] !== seq) continue;
      seen++;
      if (this.energyAt(idx) > threshold) return true;
    }
    return false;
  }

  /** Forget everything (new stream). Counters are kept. */
  reset(): void {
    this.ssrc = -1;
    this.clear();
  }

  private conceal(): Uint8Array {
    const run = ++this.concealRun;
    if (!this.haveLastGood || run > FADE_FRAMES) return this.silence;
    const pcm = this.pcm;
    this.decode(this.lastGood, pcm);
    const shift = run; // -6 dB per concealed frame
    for (let i = 0; i < FRAME_SAMPLES; i++) pcm[i] = pcm[i] >> shift;
    return this.encode(pcm, this.concealOut);
  }

  private endSpurt(): void {
    // Sequence numbers moved past while dry were never sent (silence): roll back so the next
    // talk-spurt, which continues the numbering, is not taken for late packets.
    this.nextSeq = (this.nextSeq - this.pendingLost) & 0xffff;
    this.horizonSeq = this.nextSeq;
    this.haveHorizon = true;
    this.playing = false;
    this.resetDry();
    this.concealRun = 0;
    if (this.adaptive) this.adaptDepth();
  }

  private resetDry(): void {
    this.dryFrames = 0;
    this.owedFrames = 0;
    this.pendingLost = 0;
  }

  private rejectOld(seq: number): void {
    const idx = seq & this.mask;
    if (this.slotSeq[idx] === seq && this.slotState[idx] === PLAYED) this.counters.duplicate++;
    else this.counters.late++;
  }

  /** Drop buffered audio from `oldest` on until `seq` fits in the window; returns the new oldest. */
  private dropOldest(oldest: number, seq: number): number {
    let cur = oldest;
    while (seqDiff(seq, cur) >= this.maxSpan) {
      const idx = cur & this.mask;
      if (this.slotState[idx] === BUFFERED && this.slotSeq[idx] === cur) {
        this.counters.overflow++;
        this.count--;
      }
      this.slotState[idx] = EMPTY;
      cur = (cur + 1) & 0xffff;
    }
    return cur;
  }

  private resync(): void {
    this.counters.resyncs++;
    this.clearSlots();
    this.playing = false;
    this.haveHorizon = false;
    this.haveHighest = false;
  }

  private clear(): void {
    this.clearSlots();
    this.playing = false;
    this.haveHorizon = false;
    this.haveHighest = false;
    this.haveTransit = false;
    this.haveLastGood = false;
    this.resetDry();
    this.stretchFrames = 0;
    this.concealRun = 0;
  }

  private clearSlots(): void {
    this.slotState.fill(EMPTY);
    this.slotSeq.fill(-1);
    this.count = 0;
  }

  private updateJitter(timestamp: number, arrivalMs: number): void {
    // Transit in ms (8 kHz clock); only differences matter, so a 32-bit timestamp wrap is undone below.
    const transit = arrivalMs - timestamp / 8;
    if (this.haveTransit) {
      let d = transit - this.lastTransit;
      if (d > 2 ** 31 / 8) d -= 2 ** 32 / 8;
      else if (d < -(2 ** 31) / 8) d += 2 ** 32 / 8;
      this.jitterMs += (Math.abs(d) - this.jitterMs) / 16;
      // The mean hides the rare long delay (a sender's GC pause, a busy host) that makes a packet
      // late: keep the largest recent one too, forgotten slowly (half-life ~700 packets, ~14 s).
      this.peakDevMs = Math.max(Math.abs(d), this.peakDevMs * PEAK_DECAY);
    }
    this.lastTransit = transit;
    this.haveTransit = true;
  }

  /**
   * A phone leg sends RTP without pause (silence is audio too), so the talk-spurt that started with
   * the initial depth may never end and adaptDepth would never run. When the frame after the next
   * one is already here with the adaptive slack to spare, and the next one is quiet, drop the quiet
   * one: the delay shrinks by a frame and the listener (VAD, recognizer) loses 20 ms of silence.
   */
  private maybeSkipQuiet(nowMs: number): void {
    const idx = this.nextSeq & this.mask;
    const after = (this.nextSeq + 1) & 0xffff;
    const aidx = after & this.mask;
    if (this.slotState[idx] !== BUFFERED || this.slotSeq[idx] !== this.nextSeq) return;
    if (this.slotState[aidx] !== BUFFERED || this.slotSeq[aidx] !== after) return;
    if (nowMs - this.slotArrival[aidx] < this.adaptiveDepth()) return;
    if (this.energyAt(idx) > QUIET_ENERGY) return;
    this.slotState[idx] = PLAYED;
    this.count--;
    this.counters.skipped++;
    if (this.stretchFrames > 0) this.stretchFrames--;
    this.nextSeq = after;
  }

  private energyAt(idx: number): number {
    let e = this.slotEnergy[idx];
    if (Number.isNaN(e)) {
      const payload = this.slots[idx];
      e = 0;
      for (let i = 0; i < FRAME_SAMPLES; i++) e += this.squares[payload[i]];
      this.slotEnergy[idx] = e;
    }
    return e;
  }

  private adaptiveDepth(): number {
    const want = Math.max(MIN_ADAPTIVE_DEPTH_MS, Math.ceil(3 * this.jitterMs + 5), Math.ceil(this.peakDevMs + 2));
    return Math.min(this.baseDepthMs * 3, want);
  }

  private adaptDepth(): void {
    // The depth is slack between a packet's arrival and the tick that plays it: 3x the jitter plus
    // 5 ms covers the sender's and the network's wobble, and the recent peak delay plus 2 ms its
    // rare long stalls. It is not rounded up to whole frames: the
    // talk-spurt starts on the first tick at least that long after its first packet, so the delay
    // is depth + 0..20 ms (the tick phase). Rounding to 20 ms would add ~15 ms on a quiet link for
    // nothing; the 10 ms floor keeps a margin for a delay spike the running mean has not seen.
    this.depth = this.adaptiveDepth();
  }
}
