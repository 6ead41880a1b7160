/**
 * Voice activity detection for one call: WebRTC VAD (libfvad compiled to WASM) behind two level
 * gates, then onset/hangover smoothing.
 *
 * WebRTC VAD alone says "speech" on steady noise (white noise at -15 dBFS: 100% of frames in every
 * mode), so a frame counts as voiced only when, as well as the VAD saying so:
 * - its level is above the configured energy gate and any dynamic minimum the caller passes (the
 *   echo guard raises it while we talk), and
 * - its level stands above the line's noise floor (the quietest frame of the last 1.5 s) by a
 *   margin: speech dips between syllables, steady noise does not.
 * Speech "starts" after onsetMs of voiced frames and "ends" after hangoverMs without any.
 *
 * The WASM module is loaded once per process; each Vad owns one fvad instance and one 320-byte
 * frame buffer in WASM memory, freed by close().
 */
import { BridgeError } from '../errors.ts';
import type { VadConfig } from '../config/schema.ts';
import { FRAME_MS, SAMPLE_RATE } from './audio-frame.ts';

/** The part of the Emscripten module we use (the package ships no type declarations). */
interface FvadModule {
  _fvad_new(): number;
  _fvad_free(handle: number): void;
  _fvad_reset(handle: number): void;
  _fvad_set_mode(handle: number, mode: number): number;
  _fvad_set_sample_rate(handle: number, rate: number): number;
  _fvad_process(handle: number, framePtr: number, length: number): number;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  /** Re-read on every use: the view is replaced when WASM memory grows. */
  HEAP16: Int16Array;
}

let modulePromise: Promise<FvadModule> | null = null;

function loadFvad(): Promise<FvadModule> {
  if (!modulePromise) {
    // A variable specifier keeps TypeScript from demanding declarations the package does not ship.
    const specifier = '@echogarden/fvad-wasm';
    modulePromise = import(specifier)
      .then((mod: { default: () => Promise<FvadModule> }) => mod.default())
      .catch((err: unknown) => {
        modulePromise = null;
        throw new BridgeError('PROVIDER_UNAVAILABLE', 'cannot load the WebRTC VAD (@echogarden/fvad-wasm)', {}, { cause: err });
      });
  }
  return modulePromise;
}

export interface VadResult {
  /** This frame, after the gates. */
  readonly voiced: boolean;
  /** Smoothed state (onset/hangover applied). */
  readonly speaking: boolean;
  /** Transition of `speaking` on this frame. 'start' comes onsetMs after the first voiced frame. */
  readonly event: 'start' | 'end' | null;
  /** RMS level of the frame, dBFS (-100 for digital silence). */
  readonly levelDbfs: number;
}

export interface VadProcessOptions {
  /** Extra gate for this frame (dBFS), e.g. raised by the echo guard while we are talking. */
  readonly minLevelDbfs?: number;
}

export interface VadTuning {
  /** How far above the noise floor a frame must be to count (default 9 dB). */
  readonly noiseMarginDb?: number;
  /** Window over which the noise floor is the minimum frame level (default 1500 ms). */
  readonly noiseWindowMs?: number;
}

export interface Vad {
  /** One 20 ms frame at 8 kHz (10 and 30 ms frames also accepted). The result object is reused. */
  process(frame: Int16Array, opts?: VadProcessOptions): VadResult;
  /** Current noise-floor estimate, dBFS. */
  readonly noiseFloorDbfs: number;
  reset(): void;
  /** Free the WASM instance; further process() calls throw. Idempotent. */
  close(): void;
}

export const SILENT_DBFS = -100;

export function levelDbfs(frame: Int16Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
  if (sum === 0 || frame.length === 0) return SILENT_DBFS;
  return Math.max(SILENT_DBFS, 10 * Math.log10(sum / frame.length / (32768 * 32768)));
}

interface MutableResult {
  voiced: boolean;
  speaking: boolean;
  event: 'start' | 'end' | null;
  levelDbfs: number;
}

class FvadVad implements Vad {
  private handle: number;
  private ptr: number;
  private readonly result: MutableResult = { voiced: false, speaking: false, event: null, levelDbfs: SILENT_DBFS };
  private readonly onsetFrames: number;
  private readonly hangoverFrames: number;
  private readonly gateDbfs: number;
  private readonly margin: number;
  // The noise floor is the minimum level over a sliding window of frames, kept as a monotonic
  // queue (levels rising from front to back, each with its frame number): O(1) per frame where a
  // scan of the window was 75 reads per frame per call.
  private readonly window: number;
  private readonly minLevels: Float64Array;
  private readonly minFrames: Float64Array;
  private minHead = 0;
  private minSize = 0;
  private frameNo = 0;
  private voicedRun = 0;
  private unvoicedRun = 0;
  private speaking = false;

  constructor(
    private readonly mod: FvadModule,
    private readonly cfg: VadConfig,
    tuning: VadTuning,
  ) {
    this.onsetFrames = Math.max(1, Math.round(cfg.onsetMs / FRAME_MS));
    this.hangoverFrames = Math.max(1, Math.round(cfg.hangoverMs / FRAME_MS));
    this.gateDbfs = cfg.energyGateDbfs;
    this.margin = tuning.noiseMarginDb ?? 9;
    this.window = Math.max(1, Math.round((tuning.noiseWindowMs ?? 1500) / FRAME_MS));
    this.minLevels = new Float64Array(this.window);
    this.minFrames = new Float64Array(this.window);
    this.handle = mod._fvad_new();
    this.ptr = mod._malloc(2 * 240);
    if (!this.handle || !this.ptr) {
      if (this.handle) mod._fvad_free(this.handle);
      if (this.ptr) mod._free(this.ptr);
      throw new BridgeError('INTERNAL', 'fvad_new failed (WASM out of memory?)');
    }
    this.configure();
  }

  get noiseFloorDbfs(): number {
    return this.minSize === 0 ? SILENT_DBFS : this.minLevels[this.minHead];
  }

  /** Add this frame's level to the window (the floor a frame is judged by excludes the frame itself). */
  private pushLevel(level: number): void {
    const w = this.window;
    const n = this.frameNo++;
    // First the frame leaving the window (before the queue, which can be full, takes this one).
    if (this.minSize > 0 && this.minFrames[this.minHead] <= n - w) {
      this.minHead = (this.minHead + 1) % w;
      this.minSize--;
    }
    // Levels at the back that are not lower than this one can never be the minimum again.
    while (this.minSize > 0 && this.minLevels[(this.minHead + this.minSize - 1) % w] >= level) this.minSize--;
    const back = (this.minHead + this.minSize) % w;
    this.minLevels[back] = level;
    this.minFrames[back] = n;
    this.minSize++;
  }

  process(frame: Int16Array, opts?: VadProcessOptions): VadResult {
    if (!this.handle) throw new BridgeError('INTERNAL', 'VAD used after close()');
    const n = frame.length;
    if (n !== 80 && n !== 160 && n !== 240) {
      throw new BridgeError('AUDIO_BAD_FRAME', `VAD needs 10/20/30 ms at 8 kHz (80/160/240 samples), got ${n}`, {
        samples: n,
      });
    }
    const m = this.mod;
    m.HEAP16.set(frame, this.ptr >> 1);
    // Always run the VAD, even on frames the gates will reject: its noise model adapts per frame.
    const vad = m._fvad_process(this.handle, this.ptr, n) === 1;
    const level = levelDbfs(frame);
    const floor = this.noiseFloorDbfs; // before this frame joins the window
    this.pushLevel(level);

    const minLevel = opts?.minLevelDbfs ?? -Infinity;
    const voiced = vad && level >= this.gateDbfs && level >= minLevel && level >= floor + this.margin;

    const r = this.result;
    r.event = null;
    if (voiced) {
      this.voicedRun++;
      this.unvoicedRun = 0;
      if (!this.speaking && this.voicedRun >= this.onsetFrames) {
        this.speaking = true;
        r.event = 'start';
      }
    } else {
      this.unvoicedRun++;
      this.voicedRun = 0;
      if (this.speaking && this.unvoicedRun >= this.hangoverFrames) {
        this.speaking = false;
        r.event = 'end';
      }
    }
    r.voiced = voiced;
    r.speaking = this.speaking;
    r.levelDbfs = level;
    return r;
  }

  reset(): void {
    if (this.handle) {
      this.mod._fvad_reset(this.handle);
      this.configure();
    }
    this.minHead = 0;
    this.minSize = 0;
    this.frameNo = 0;
    this.voicedRun = 0;
    this.unvoicedRun = 0;
    this.speaking = false;
    this.result.voiced = false;
    this.result.speaking = false;
    this.result.event = null;
    this.result.levelDbfs = SILENT_DBFS;
  }

  close(): void {
    if (!this.handle) return;
    this.mod._fvad_free(this.handle);
    this.mod._free(this.ptr);
    this.handle = 0;
    this.ptr = 0;
  }

  private configure(): void {
    const m = this.mod;
    if (m._fvad_set_mode(this.handle, this.cfg.aggressiveness) !== 0) {
      throw new BridgeError('CONFIG_INVALID', `VAD aggressiveness must be 0-3, got ${this.cfg.aggressiveness}`, {
        key: 'media.vad.aggressiveness',
        value: this.cfg.aggressiveness,
      });
    }
    if (m._fvad_set_sample_rate(this.handle, SAMPLE_RATE) !== 0) {
      throw new BridgeError('INTERNAL', `fvad rejected sample rate ${SAMPLE_RATE}`);
    }
  }
}

/** One VAD per call. The WASM module is shared; the first call loads it. */
export async function createVad(cfg: VadConfig, tuning: VadTuning = {}): Promise<Vad> {
  const mod = await loadFvad();
  return new FvadVad(mod, cfg, tuning);
}
