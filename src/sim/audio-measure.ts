/**
 * Measurements the simulator takes on the audio itself, at the caller's ear: which 20 ms slots
 * carried caller speech and which carried agent audio. Nothing here looks at the daemon's events.
 */
import { FRAME_MS } from '../media/audio-frame.ts';
import { levelDbfs } from '../media/vad.ts';

export interface Utterance {
  readonly text: string;
  readonly startSlot: number;
  endSlot: number;
  readonly bargeIn: boolean;
}

/** First slot > `after` where the agent was audible, or -1. */
export function firstAgentSlotAfter(agentAudible: readonly boolean[], after: number): number {
  for (let i = after + 1; i < agentAudible.length; i++) if (agentAudible[i]) return i;
  return -1;
}

/**
 * The last slot of agent audio that overlaps a barge-in: scanning from the caller's onset, the agent
 * counts as stopped at the first run of `gapSlots` silent slots.
 */
export function lastAgentSlotBefore(agentAudible: readonly boolean[], from: number, gapSlots = 10): number {
  let last = -1;
  let quiet = 0;
  for (let i = Math.max(0, from - 50); i < agentAudible.length; i++) {
    if (agentAudible[i]) {
      if (i >= from && quiet >= gapSlots) break;
      last = i;
      quiet = 0;
    } else if (i >= from) {
      quiet++;
      if (quiet >= gapSlots) break;
    }
  }
  return last;
}

export function turnLatencies(agentAudible: readonly boolean[], utterances: readonly Utterance[]): number[] {
  const out: number[] = [];
  for (const u of utterances) {
    if (u.bargeIn) continue;
    const s = firstAgentSlotAfter(agentAudible, u.endSlot);
    if (s >= 0) out.push((s - u.endSlot) * FRAME_MS);
  }
  return out;
}

export function bargeInStops(agentAudible: readonly boolean[], utterances: readonly Utterance[]): number[] {
  const out: number[] = [];
  for (const u of utterances) {
    if (!u.bargeIn) continue;
    const last = lastAgentSlotBefore(agentAudible, u.startSlot);
    // +1 slot: the last agent frame lasts until the end of its slot
    out.push(Math.max(0, (last + 1 - u.startSlot) * FRAME_MS));
  }
  return out;
}

/** Frames whose RMS is above -50 dBFS count as audible. */
export function audible(frame: Int16Array): boolean {
  return levelDbfs(frame) > -50;
}
