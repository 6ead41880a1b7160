/**
 * Synthesized audio kept for reuse: greetings are said on every call, and synthesizing the same text
 * a thousand times an hour wastes TTS money and first-audio latency. Bounded LRU by total samples.
 */
import type { Pcm } from '../media/audio-frame.ts';

export class AudioCache {
  private readonly map = new Map<string, Pcm>();
  private samples = 0;

  constructor(private readonly maxSamples = 8000 * 60 * 10 /* 10 minutes of audio, ~9.6 MB */) {}

  get(key: string): Pcm | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, pcm: Pcm): void {
    if (pcm.length > this.maxSamples) return;
    const old = this.map.get(key);
    if (old) {
      this.samples -= old.length;
      this.map.delete(key);
    }
    this.map.set(key, pcm);
    this.samples += pcm.length;
    for (const [k, v] of this.map) {
      if (this.samples <= this.maxSamples) break;
      this.map.delete(k);
      this.samples -= v.length;
    }
  }

  get size(): number {
    return this.map.size;
  }
}

export const sharedGreetingCache = new AudioCache();
