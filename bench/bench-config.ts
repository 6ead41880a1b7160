/** The configuration every benchmark call runs with: the daemon defaults, except a long max call time (and `--tick-slots`, `--rtp-io`). */
import { validateConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import type { RtpIoMode } from '../src/media/batched-udp.ts';

/** What a bench run may set in `media` (the `--tick-slots` and `--rtp-io` flags). */
export type BenchMediaOptions = { tickSlots?: number; rtpIo?: RtpIoMode };

export function benchConfig(media: BenchMediaOptions = {}): Config {
  return validateConfig({ agent: { maxCallSeconds: 3600 }, media });
}

/** The settings that shape the measured latencies (reported in the JSON so the numbers can be read). */
export function benchConfigSummary(media: BenchMediaOptions = {}): {
  endOfTurnMs: number;
  hangoverMs: number;
  onsetMs: number;
  jitterBufferMs: number;
  jitterAdaptive: boolean;
  confirmMs: number;
  vadAggressiveness: number;
  tickLeadMs: number;
  tickSlots: number;
  rtpIo: string;
} {
  const c = benchConfig(media);
  return {
    endOfTurnMs: c.agent.endOfTurnMs,
    hangoverMs: c.media.vad.hangoverMs,
    onsetMs: c.media.vad.onsetMs,
    jitterBufferMs: c.media.jitterBufferMs,
    jitterAdaptive: c.media.jitterAdaptive,
    confirmMs: c.agent.bargeIn.confirmMs,
    vadAggressiveness: c.media.vad.aggressiveness,
    tickLeadMs: c.media.tickLeadMs,
    tickSlots: c.media.tickSlots,
    rtpIo: c.media.rtpIo,
  };
}
