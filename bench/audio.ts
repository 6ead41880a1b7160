/**
 * Speech for the benchmark: a few utterances synthesized ONCE with flite (kal voice), resampled to
 * 8 kHz with sox, cached on disk, and shared by every simulated caller (as µ-law frames) and by the
 * zero-latency TTS (as PCM). Real speech matters: the WebRTC VAD does not call tones "speech".
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRAME_SAMPLES, type Pcm } from '../src/media/audio-frame.ts';
import { ulawDecode, ulawEncode } from '../src/media/g711.ts';
import { createVad } from '../src/media/vad.ts';
import type { VadConfig } from '../src/config/schema.ts';

/** What the callers say (each ~1-2 s) and what the agent says (greeting and replies). */
export const CALLER_LINES = [
  'Yes, I have a minute. What is this about?',
  'Hold on, wait a second, I have a question.',
  'I own the house and the bill is about two hundred dollars.',
  'No, tell me more about the price first.',
] as const;

export const AGENT_LINES = {
  greeting: 'Hello, this is Anna from Sunny Solar. Do you have a minute?',
  reply: 'Thank you. We install solar panels with no money down, and most homeowners save about thirty percent every month.',
} as const;

export interface BenchAudio {
  /** Caller utterances as µ-law 160-byte frames (silence trimmed at the ends). */
  readonly callerFrames: Uint8Array[][];
  /** For each caller utterance, the index of its last frame above -40 dBFS. */
  readonly callerLastVoiced: number[];
  /** For each caller utterance, the index of its first frame above -40 dBFS. */
  readonly callerFirstVoiced: number[];
  readonly agentGreeting: Pcm;
  readonly agentReply: Pcm;
}

const VOICED_DBFS = -40;

/**
 * For each caller utterance, the index of its last frame that the daemon's VAD, run with `vad` (the
 * bench's config) over the utterance after a second of line silence, counts as speech. The Call's
 * end-of-turn wait (vad.hangoverMs + agent.endOfTurnMs) runs from that frame by design, so this,
 * not a fixed level cut, is where "added latency" starts. flite's speech fades out: the VAD's gate
 * (energyGateDbfs, -45 by default) usually keeps one frame more than the -40 dBFS cut does.
 */
export async function lastSpeechFrames(audio: BenchAudio, vad: VadConfig): Promise<number[]> {
  const result: number[] = [];
  for (const frames of audio.callerFrames) {
    const v = await createVad(vad);
    try {
      const pcm = new Int16Array(FRAME_SAMPLES);
      for (let i = 0; i < 50; i++) v.process(pcm);
      let last = -1;
      frames.forEach((f, i) => {
        if (v.process(ulawDecode(f, pcm)).voiced) last = i;
      });
      if (last < 0) throw new Error('the VAD hears no speech in a bench utterance');
      result.push(last);
    } finally {
      v.close();
    }
  }
  return result;
}

export function cacheDir(): string {
  const dir = join(tmpdir(), 'ai-bridge-bench-audio');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function synth(text: string, name: string): Int16Array {
  const dir = cacheDir();
  // the text's hash in the name: editing a line re-synthesizes it instead of reusing stale audio
  const out = join(dir, `${name}-${createHash('sha1').update(text).digest('hex').slice(0, 10)}.8k.wav`);
  if (!existsSync(out)) {
    const raw = join(dir, `${name}.raw.wav`);
    execFileSync('flite', ['-voice', 'kal', '-t', text, '-o', raw], { stdio: 'ignore', timeout: 30_000 });
    execFileSync('sox', [raw, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', out], {
      stdio: 'ignore',
      timeout: 30_000,
    });
  }
  return readWavPcm16(readFileSync(out));
}

/** The data chunk of a 16-bit mono WAV (walks the chunks: sox may write LIST before data). */
export function readWavPcm16(buf: Buffer): Int16Array {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const n = Math.floor(Math.min(size, buf.length - off - 8) / 2);
      const pcm = new Int16Array(n);
      for (let i = 0; i < n; i++) pcm[i] = buf.readInt16LE(off + 8 + i * 2);
      return pcm;
    }
    off += 8 + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

export function frameLevelDbfs(pcm: Int16Array, start: number, len: number): number {
  let sum = 0;
  for (let i = start; i < start + len; i++) sum += pcm[i] * pcm[i];
  return sum > 0 ? 10 * Math.log10(sum / len / (32768 * 32768)) : -120;
}

/** Trim leading/trailing non-speech frames; split into 160-sample frames (last one zero-padded). */
function toFrames(pcm: Int16Array): { frames: Int16Array[]; firstVoiced: number; lastVoiced: number } {
  const total = Math.ceil(pcm.length / FRAME_SAMPLES);
  const frames: Int16Array[] = [];
  for (let f = 0; f < total; f++) {
    const fr = new Int16Array(FRAME_SAMPLES);
    fr.set(pcm.subarray(f * FRAME_SAMPLES, Math.min(pcm.length, (f + 1) * FRAME_SAMPLES)));
    frames.push(fr);
  }
  const voiced = frames.map((fr) => frameLevelDbfs(fr, 0, FRAME_SAMPLES) > VOICED_DBFS);
  let first = voiced.indexOf(true);
  let last = voiced.lastIndexOf(true);
  if (first < 0) throw new Error('synthesized utterance has no speech');
  // keep two frames of lead-in/out so the audio is natural, and index relative to the trimmed list
  const from = Math.max(0, first - 2);
  const to = Math.min(frames.length - 1, last + 2);
  const kept = frames.slice(from, to + 1);
  first -= from;
  last -= from;
  return { frames: kept, firstVoiced: first, lastVoiced: last };
}

let cached: BenchAudio | null = null;

export function loadBenchAudio(): BenchAudio {
  if (cached) return cached;
  const callerFrames: Uint8Array[][] = [];
  const callerLastVoiced: number[] = [];
  const callerFirstVoiced: number[] = [];
  CALLER_LINES.forEach((line, i) => {
    const { frames, firstVoiced, lastVoiced } = toFrames(synth(line, `caller-${i}`));
    callerFrames.push(frames.map((f) => ulawEncode(f)));
    callerFirstVoiced.push(firstVoiced);
    callerLastVoiced.push(lastVoiced);
  });
  cached = {
    callerFrames,
    callerFirstVoiced,
    callerLastVoiced,
    agentGreeting: synth(AGENT_LINES.greeting, 'agent-greeting'),
    agentReply: synth(AGENT_LINES.reply, 'agent-reply'),
  };
  return cached;
}
