/**
 * The Asterisk media path of one call: an RtpEndpoint (socket), a JitterBuffer and DtmfReceiver
 * inbound, a Pacer outbound, G.711 in between, all driven by the shared Ticker.
 *
 * Every tick, inbound phase: one frame out of the jitter buffer (audio, concealed or silence: the
 * agent needs a steady 20 ms stream) -> decode -> call.pushInbound. Once a tick: call.pullOutbound
 * -> encode -> pacer.tick (null = silence, nothing sent, timestamp still advances). While a reply
 * is being spoken the pull happens in the send phase (see Ticker), before any call's inbound work
 * and the promise jobs, so the packets of a talk-spurt leave 20 ms apart however much else the
 * tick has to do; only a caller frame loud enough to start a barge-in is pushed before it. In
 * silence the pull happens in the outbound phase (after the promise jobs this tick's inbound
 * frame started), so a reply that a turn end starts goes out on the tick that ended the turn. A
 * turn that ends on silence alone between two ticks is ended by a timer at its instant, and the
 * reply's first packet goes out then (see armTurnEnd); so does a reply whose first audio arrives
 * between ticks (the call's 'ready' event).
 *
 * Buffers are per session and reused every tick: the Pcm passed to pushInbound and its
 * EncodedFrame payload are only valid during that call (copy to keep them).
 */
import pino from 'pino';
import type { CallSession, InboundTiming } from '../agent/call-port.ts';
import type { EncodedFrame } from '../providers/types.ts';
import { BridgeError, errorMessage } from '../errors.ts';
import { FRAME_SAMPLES } from './audio-frame.ts';
import { BatchedUdp } from './batched-udp.ts';
import { DtmfReceiver } from './dtmf.ts';
import { decoderFor, encoderFor, G711_PAYLOAD_TYPE, silenceByte, type G711Codec } from './g711.ts';
import { JitterBuffer, type JitterBufferCounters } from './jitter-buffer.ts';
import { Pacer } from './pacer.ts';
import type { PortPool } from './port-pool.ts';
import { RtpEndpoint, type RtpMalformedCode, type RtpPeer } from './rtp-endpoint.ts';
import type { RtpPacket } from './rtp-packet.ts';
import type { DeferredSend, Ticker } from './ticker.ts';
import type { TimerHandle } from './clock.ts';
import { SILENT_DBFS } from './vad.ts';

/** Ticks whose send and outbound phases may be apart: more than a stall's catch-up can run (Ticker maxCatchUpTicks). */
const EARLY_RING = 64;

export interface RtpMediaSessionOptions {
  /** The call to drive; omit to bind the port first and attach() the call later. */
  readonly call?: CallSession;
  readonly ticker: Ticker;
  readonly pool: PortPool;
  readonly bindAddress: string;
  /** Asterisk's UNICASTRTP_LOCAL_ADDRESS/PORT: we send there from the first tick. */
  readonly remote?: RtpPeer;
  readonly pinPeer?: boolean;
  readonly codec?: G711Codec;
  readonly jitterBufferMs?: number;
  readonly jitterAdaptive?: boolean;
  /**
   * Caller frames quieter than this cannot start a barge-in (media.vad.energyGateDbfs). While we
   * talk, a louder buffered frame is pushed before our next packet is pulled. Default: any sound.
   */
  readonly speechGateDbfs?: number;
  readonly dtmfPayloadType?: number;
  /** Fixed RTP identity for tests; random by default. */
  readonly ssrc?: number;
  readonly initialSeq?: number;
  readonly initialTimestamp?: number;
  readonly logger?: pino.Logger;
}

export interface RtpMediaCounters {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  malformed: Record<RtpMalformedCode, number>;
  /** Datagrams over 2,048 bytes (batched UDP only): dropped. */
  oversize: number;
  /** Datagrams the kernel dropped on a full receive queue (batched UDP only). */
  kernelDrops: number;
  wrongSource: number;
  unknownPayload: number;
  late: number;
  duplicate: number;
  lost: number;
  concealed: number;
  reordered: number;
  ssrcChanges: number;
  overflow: number;
  /** Quiet frames the adaptive jitter buffer dropped to shrink its delay (not loss). */
  skippedQuiet: number;
  /** Inbound frames handed to the call, by kind. */
  framesAudio: number;
  framesConcealed: number;
  framesSilence: number;
  dtmfDigitsIn: number;
  dtmfPacketsOut: number;
  /** pushInbound/pullOutbound/dtmf threw (caught; the media keeps flowing). */
  callErrors: number;
}

export class RtpMediaSession implements DeferredSend {
  readonly codec: G711Codec;
  private call: CallSession | null = null;
  private readonly ticker: Ticker;
  private readonly endpoint: RtpEndpoint;
  private readonly jb: JitterBuffer;
  private readonly dtmf = new DtmfReceiver();
  private readonly pacer: Pacer;
  private readonly log: pino.Logger;
  private readonly decode;
  private readonly encode;
  private readonly pcmIn = new Int16Array(FRAME_SAMPLES);
  private readonly encodedOut = new Uint8Array(FRAME_SAMPLES);
  private readonly encodedIn: { codec: G711Codec; payload: Uint8Array };
  private readonly silence: number;
  private readonly speechGateDbfs: number;
  private readonly frameCounts = { audio: 0, concealed: 0, silence: 0 };
  private callErrors = 0;
  /** ageMs: hold of the last audio frame played out (arrival -> tick), the call's view of the buffer delay. */
  private readonly timing: { ageMs: number } & Pick<InboundTiming, 'pendingAbove'>;
  /** The last pull gave audio: the next tick's pull runs in the send phase. */
  private talking = false;
  /** This tick's inbound frame was pushed in the send phase (the inbound phase right after skips it). */
  private heardEarly = false;
  /** The next tick's packet went out between ticks (a turn ended there): that tick pulls nothing. */
  private pulledAhead = false;
  /** This tick's packet, built in a send phase ahead of the instant (see out). */
  private heldPacket: Buffer | null = null;
  /** The ticker slot this call's phases run at. */
  private slot = 0;
  private turnTimer: TimerHandle | null = null;
  private turnDueAt = NaN;
  /**
   * Whether tick k's pull already ran in its send phase, for the outbound phase of tick k: after a
   * stall the ticker runs several ticks' send and inbound phases before their outbound phases.
   */
  private readonly sentEarly = new Uint8Array(EARLY_RING);
  private sendTicks = 0;
  private outTicks = 0;
  private unsubscribe: Array<() => void> = [];
  private closing: Promise<void> | null = null;

  static async open(opts: RtpMediaSessionOptions): Promise<RtpMediaSession> {
    // The endpoint's handlers need the session; the session needs the endpoint: late-bind via a holder.
    let session: RtpMediaSession | null = null;
    const endpoint = await RtpEndpoint.open({
      pool: opts.pool,
      bindAddress: opts.bindAddress,
      remote: opts.remote,
      pinPeer: opts.pinPeer,
      codec: opts.codec,
      dtmfPayloadType: opts.dtmfPayloadType,
      clock: opts.ticker.clock,
      // Sockets on a ticker that reads them (BatchedUdp) are read and written by it.
      udp: opts.ticker.io instanceof BatchedUdp ? opts.ticker.io : null,
      logger: opts.logger,
      onPacket: (pkt, arrivalMs) => session?.onAudio(pkt, arrivalMs),
      onDtmf: (pkt) => session?.onDtmf(pkt),
    });
    session = new RtpMediaSession(opts, endpoint);
    return session;
  }

  private constructor(opts: RtpMediaSessionOptions, endpoint: RtpEndpoint) {
    this.ticker = opts.ticker;
    this.endpoint = endpoint;
    this.codec = opts.codec ?? 'ulaw';
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.decode = decoderFor(this.codec);
    this.encode = encoderFor(this.codec);
    this.silence = silenceByte(this.codec);
    this.speechGateDbfs = opts.speechGateDbfs ?? SILENT_DBFS;
    this.encodedIn = { codec: this.codec, payload: this.encodedOut };
    this.timing = { ageMs: 0, pendingAbove: (levelDbfs) => this.jb.pendingAbove(levelDbfs) };
    this.jb = new JitterBuffer({ codec: this.codec, depthMs: opts.jitterBufferMs, adaptive: opts.jitterAdaptive });
    this.pacer = new Pacer({
      payloadType: G711_PAYLOAD_TYPE[this.codec],
      dtmfPayloadType: opts.dtmfPayloadType,
      ssrc: opts.ssrc,
      initialSeq: opts.initialSeq,
      initialTimestamp: opts.initialTimestamp,
      send: this.out,
    });
    if (opts.call) this.attach(opts.call);
  }

  /**
   * Start driving `call` (when open() had no call): for ExternalMedia the port must be named to
   * Asterisk before its UNICASTRTP address is known. Packets that arrived meanwhile wait in the
   * jitter buffer (bounded). `remote` also redirects sending (see RtpEndpoint.setRemote).
   */
  attach(call: CallSession, remote?: RtpPeer): void {
    if (this.closing) throw new BridgeError('INTERNAL', 'RtpMediaSession.attach after close', { callId: call.id });
    if (this.call) throw new BridgeError('INTERNAL', 'RtpMediaSession already has a call', { callId: call.id });
    if (remote) this.endpoint.setRemote(remote);
    this.call = call;
    call.on('ended', this.onEnded);
    call.on('ready', this.onReady);
    // Every phase at one slot: a reply that a turn end starts goes out on the sub-tick that ended it.
    this.slot = this.ticker.nextSlot();
    this.unsubscribe = [
      this.ticker.add(this.onSend, 'send', this.slot),
      this.ticker.add(this.onInbound, 'inbound', this.slot),
      this.ticker.add(this.onOutbound, 'outbound', this.slot),
    ];
  }

  get localAddress(): string {
    return this.endpoint.localAddress;
  }

  get localPort(): number {
    return this.endpoint.localPort;
  }

  get isClosed(): boolean {
    return this.closing !== null;
  }

  /** Send an RFC 4733 digit to the PBX (replaces our audio while it plays). */
  sendDtmf(digit: string, durationMs?: number): void {
    this.pacer.sendDtmf(digit, durationMs);
  }

  /** Barge-in at the transport: drop queued outbound DTMF; the next audio starts a talk-spurt. */
  flushOutbound(): void {
    this.pacer.flush();
  }

  counters(): RtpMediaCounters {
    const e = this.endpoint.counters;
    const j: JitterBufferCounters = this.jb.counters;
    return {
      packetsIn: e.packetsIn,
      packetsOut: e.packetsOut,
      bytesIn: e.bytesIn,
      bytesOut: e.bytesOut,
      malformed: { ...e.malformed },
      oversize: e.oversize,
      kernelDrops: e.kernelDrops,
      wrongSource: e.wrongSource,
      unknownPayload: e.unknownPayload,
      late: j.late,
      duplicate: j.duplicate,
      lost: j.lost,
      concealed: j.concealed,
      reordered: j.reordered,
      ssrcChanges: j.ssrcChanges,
      overflow: j.overflow,
      skippedQuiet: j.skipped,
      framesAudio: this.frameCounts.audio,
      framesConcealed: this.frameCounts.concealed,
      framesSilence: this.frameCounts.silence,
      dtmfDigitsIn: this.dtmf.counters.digits,
      dtmfPacketsOut: this.pacer.counters.dtmfPackets,
      callErrors: this.callErrors,
    };
  }

  /** Stop ticking, close the socket, release the port. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.clearTurnTimer();
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    this.call?.off('ended', this.onEnded);
    this.call?.off('ready', this.onReady);
    this.flushSend(); // a reply's last packet, built ahead of an instant that comes after the hang-up
    this.closing = this.endpoint.close();
    return this.closing;
  }

  private onAudio(pkt: RtpPacket, arrivalMs: number): void {
    if (this.closing) return;
    this.jb.push(pkt, arrivalMs);
  }

  private onDtmf(pkt: RtpPacket): void {
    if (this.closing) return;
    const digit = this.dtmf.push(pkt);
    if (digit === null || this.call === null) return;
    try {
      this.call.dtmf(digit);
    } catch (err) {
      this.callFailed(err);
    }
  }

  // The Pacer's packets: held when the Ticker builds them ahead of the tick instant (its lead), sent
  // at once otherwise (a reply's first packet between ticks, a tick without a lead).
  private readonly out = (buf: Buffer): void => {
    if (this.ticker.deferring) {
      this.heldPacket = buf;
      this.ticker.defer(this);
    } else this.endpoint.send(buf);
  };

  /** The Ticker's burst at the tick instant (DeferredSend). The Pacer's ring keeps `buf` intact until then. */
  flushSend(): void {
    const buf = this.heldPacket;
    if (buf === null) return;
    this.heldPacket = null;
    this.endpoint.send(buf);
  }

  private readonly onEnded = (): void => {
    void this.close();
  };

  // One closure per phase and session, registered once with the shared ticker.
  private readonly onInbound = (_tick: number, nowMs: number): void => {
    if (this.heardEarly) {
      this.heardEarly = false;
      return;
    }
    const call = this.call;
    if (this.closing || call === null) return;
    this.receive(call, nowMs);
  };

  private receive(call: CallSession, nowMs: number): void {
    const frame = this.jb.pop(nowMs);
    this.frameCounts[frame.kind]++;
    // nowMs is the tick's nominal time, never later than the real one: the age errs short.
    if (frame.kind === 'audio') this.timing.ageMs = Math.max(0, nowMs - frame.arrivalMs);
    this.decode(frame.payload, this.pcmIn);
    this.encodedIn.payload = frame.payload;
    try {
      call.pushInbound(this.pcmIn, this.encodedIn as EncodedFrame, this.timing);
    } catch (err) {
      this.callFailed(err);
    }
  }

  // While talking: this tick's packet, before any call's inbound work. If the caller may be
  // starting to talk (a buffered frame above the speech gate), their frame goes first, so that a
  // barge-in pauses us before this packet, as it would have in the outbound phase.
  private readonly onSend = (_tick: number, nowMs: number): void => {
    const i = this.sendTicks++ % EARLY_RING;
    this.sentEarly[i] = 0;
    if (this.pulledAhead) {
      // This tick's packet went out between ticks, when the turn ended (see sendAhead).
      this.pulledAhead = false;
      this.sentEarly[i] = 1;
      return;
    }
    const call = this.call;
    if (!this.talking || this.closing || call === null) return;
    if (this.jb.pendingAbove(this.speechGateDbfs)) {
      this.receive(call, nowMs);
      this.heardEarly = true;
    }
    this.sentEarly[i] = 1;
    this.sendNext(call);
  };

  private readonly onOutbound = (_tick: number, nowMs: number): void => {
    const i = this.outTicks++ % EARLY_RING;
    if (this.sentEarly[i] === 1) return;
    const call = this.call;
    if (this.closing || call === null) return;
    this.sendNext(call);
    if (!this.talking) this.armTurnEnd(call, nowMs + this.ticker.periodMs);
  };

  /**
   * A caller's turn that ends on silence alone ends at its instant, not on the next tick: when it
   * falls before that tick, a timer (one per turn, not per packet) ends it then, and the reply's
   * first packet goes out as soon as its audio is ready ('ready', see onReady), as the next tick's
   * packet sent ahead of time. The rest of the reply follows on the tick grid.
   */
  private armTurnEnd(call: CallSession, nextTickMs: number): void {
    // Asked on every silent tick of every call: no closure here (ask() allocates one).
    let due: number | null = null;
    try {
      due = call.turnEndDueAt?.() ?? null;
    } catch (err) {
      this.callFailed(err);
    }
    if (due === this.turnDueAt && this.turnTimer !== null) return;
    this.clearTurnTimer();
    const clock = this.ticker.clock;
    // Past already: a frame decides it (it did not end on this one: speech is still buffered).
    if (due === null || due >= nextTickMs || due <= clock.now()) return;
    this.turnDueAt = due;
    this.turnTimer = clock.setTimeout(this.onTurnDue, due - clock.now());
  }

  private clearTurnTimer(): void {
    if (this.turnTimer !== null) this.ticker.clock.clearTimeout(this.turnTimer);
    this.turnTimer = null;
    this.turnDueAt = NaN;
  }

  private readonly onTurnDue = (): void => {
    this.turnTimer = null;
    const call = this.call;
    if (this.closing || call === null || this.talking) return;
    // A timer counts from the event loop's cached time, which can be milliseconds stale after a
    // busy tick, so it may fire early: set it again for the rest (never block the loop to wait).
    const left = this.turnDueAt - this.ticker.clock.now();
    if (left > 0) {
      this.turnTimer = this.ticker.clock.setTimeout(this.onTurnDue, left);
      return;
    }
    // The reply starts in promise jobs (brain, TTS); its first audio comes with the call's 'ready'.
    this.ask(() => call.pollTurnEnd?.(), false);
  };

  // A reply's first audio arrived between ticks (a turn ended by the timer above, a TTS stream): it
  // goes out now, as the next tick's packet, not up to 20 ms later. Synchronously: a TTS stream's
  // chunks can keep the microtask queue busy for milliseconds, and a nextTick would wait for all of
  // them. During a tick of this call's slot (its outbound phase still to come) that phase pulls it instead.
  private readonly onReady = (): void => {
    if (this.ticker.outboundPending(this.slot)) return;
    this.sendAhead();
  };

  private sendAhead(): void {
    const call = this.call;
    if (this.closing || call === null || this.talking || this.pulledAhead) return;
    if (!this.ask(() => call.hasOutbound?.(), false)) return;
    this.pulledAhead = true;
    this.sendNext(call);
  }

  private sendNext(call: CallSession): void {
    let out: Int16Array | null = null;
    try {
      out = call.pullOutbound();
    } catch (err) {
      this.callFailed(err);
    }
    this.talking = out !== null;
    if (out === null) {
      this.pacer.tick(null);
      return;
    }
    this.encode(out, this.encodedOut);
    // A short final frame is padded with silence rather than repeating stale bytes.
    if (out.length < FRAME_SAMPLES) this.encodedOut.fill(this.silence, out.length);
    this.pacer.tick(this.encodedOut);
  }

  /** A rare between-ticks question to the call: an exception is counted like any other and answered `fallback`. */
  private ask<T>(question: () => T | undefined, fallback: T): T {
    try {
      return question() ?? fallback;
    } catch (err) {
      this.callFailed(err);
      return fallback;
    }
  }

  private callFailed(err: unknown): void {
    if (this.callErrors++ % 1000 === 0) {
      this.log.error({ err: errorMessage(err), callId: this.call?.id }, 'call session threw in the media loop');
    }
  }
}
