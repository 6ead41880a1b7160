/** The simulator's recording: caller left, agent right, 8 kHz 16-bit, one 20 ms slot at a time. */
import { writeFileSync } from 'node:fs';
import { FRAME_SAMPLES, type Pcm } from '../media/audio-frame.ts';
import { CALL_WAV, wavHeader } from '../records/wav.ts';

export function writeStereoWav(path: string, left: ReadonlyArray<Pcm | null>, right: ReadonlyArray<Pcm | null>): number {
  const slots = Math.max(left.length, right.length);
  const data = Buffer.alloc(slots * FRAME_SAMPLES * 4);
  for (let s = 0; s < slots; s++) {
    const l = left[s];
    const r = right[s];
    const base = s * FRAME_SAMPLES * 4;
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      data.writeInt16LE(l && i < l.length ? l[i] : 0, base + i * 4);
      data.writeInt16LE(r && i < r.length ? r[i] : 0, base + i * 4 + 2);
    }
  }
  writeFileSync(path, Buffer.concat([wavHeader(data.length, CALL_WAV), data]));
  return slots * 20;
}
