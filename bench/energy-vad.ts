/** INTERIM stand-in until src/media/vad.ts exists (same onset/hangover semantics, energy only). */
import type { Pcm } from '../src/media/audio-frame.ts';
import type { VoiceDetector } from '../src/agent/call.ts';

export class EnergyVad implements VoiceDetector {
  private run = 0;
  private quiet = 0;
  speaking = false;
  constructor(
    private readonly onsetMs = 60,
    private readonly hangoverMs = 200,
  ) {}

  process(frame: Pcm, opts?: { minLevelDbfs?: number }) {
    let sum = 0;
    for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
    const levelDbfs = sum > 0 ? 10 * Math.log10(sum / frame.length / (32768 * 32768)) : -120;
    const voiced = levelDbfs > Math.max(-45, opts?.minLevelDbfs ?? -Infinity);
    let event: 'start' | 'end' | null = null;
    if (voiced) {
      this.run += 20;
      this.quiet = 0;
      if (!this.speaking && this.run >= this.onsetMs) {
        this.speaking = true;
        event = 'start';
      }
    } else {
      this.quiet += 20;
      if (!this.speaking) this.run = 0;
      if (this.speaking && this.quiet >= this.hangoverMs) {
        this.speaking = false;
        this.run = 0;
        event = 'end';
      }
    }
    return { voiced, speaking: this.speaking, event, levelDbfs };
  }
  reset() {
    this.run = 0;
    this.quiet = 0;
    this.speaking = false;
  }
  close() {}
}
