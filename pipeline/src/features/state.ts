// Bounded per-feature streaming state for one layer: counts and moments, an adaptive linear
// histogram, the top-k context peaks and a uniform reservoir of activating tokens, each entry with
// its activation window quantized to bytes. Memory per feature is fixed by the parameters
// (`bytesPerFeature`), whatever the number of tokens.
import type { Rng } from "../data/index.ts";
import type { FeatureStatsParams } from "./formats.ts";

export const windowLength = (p: FeatureStatsParams): number => p.windowBefore + 1 + p.windowAfter;
export const reservoirSize = (p: FeatureStatsParams): number => p.nQuantiles * p.perQuantile;

/** Bytes of LayerState per feature for these parameters (the streaming memory bound). */
export function bytesPerFeature(p: FeatureStatsParams): number {
  const W = windowLength(p);
  const entry = 4 /* value */ + 4 /* context */ + 2 /* position */ + 4 /* window scale */ + W; /* window bytes */
  return (
    5 * 8 /* counts, moments */ +
    2 * 4 /* max, min */ +
    4 * p.histogramBins +
    4 +
    1 /* top count */ +
    (p.topK + reservoirSize(p)) * entry
  );
}

/** A feature's activation window around `position` of one context: positions [lo, hi] ⊂ [1, T−1]. */
export function windowRange(position: number, T: number, p: FeatureStatsParams): [number, number] {
  return [Math.max(1, position - p.windowBefore), Math.min(T - 1, position + p.windowAfter)];
}

export class LayerState {
  readonly W: number;
  readonly R: number;
  readonly k: number;
  readonly B: number;
  /** Per feature: activating tokens, contexts with an activation, Σa, Σa², reservoir draws. */
  activeTokens: Float64Array;
  activeContexts: Float64Array;
  sum: Float64Array;
  sumSq: Float64Array;
  max: Float32Array;
  min: Float32Array;
  hist: Uint32Array;
  binWidth: Float32Array;
  topN: Uint8Array;
  topVal: Float32Array;
  topCtx: Uint32Array;
  topPos: Uint16Array;
  topScale: Float32Array;
  topQ: Uint8Array;
  resVal: Float32Array;
  resCtx: Uint32Array;
  resPos: Uint16Array;
  resScale: Float32Array;
  resQ: Uint8Array;
  // Scratch for one context (not part of the saved state).
  private peak: Float32Array;
  private peakPos: Uint16Array;
  private touched: Int32Array;

  constructor(
    readonly F: number,
    readonly p: FeatureStatsParams,
  ) {
    const W = windowLength(p);
    const R = reservoirSize(p);
    const k = p.topK;
    const B = p.histogramBins;
    if (k > 255) throw new Error(`topK ${k} exceeds 255`);
    if (B < 2 || B % 2 !== 0) throw new Error(`histogramBins must be even and ≥ 2, got ${B}`);
    this.W = W;
    this.R = R;
    this.k = k;
    this.B = B;
    this.activeTokens = new Float64Array(F);
    this.activeContexts = new Float64Array(F);
    this.sum = new Float64Array(F);
    this.sumSq = new Float64Array(F);
    this.max = new Float32Array(F);
    this.min = new Float32Array(F).fill(Number.POSITIVE_INFINITY);
    this.hist = new Uint32Array(F * B);
    this.binWidth = new Float32Array(F);
    this.topN = new Uint8Array(F);
    this.topVal = new Float32Array(F * k);
    this.topCtx = new Uint32Array(F * k);
    this.topPos = new Uint16Array(F * k);
    this.topScale = new Float32Array(F * k);
    this.topQ = new Uint8Array(F * k * W);
    this.resVal = new Float32Array(F * R);
    this.resCtx = new Uint32Array(F * R);
    this.resPos = new Uint16Array(F * R);
    this.resScale = new Float32Array(F * R);
    this.resQ = new Uint8Array(F * R * W);
    this.peak = new Float32Array(F);
    this.peakPos = new Uint16Array(F);
    this.touched = new Int32Array(F);
  }

  /** The saved arrays, by name (for checkpoints). */
  arrays(): Record<string, ArrayBufferView> {
    const { activeTokens, activeContexts, sum, sumSq, max, min, hist, binWidth, topN, topVal, topCtx, topPos } = this;
    const { topScale, topQ, resVal, resCtx, resPos, resScale, resQ } = this;
    return {
      activeTokens,
      activeContexts,
      sum,
      sumSq,
      max,
      min,
      hist,
      binWidth,
      topN,
      topVal,
      topCtx,
      topPos,
      topScale,
      topQ,
      resVal,
      resCtx,
      resPos,
      resScale,
      resQ,
    };
  }

  private addHist(i: number, a: number): void {
    const B = this.B;
    const o = i * B;
    let w = this.binWidth[i]!;
    if (w === 0) {
      // First value lands in the middle bin; the range doubles (pairs of bins merge) when exceeded.
      w = (a / (B / 2)) * (1 + 1e-6);
      this.binWidth[i] = w;
    }
    while (a >= w * B) {
      for (let b = 0; b < B / 2; b++) this.hist[o + b] = this.hist[o + 2 * b]! + this.hist[o + 2 * b + 1]!;
      this.hist.fill(0, o + B / 2, o + B);
      w *= 2;
      this.binWidth[i] = w;
    }
    this.hist[o + Math.floor(a / w)]!++;
  }

  /** Quantizes the feature's activations over the window around `pos` into q[qo …] (0 = inactive, ≥ 1 active); returns the scale. */
  private captureWindow(
    acts: Float32Array,
    rowBase: number,
    T: number,
    i: number,
    pos: number,
    q: Uint8Array,
    qo: number,
  ): number {
    const F = this.F;
    const [lo, hi] = windowRange(pos, T, this.p);
    let scale = 0;
    for (let t = lo; t <= hi; t++) scale = Math.max(scale, acts[(rowBase + t - 1) * F + i]!);
    q.fill(0, qo, qo + this.W);
    for (let t = lo; t <= hi; t++) {
      const a = acts[(rowBase + t - 1) * F + i]!;
      if (a > 0) q[qo + t - lo] = Math.max(1, Math.round((255 * a) / scale));
    }
    return scale;
  }

  /**
   * One context: `acts` holds rows [rowBase, rowBase + T − 1) = positions 1 … T−1 of the context,
   * F activations each. `ctx` is the context's index in the pass. Updates every feature.
   */
  addContext(acts: Float32Array, rowBase: number, T: number, ctx: number, rng: Rng): void {
    const F = this.F;
    const R = this.R;
    const W = this.W;
    let nTouched = 0;
    for (let t = 1; t < T; t++) {
      const o = (rowBase + t - 1) * F;
      for (let i = 0; i < F; i++) {
        const a = acts[o + i]!;
        if (!(a > 0)) continue;
        if (this.peak[i] === 0) this.touched[nTouched++] = i;
        if (a > this.peak[i]!) {
          this.peak[i] = a;
          this.peakPos[i] = t;
        }
        const n = ++this.activeTokens[i]!;
        this.sum[i]! += a;
        this.sumSq[i]! += a * a;
        if (a > this.max[i]!) this.max[i] = a;
        if (a < this.min[i]!) this.min[i] = a;
        this.addHist(i, a);
        // Uniform reservoir over activating tokens (Algorithm R).
        let slot = -1;
        if (n <= R) slot = n - 1;
        else {
          const j = Math.floor(rng.next() * n);
          if (j < R) slot = j;
        }
        if (slot >= 0) {
          const e = i * R + slot;
          this.resVal[e] = a;
          this.resCtx[e] = ctx;
          this.resPos[e] = t;
          this.resScale[e] = this.captureWindow(acts, rowBase, T, i, t, this.resQ, e * W);
        }
      }
    }
    // Per context: the peak is a top-k candidate (one example per context).
    const k = this.k;
    for (let n = 0; n < nTouched; n++) {
      const i = this.touched[n]!;
      const a = this.peak[i]!;
      this.activeContexts[i]!++;
      let slot = -1;
      const c = this.topN[i]!;
      if (c < k) {
        slot = c;
        this.topN[i] = c + 1;
      } else {
        let m = 0;
        for (let s = 1; s < k; s++) if (this.topVal[i * k + s]! < this.topVal[i * k + m]!) m = s;
        if (a > this.topVal[i * k + m]!) slot = m;
      }
      if (slot >= 0) {
        const e = i * k + slot;
        this.topVal[e] = a;
        this.topCtx[e] = ctx;
        this.topPos[e] = this.peakPos[i]!;
        this.topScale[e] = this.captureWindow(acts, rowBase, T, i, this.peakPos[i]!, this.topQ, e * W);
      }
      this.peak[i] = 0;
    }
  }
}
