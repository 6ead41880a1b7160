/**
 * Test speech for the embedded recognizer: phrases synthesized offline (flite through our FliteTts, or
 * espeak-ng + sox), sent through G.711 µ-law and back as on a phone line, cut into 20 ms frames.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FRAME_SAMPLES } from '../../src/media/audio-frame.ts';
import { ulawDecode, ulawEncode } from '../../src/media/g711.ts';
import { FliteTts, type FliteVoice } from '../../src/providers/tts/flite.ts';
import type { SttEvent, SttSession } from '../../src/providers/types.ts';

export type TestVoice = FliteVoice | 'espeak';

/** Answers of an outbound solar qualification call (what the campaign's grammars hold). */
export const IN_GRAMMAR = [
  'yes',
  'no',
  'yeah',
  'yes I am the homeowner',
  'I rent',
  'I own the house',
  'call me back tomorrow',
  'call me back later',
  'not interested',
  "I'm not interested",
  'take me off your list',
  'who is this',
  'how much does it cost',
  'sure go ahead',
  "I'm busy right now",
  'what company is this',
  'I already have solar',
  'maybe',
  'that sounds good',
  'okay',
];

/** Things callers say that no grammar above expects. */
export const OUT_OF_GRAMMAR = [
  "what's the weather like today",
  'my dog just ran outside',
  'can you repeat the question',
  'I need to check with my wife',
  'hello hello can you hear me',
  'the kids are at school',
  'send me an email instead',
  "I don't speak english very well",
  'is this a robot',
  'what time is it there',
  'I just sat down for dinner',
  'please hold on a second',
  'we moved here last year',
  'my husband handles the bills',
  'the roof was replaced in june',
];

export async function synth(text: string, voice: TestVoice): Promise<Int16Array> {
  if (voice === 'espeak') return espeak(text);
  const tts = await new FliteTts({ voice }).open({ callId: 't', signal: new AbortController().signal });
  const parts: Int16Array[] = [];
  for await (const c of tts.synthesize(text, new AbortController().signal)) parts.push(c);
  await tts.close();
  return concat(parts);
}

function espeak(text: string): Int16Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ai-bridge-espeak-'));
  try {
    const wav = path.join(dir, 'e.wav');
    const raw = path.join(dir, 'e.raw');
    execFileSync('espeak-ng', ['-w', wav, text]);
    execFileSync('sox', [wav, '-r', '8000', '-b', '16', '-e', 'signed-integer', '-c', '1', '-t', 'raw', raw]);
    const b = fs.readFileSync(raw);
    return new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** µ-law encode + decode: the phone line. */
export function phoneLine(pcm: Int16Array): Int16Array {
  return ulawDecode(ulawEncode(pcm));
}

/** Speech padded with silence (ms before/after), as 20 ms frames. */
export function frames(pcm: Int16Array, leadMs = 300, tailMs = 500): Int16Array[] {
  const lead = (leadMs / 1000) * 8000;
  const total = lead + pcm.length + (tailMs / 1000) * 8000;
  const all = new Int16Array(Math.ceil(total / FRAME_SAMPLES) * FRAME_SAMPLES);
  all.set(pcm, lead);
  const out: Int16Array[] = [];
  for (let i = 0; i < all.length; i += FRAME_SAMPLES) out.push(all.slice(i, i + FRAME_SAMPLES));
  return out;
}

/** Writes the frames, calls finalize(), resolves with the next final (bounded wait). */
export function recognize(session: SttSession, events: SttEvent[], fr: Int16Array[], timeoutMs = 10_000): Promise<Extract<SttEvent, { type: 'final' }>> {
  const start = events.length;
  for (const f of fr) session.write(f);
  session.finalize();
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = (): void => {
      const ev = events.slice(start).find((e) => e.type === 'final' || e.type === 'error');
      if (ev?.type === 'final') return resolve(ev);
      if (ev?.type === 'error') return reject(ev.error);
      if (Date.now() > deadline) return reject(new Error('no final within timeout'));
      setTimeout(poll, 5);
    };
    poll();
  });
}
