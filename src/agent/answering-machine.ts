/**
 * Answering-machine detection from the caller-side audio, for the calls VICIdial's own AMD (the
 * 8369/8373 routing) let through to us. Pure and per call: fed the same 20 ms frames and VAD flags
 * the Call already has, it decides "machine" at most once, for one of two reasons:
 *
 *   - beep: a sustained single tone (voicemail beeps are 400-2000 Hz, 0.15-1.5 s). Each frame is
 *     fitted with the undamped two-pole resonator x[n] + x[n-2] = a*x[n-1], which a pure sinusoid
 *     of frequency acos(a/2)*fs/2pi satisfies exactly: the residual energy says how much of the frame
 *     is NOT that one tone (speech, DTMF's second tone and noise all leave a large residual), and the
 *     fitted `a` gives the frequency without a filter bank's scalloping. Six whole frames of the same
 *     frequency at the same level make a beep: a 150 ms beep always covers six whole frames, a 100 ms
 *     blip never more than five at full level.
 *   - monologue: the "caller" talks nearly without a break for more than monologueMs early in the
 *     call. A person says "hello?" and waits; a greeting goes on.
 *
 * After a decision it keeps listening so the Call knows when a message can be left: when the beep
 * has ended, or, with no beep within beepWaitMs, after a second of silence.
 */
import { FRAME_MS, type Pcm } from '../media/audio-frame.ts';
import type { AmdConfig } from '../config/schema.ts';

export type AmdReason = 'beep' | 'monologue';

export interface AmdDecision {
  readonly reason: AmdReason;
  /** Call time of the frame on which the decision was taken. */
  readonly atMs: number;
}

/** Why the line is ready for our message: the beep ended, silence after the greeting, or we gave up waiting. */
export type MessageCue = 'beep' | 'silence' | 'timeout';

export type AmdSettings = Pick<AmdConfig, 'monologueMs' | 'windowMs' | 'beepWindowMs' | 'beepWaitMs'>;

export interface ToneMeasure {
  /** Residual energy / frame energy of the best single-tone fit: 0 = one pure tone. */
  residualRatio: number;
  /** Frequency of the best fit, Hz (NaN when the frame has no usable energy). */
  frequencyHz: number;
  /**
   * Coefficient of variation, within the frame, of the Teager energy x[n]^2 - x[n-1]x[n+1], which is
   * constant for one sinusoid. Two close tones (DTMF 941+1336 Hz fits a single 1134 Hz tone with
   * only 6% residual) beat, and their Teager energy swings by ~70%.
   */
  envelopeVariation: number;
  levelDbfs: number;
}

/** No tone: what measureTone says of silence, and of a frame below the tone floor without measuring it. */
const QUIET: Readonly<ToneMeasure> = { residualRatio: 1, frequencyHz: NaN, levelDbfs: -100, envelopeVariation: 1 };

const SAMPLE_RATE = 8000;
const MIN_BEEP_HZ = 380;
const MAX_BEEP_HZ = 2100;
/** The tone must carry ~90% of the frame's energy (about 13-17 dB above everything else). */
const MAX_RESIDUAL = 0.1;
/** One tone at 30 dB SNR stays under ~0.4 (lowest beeps worst); DTMF pairs, even with twist, are above 0.6. */
const MAX_ENVELOPE_VARIATION = 0.45;
const MIN_TONE_DBFS = -45;
/** Whole frames of one stable tone that make a beep (see the header). */
const BEEP_FRAMES = 6;
/** Frames within this much of the run's loudest count towards BEEP_FRAMES. */
const LEVEL_TOLERANCE_DB = 2;
/** A frame this much quieter than the run's loudest ends the run. */
const LEVEL_BREAK_DB = 6;
const FREQ_TOLERANCE_HZ = 12;
const FREQ_TOLERANCE_FRACTION = 0.015;
/** Raw and differenced fits of a real tone agree this closely even in line noise; speech's do not. */
const AGREE_TOLERANCE_HZ = 30;
const AGREE_TOLERANCE_FRACTION = 0.06;
/** Differencing costs a low beep up to ~13 dB of SNR against white noise: its residual counts at 1/5. */
const DIFF_WEIGHT = 5;
/** A silence this long ends a monologue: a person who said "hello?" is waiting for an answer by now. */
const MONOLOGUE_BREAK_MS = 1000;
/** Of a monologue's span, at least this fraction is voiced. */
const MONOLOGUE_VOICED_FRACTION = 0.6;
/** Silence that means a greeting without a beep has finished. */
const END_OF_GREETING_SILENCE_MS = 1000;
/** Longest we hold our message after beepWaitMs for that silence. */
const MAX_SILENCE_WAIT_MS = 10_000;
/** A "beep" going on this long is treated as over for the message cue. */
const MAX_BEEP_MS = 3000;
const LEVELS_KEPT = 16;

interface Sums {
  /** sum x[k]^2 over the frame */
  e: number;
  /** over k >= 2: sum (x[k] + x[k-2])^2, sum (x[k] + x[k-2]) x[k-1], sum x[k-1]^2, sum x[k] x[k-1], sum x[k] x[k-2] */
  ss: number;
  sp: number;
  pp: number;
  r1: number;
  r2: number;
}

const raw: Sums = { e: 0, ss: 0, sp: 0, pp: 0, r1: 0, r2: 0 };
const diff: Sums = { e: 0, ss: 0, sp: 0, pp: 0, r1: 0, r2: 0 };
const fit = { ratio: 1, hz: NaN };

function clear(s: Sums): void {
  s.e = s.ss = s.sp = s.pp = s.r1 = s.r2 = 0;
}

function accumulate(s: Sums, x: number, x1: number, x2: number): void {
  const a = x + x2;
  s.ss += a * a;
  s.sp += a * x1;
  s.pp += x1 * x1;
  s.r1 += x * x1;
  s.r2 += x * x2;
}

/**
 * Frequency by Pisarenko's single-sinusoid estimate from the lag-1 and lag-2 autocorrelations (white
 * noise adds only to lag 0, so the estimate stays unbiased in noise, unlike a least-squares fit),
 * then the residual energy of x[n] + x[n-2] = 2cos(w) x[n-1] relative to the frame's energy.
 */
function fitTone(s: Sums): void {
  if (s.e <= 0 || (s.r1 === 0 && s.r2 >= 0)) {
    fit.ratio = 1;
    fit.hz = NaN;
    return;
  }
  // r1 = 0 with r2 < 0 is a tone at exactly fs/4 (the formula's limit)
  const cosW = s.r1 === 0 ? 0 : Math.max(-1, Math.min(1, (s.r2 + Math.sqrt(s.r2 * s.r2 + 8 * s.r1 * s.r1)) / (4 * s.r1)));
  const a = 2 * cosW;
  fit.ratio = Math.max(0, s.ss - 2 * a * s.sp + a * a * s.pp) / s.e;
  fit.hz = (Math.acos(cosW) * SAMPLE_RATE) / (2 * Math.PI);
}

/**
 * Fit one frame with a single pure tone. Writes into `out` (reused on the hot path) and returns it.
 *
 * Any smooth, low-frequency signal nearly satisfies the resonator equation (x[n] + x[n-2] ~ 2x[n-1]),
 * so a vowel dominated by its fundamental fits it too. The frame is therefore fitted twice: as is
 * and differenced (x[n] - x[n-1], which tilts the spectrum up by 6 dB/octave). A pure tone is still
 * the same pure tone after differencing, at the same frequency; speech's fit moves to a higher
 * harmonic and its residual grows. The reported residual is the worse of the two fits (the
 * differenced one, noisier, at a fifth), and a disagreement in frequency makes it 1.
 */
export function measureTone(frame: Pcm, out: ToneMeasure = { ...QUIET }): ToneMeasure {
  const n = frame.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += frame[i];
  mean = n > 0 ? mean / n : 0;
  clear(raw);
  clear(diff);
  for (let i = 0; i < n; i++) {
    const x = frame[i] - mean;
    raw.e += x * x;
    if (i >= 2) accumulate(raw, x, frame[i - 1] - mean, frame[i - 2] - mean);
    if (i >= 1) {
      const d = frame[i] - frame[i - 1];
      diff.e += d * d;
      if (i >= 3) accumulate(diff, d, frame[i - 1] - frame[i - 2], frame[i - 2] - frame[i - 3]);
    }
  }
  let tSum = 0;
  let tSq = 0;
  for (let i = 1; i < n - 1; i++) {
    const x = frame[i] - mean;
    const t = x * x - (frame[i - 1] - mean) * (frame[i + 1] - mean);
    tSum += t;
    tSq += t * t;
  }
  const tMean = n > 2 ? tSum / (n - 2) : 0;
  out.envelopeVariation = tMean > 0 ? Math.sqrt(Math.max(0, tSq / (n - 2) - tMean * tMean)) / tMean : 1;
  out.levelDbfs = raw.e > 0 ? Math.max(-100, 10 * Math.log10(raw.e / n / (32768 * 32768))) : -100;
  fitTone(raw);
  const rawRatio = fit.ratio;
  const rawHz = fit.hz;
  fitTone(diff);
  out.frequencyHz = rawHz;
  const agree = Math.abs(rawHz - fit.hz) <= Math.max(AGREE_TOLERANCE_HZ, rawHz * AGREE_TOLERANCE_FRACTION);
  out.residualRatio = agree ? Math.max(rawRatio, fit.ratio / DIFF_WEIGHT) : 1;
  return out;
}

export class AnsweringMachineDetector {
  private readonly cfg: AmdSettings;
  private readonly tone: ToneMeasure = { ...QUIET };
  private decided: AmdDecision | null = null;

  // tone run
  private runFrames = 0;
  private runFreqHz = 0;
  private runMaxDb = -100;
  private readonly runLevels = new Float64Array(LEVELS_KEPT);
  /** The current run has been confirmed as a beep. */
  private inBeep = false;
  private beepStartMs = 0;
  private beeps = 0;
  private beepEndedMs: number | null = null;

  // monologue
  private speechStartMs: number | null = null;
  private voicedMs = 0;
  private silentMs = 0;

  private cue: MessageCue | null = null;

  constructor(cfg: AmdSettings) {
    this.cfg = cfg;
  }

  get decision(): AmdDecision | null {
    return this.decided;
  }

  /** Beeps heard so far (a beep counts once, on its confirmation). */
  get beepCount(): number {
    return this.beeps;
  }

  /** After a decision: the line is ready for a message, and why. Null while still waiting. */
  get messageCue(): MessageCue | null {
    return this.cue;
  }

  /**
   * One 20 ms frame of caller audio with the VAD's per-frame flag, at call time `nowMs` (the end of
   * the frame), and the VAD's level of it if known (saves the tone fit on quiet frames). Returns
   * the decision on the frame it is taken, null otherwise (also on every later frame).
   */
  push(frame: Pcm, voiced: boolean, nowMs: number, levelDbfs?: number): AmdDecision | null {
    // Past both windows with no decision, nothing can decide any more: skip the tone analysis,
    // which would otherwise cost every live call a few microseconds a frame for its whole length.
    if (!this.decided && nowMs > this.cfg.beepWindowMs && nowMs > this.cfg.windowMs) return null;
    const beepNow = this.trackTone(frame, nowMs, levelDbfs);
    this.trackSpeech(voiced, nowMs);
    if (this.decided) {
      this.updateCue(nowMs);
      return null;
    }
    if (beepNow && nowMs <= this.cfg.beepWindowMs) return this.decide('beep', nowMs);
    if (this.isMonologue(nowMs)) return this.decide('monologue', nowMs);
    return null;
  }

  private decide(reason: AmdReason, nowMs: number): AmdDecision {
    this.decided = { reason, atMs: nowMs };
    if (reason !== 'beep') this.beepEndedMs = null; // a beep before the decision is no cue for the message
    return this.decided;
  }

  /** True on the frame a beep is confirmed. */
  private trackTone(frame: Pcm, nowMs: number, levelDbfs: number | undefined): boolean {
    // The VAD's level keeps the DC the tone fit removes, so it is never below the fit's own: a frame
    // under the tone floor by it cannot be tone-like, and most frames of a call are (silence while
    // we talk). Skipping the fit there changes no decision.
    const t = levelDbfs !== undefined && levelDbfs < MIN_TONE_DBFS ? QUIET : measureTone(frame, this.tone);
    const toneLike =
      t.residualRatio <= MAX_RESIDUAL &&
      t.envelopeVariation <= MAX_ENVELOPE_VARIATION &&
      t.levelDbfs >= MIN_TONE_DBFS && t.frequencyHz >= MIN_BEEP_HZ && t.frequencyHz <= MAX_BEEP_HZ;
    const continues =
      toneLike &&
      this.runFrames > 0 &&
      Math.abs(t.frequencyHz - this.runFreqHz) <= Math.max(FREQ_TOLERANCE_HZ, this.runFreqHz * FREQ_TOLERANCE_FRACTION) &&
      t.levelDbfs >= this.runMaxDb - LEVEL_BREAK_DB;
    if (!continues) {
      if (this.inBeep) {
        this.inBeep = false;
        this.beepEndedMs = nowMs - FRAME_MS;
      }
      this.runFrames = 0;
      if (!toneLike) return false;
      this.runFreqHz = t.frequencyHz;
      this.runMaxDb = t.levelDbfs;
    }
    if (this.runFrames < LEVELS_KEPT) this.runLevels[this.runFrames] = t.levelDbfs;
    this.runFrames++;
    if (t.levelDbfs > this.runMaxDb) this.runMaxDb = t.levelDbfs;
    if (this.inBeep || this.runFrames < BEEP_FRAMES) return false;
    let steady = 0;
    const kept = Math.min(this.runFrames, LEVELS_KEPT);
    for (let i = 0; i < kept; i++) if (this.runLevels[i] >= this.runMaxDb - LEVEL_TOLERANCE_DB) steady++;
    if (steady < BEEP_FRAMES) {
      // a run longer than we keep levels for without becoming steady is not a beep
      if (this.runFrames >= LEVELS_KEPT) this.runFrames = 0;
      return false;
    }
    this.inBeep = true;
    this.beepStartMs = nowMs - this.runFrames * FRAME_MS;
    this.beepEndedMs = null;
    this.beeps++;
    return true;
  }

  private trackSpeech(voiced: boolean, nowMs: number): void {
    if (voiced) {
      this.speechStartMs ??= nowMs - FRAME_MS;
      this.voicedMs += FRAME_MS;
      this.silentMs = 0;
      return;
    }
    this.silentMs += FRAME_MS;
    if (this.speechStartMs !== null && this.silentMs >= MONOLOGUE_BREAK_MS) {
      this.speechStartMs = null;
      this.voicedMs = 0;
    }
  }

  private isMonologue(nowMs: number): boolean {
    if (this.speechStartMs === null || nowMs > this.cfg.windowMs) return false;
    const span = nowMs - this.speechStartMs;
    return span >= this.cfg.monologueMs && this.voicedMs >= span * MONOLOGUE_VOICED_FRACTION;
  }

  private updateCue(nowMs: number): void {
    if (this.cue) return;
    if (this.inBeep) {
      if (nowMs - this.beepStartMs >= MAX_BEEP_MS) this.cue = 'beep';
      return;
    }
    if (this.beepEndedMs !== null) {
      this.cue = 'beep';
      return;
    }
    const waited = nowMs - this.decided!.atMs;
    if (waited < this.cfg.beepWaitMs) return;
    if (this.silentMs >= END_OF_GREETING_SILENCE_MS) this.cue = 'silence';
    else if (waited >= this.cfg.beepWaitMs + MAX_SILENCE_WAIT_MS) this.cue = 'timeout';
  }
}
