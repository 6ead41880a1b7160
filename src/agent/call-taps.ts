/** Per-frame observers of a call's audio (the recorder): both called once per 20 ms tick. */
import type { Pcm } from '../media/audio-frame.ts';

export interface CallRecorderHooks {
  inbound(frame: Pcm): void;
  /** null = we sent nothing this tick (silence). */
  outbound(frame: Pcm | null): void;
}
