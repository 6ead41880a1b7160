/**
 * What a PBX adapter (Asterisk, FreeSWITCH, the simulator) sees of one call's agent. The adapter
 * owns transport and call control; the agent owns the conversation. Audio crosses as 20 ms frames.
 */
import type { Pcm } from '../media/audio-frame.ts';
import type { EncodedFrame } from '../providers/types.ts';
import type { CallRecord } from './call-record.ts';

/** Facts about the call known at answer: reach the brain's prompt and the record. */
export interface CallContext {
  readonly pbx: 'asterisk' | 'freeswitch' | 'sim';
  /** PBX channel id / uuid. */
  readonly channelId?: string;
  readonly callerNumber?: string;
  readonly callerName?: string;
  readonly leadId?: number;
  readonly campaignId?: string;
  /** Lead fields (first_name, ...) fetched from VICIdial, and Stasis args / channel variables. */
  readonly fields: Readonly<Record<string, string>>;
}

/** Validated tool actions the agent asks the outside world to carry out. */
export type CallAction =
  | { readonly type: 'hangup'; readonly reason: string }
  | {
      readonly type: 'transfer';
      /** A target name from config (`transfers.<name>`); never a raw extension from the model. */
      readonly target: string;
      readonly summary: string;
    }
  | { readonly type: 'set_disposition'; readonly status: string }
  | {
      readonly type: 'schedule_callback';
      /** ISO-8601 local date-time or 'NOW' / 'xDAYS' as VICIdial accepts. */
      readonly when: string;
      readonly comments: string;
    }
  | { readonly type: 'add_to_dnc'; readonly reason: string };

export type EndReason =
  | 'caller-hangup'
  | 'agent-hangup'
  | 'transferred'
  | 'max-duration'
  | 'silence'
  | 'error'
  | 'shutdown';

export interface CallSessionEvents {
  /** A validated action; the adapter (hangup/transfer) or the VICIdial sink (the rest) carries it out. */
  action: [CallAction];
  /** The call is over; the record is final. Emitted exactly once. */
  ended: [CallRecord];
  /**
   * Our audio stopped mid-reply (barge-in pause or cut, DTMF): a transport that buffers audio on the
   * far side (mod_audio_stream files) must drop it now. A null from pullOutbound cannot say this: it
   * also ends every normal reply.
   */
  flush: [];
  /**
   * A reply's first audio has just arrived (TTS), between frames or on one: a transport that can
   * send between ticks may send it now rather than on its next tick (hasOutbound() says whether
   * pullOutbound() would give it).
   */
  ready: [];
}

/**
 * What a transport that buffers inbound audio (a jitter buffer) tells the call about that delay, so
 * the end of a turn is timed from when the caller's audio arrived, not from when it was played out.
 */
export interface InboundTiming {
  /** How long ago the frame being pushed arrived (buffer hold + tick phase), ms. */
  readonly ageMs: number;
  /** Audio that has arrived but is not pushed yet (still buffered) is louder than `levelDbfs`. */
  pendingAbove(levelDbfs: number): boolean;
}

export interface CallSession {
  readonly id: string;
  /** Opens providers and starts the greeting. Resolves when the call is ready for audio. */
  start(): Promise<void>;
  /**
   * One 20 ms inbound frame (concealed/silent frames included), in playout order. The frame and
   * payload are reused by the transport on the next tick: copy them to keep them.
   */
  pushInbound(frame: Pcm, encoded?: EncodedFrame, timing?: InboundTiming): void;
  /** The next 20 ms outbound frame, or null when we have nothing to say (end of talk-spurt). Valid until the next call. */
  pullOutbound(): Pcm | null;
  /**
   * Between frames (optional; a transport that acts only on frames ignores these). When the
   * caller's turn will end if the line stays quiet, on the call's clock (absolute, as clock.now()),
   * or null when no turn end is waiting on silence alone.
   */
  turnEndDueAt?(): number | null;
  /** End the caller's turn now if it is due, with the same checks as on a frame. True if it ended. */
  pollTurnEnd?(): boolean;
  /** pullOutbound() would give audio now. */
  hasOutbound?(): boolean;
  /** A DTMF digit from RFC 4733 or the PBX's own event. */
  dtmf(digit: string): void;
  /** The call ended outside the agent (caller hung up, transfer done, PBX gone). Idempotent. */
  end(reason: EndReason, detail?: string): void;
  on<E extends keyof CallSessionEvents>(event: E, listener: (...args: CallSessionEvents[E]) => void): this;
  off<E extends keyof CallSessionEvents>(event: E, listener: (...args: CallSessionEvents[E]) => void): this;
}

export interface CallFactory {
  create(init: { readonly callId: string; readonly context: CallContext }): CallSession;
}
