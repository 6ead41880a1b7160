/** Small statistics helpers for the benchmark: percentiles of sample lists and a fixed-bin histogram. */

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function round(v: number | null, digits = 2): number | null {
  if (v === null || !Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export interface HistogramSummary {
  count: number;
  p50: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

/**
 * Values 0..maxValue in `resolution` steps, plus an overflow bin that keeps the true maximum.
 * add() allocates nothing: it is called once per received packet.
 */
export class Histogram {
  private readonly bins: Uint32Array;
  count = 0;
  max = 0;

  constructor(
    private readonly resolution = 0.01,
    private readonly maxValue = 200,
  ) {
    this.bins = new Uint32Array(Math.ceil(maxValue / resolution) + 2);
  }

  add(v: number): void {
    const x = v < 0 ? 0 : v;
    let i = Math.floor(x / this.resolution);
    if (i >= this.bins.length - 1) i = this.bins.length - 1;
    this.bins[i]++;
    this.count++;
    if (x > this.max) this.max = x;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < this.bins.length; i++) this.bins[i] += other.bins[i];
    this.count += other.count;
    if (other.max > this.max) this.max = other.max;
  }

  /** Upper edge of the bin holding the p-th percentile (conservative). */
  percentile(p: number): number | null {
    if (this.count === 0) return null;
    const target = Math.ceil((p / 100) * this.count);
    let acc = 0;
    for (let i = 0; i < this.bins.length; i++) {
      acc += this.bins[i];
      if (acc >= target) return i === this.bins.length - 1 ? this.max : Math.min(this.max, (i + 1) * this.resolution);
    }
    return this.max;
  }

  summary(): HistogramSummary {
    return {
      count: this.count,
      p50: this.percentile(50),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.count ? this.max : null,
    };
  }

  /** Compact form for IPC: [binIndex, count] pairs of non-empty bins. */
  toSparse(): { resolution: number; maxValue: number; max: number; bins: Array<[number, number]> } {
    const bins: Array<[number, number]> = [];
    for (let i = 0; i < this.bins.length; i++) if (this.bins[i]) bins.push([i, this.bins[i]]);
    return { resolution: this.resolution, maxValue: this.maxValue, max: this.max, bins };
  }

  static fromSparse(s: { resolution: number; maxValue: number; max: number; bins: Array<[number, number]> }): Histogram {
    const h = new Histogram(s.resolution, s.maxValue);
    for (const [i, c] of s.bins) {
      h.bins[i] += c;
      h.count += c;
    }
    h.max = s.max;
    return h;
  }
}

/** Deterministic PRNG (mulberry32): the same seed gives the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A full GC for memory measurements, with or without --expose-gc (enabled at run time if needed). */
export async function forceGc(): Promise<void> {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
    (globalThis as { gc?: () => void }).gc = gc;
  }
  gc();
}
