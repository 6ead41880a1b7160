/** What a call leg needs from its audio path (mod_audio_stream WebSocket, or unicast UDP). */
import type { Pcm } from '../../media/audio-frame.ts';

export interface OutboundTransport {
  /** This tick's outbound frame from the agent (null = nothing to say). */
  sendFrame(frame: Pcm | null): void;
  /** The agent stopped its audio mid-reply (barge-in): drop whatever FreeSWITCH still has queued. */
  flush(): void;
  close(): void;
}

/** Shared drift-free 20 ms scheduler (src/media/ticker.ts): a leg's inbound phase, at one sub-tick for life. */
export interface TickerLike {
  add(fn: (tick: number, nowMs: number) => void, phase?: 'inbound', slot?: number): () => void;
  /**
   * The sub-tick for a new leg (media.tickSlots, round robin), so legs spread over the period as
   * RTP calls do; without it every leg runs at the period's start.
   */
  nextSlot?(): number;
}

/** Counters every part of the adapter bumps; read with counters(). */
export interface FreeswitchCounters {
  callsStarted: number;
  callsEnded: number;
  callsRejectedBusy: number;
  callsFailed: number;
  wsUnauthorized: number;
  wsUnknownCall: number;
  malformedFrames: number;
  framesIn: number;
  framesOut: number;
  playoutUnderruns: number;
  playoutOverflows: number;
  chunksSent: number;
  playEvents: number;
  broadcasts: number;
  breaks: number;
  transfers: number;
  transfersRejected: number;
  /** The agent asked for a transfer and the caller hung up before FreeSWITCH took it. */
  transfersAbandoned: number;
  hangupsByAgent: number;
  hangupsByCaller: number;
  dtmf: number;
  udpForeign: number;
  apiErrors: number;
}

export function newCounters(): FreeswitchCounters {
  return {
    callsStarted: 0,
    callsEnded: 0,
    callsRejectedBusy: 0,
    callsFailed: 0,
    wsUnauthorized: 0,
    wsUnknownCall: 0,
    malformedFrames: 0,
    framesIn: 0,
    framesOut: 0,
    playoutUnderruns: 0,
    playoutOverflows: 0,
    chunksSent: 0,
    playEvents: 0,
    broadcasts: 0,
    breaks: 0,
    transfers: 0,
    transfersRejected: 0,
    transfersAbandoned: 0,
    hangupsByAgent: 0,
    hangupsByCaller: 0,
    dtmf: 0,
    udpForeign: 0,
    apiErrors: 0,
  };
}
