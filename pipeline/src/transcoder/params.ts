// CLT parameters in two forms:
//  * CltParams — the trainable values in *normalized* units (inputs scaled by sIn[ℓ], targets by
//    sOut[j] so that E‖x‖ = E‖y‖ = √d), log-parameterized thresholds, W_enc stored [d, F] so the
//    encoder is one row-major GEMM x·W per layer.
//  * CltWeights — folded, normalization-free inference weights in circuit-tracer's layout:
//    W_enc [F, d], b_enc [F], threshold [F], W_dec[ℓ] [F, L−ℓ, d], b_dec [L, d].
// Decoders are stored per source layer with only the L−ℓ output layers it may write to, so no
// feature can write to an earlier layer by construction.

import { Rng } from "@circuit-atlas/util";
import { dot, gemm } from "../backend/index.ts";
import { allocTensorGroups, companion, sharedFloat32 } from "./kernel-memory.ts";

export interface CltShape {
  nLayers: number;
  dModel: number;
  nFeatures: number;
}

export function checkShape(s: CltShape): void {
  for (const k of ["nLayers", "dModel", "nFeatures"] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) throw new Error(`CLT ${k} must be a positive integer, got ${s[k]}`);
  }
}

/** Trainable tensors in a fixed order; gradients and Adam moments use the same structure. */
export interface CltParams {
  shape: CltShape;
  wEnc: Float32Array[]; // [ℓ] d×F
  bEnc: Float32Array[]; // [ℓ] F
  logTheta: Float32Array[]; // [ℓ] F
  wDec: Float32Array[]; // [ℓ] F×(L−ℓ)×d
  bDec: Float32Array; // L×d
}

export { sharedFloat32 };

/**
 * Zeroed tensors of `shape` in shared memory, each with room beside it for its gradient (allocGrads)
 * and Adam moments, so Adam's SIMD kernel updates them in place (kernel-memory.ts).
 */
export function allocParams(shape: CltShape): CltParams {
  checkShape(shape);
  const sizes = [...paramShapes(shape).values()].map((dims) => dims.reduce((a, b) => a * b, 1));
  return fromList(shape, allocTensorGroups(sizes));
}

/** Zeroed gradient tensors for `p`, each beside its parameter (see allocParams). */
export function allocGrads(p: CltParams): CltParams {
  return fromList(
    p.shape,
    paramList(p).map(([, a]) => companion(a, 1)),
  );
}

/** CltParams from tensors in paramList (= paramShapes) order, placed by name. */
function fromList(shape: CltShape, t: Float32Array[]): CltParams {
  const names = [...paramShapes(shape).keys()];
  const at = (name: string) => t[names.indexOf(name)]!;
  const perLayer = (prefix: string) => Array.from({ length: shape.nLayers }, (_, l) => at(`${prefix}_${l}`));
  return {
    shape: { ...shape },
    wEnc: perLayer("W_enc"),
    bEnc: perLayer("b_enc"),
    logTheta: perLayer("log_threshold"),
    wDec: perLayer("W_dec"),
    bDec: at("b_dec"),
  };
}

/**
 * Bytes training needs for `shape` (parameters, gradients, Adam m and v; the activation buffer of
 * `bufferTokens`; the step's per-token feature buffers for `batchTokens`), and the longest single
 * array, so an impossible size is refused before anything is allocated.
 */
export function trainingMemory(
  shape: CltShape,
  o: { bufferTokens: number; batchTokens: number },
): { bytes: number; largestArray: number } {
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const params = L * (d * F + 2 * F) + F * d * ((L * (L + 1)) / 2) + L * d;
  const buffer = 2 * o.bufferTokens * L * d + o.bufferTokens;
  const step = 3 * o.batchTokens * L * F + 2 * o.batchTokens * L * d;
  return { bytes: 4 * (4 * params + buffer + step), largestArray: Math.max(F * L * d, o.batchTokens * L * F) };
}

/** Flat list of the tensors (in checkpoint / optimizer order) with their names. */
export function paramList(p: CltParams): Array<[string, Float32Array]> {
  const out: Array<[string, Float32Array]> = [];
  for (let l = 0; l < p.shape.nLayers; l++) {
    out.push([`W_enc_${l}`, p.wEnc[l]!], [`b_enc_${l}`, p.bEnc[l]!], [`log_threshold_${l}`, p.logTheta[l]!]);
    out.push([`W_dec_${l}`, p.wDec[l]!]);
  }
  out.push(["b_dec", p.bDec]);
  return out;
}

export function paramShapes(shape: CltShape): Map<string, number[]> {
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const m = new Map<string, number[]>();
  for (let l = 0; l < L; l++) {
    m.set(`W_enc_${l}`, [d, F]);
    m.set(`b_enc_${l}`, [F]);
    m.set(`log_threshold_${l}`, [F]);
    m.set(`W_dec_${l}`, [F, L - l, d]);
  }
  m.set("b_dec", [L, d]);
  return m;
}

export function cloneParams(p: CltParams): CltParams {
  return {
    shape: { ...p.shape },
    wEnc: p.wEnc.map((a) => a.slice()),
    bEnc: p.bEnc.map((a) => a.slice()),
    logTheta: p.logTheta.map((a) => a.slice()),
    wDec: p.wDec.map((a) => a.slice()),
    bDec: p.bDec.slice(),
  };
}

/**
 * Per-feature norm of the concatenation of all of the feature's decoders: out[i] = ‖W_dec[ℓ][i,:,:]‖.
 * One BLAS dot per row (SIMD; the training step runs this over every decoder row each step).
 */
export function decoderNorms(
  wDec: Float32Array,
  nFeatures: number,
  out: Float32Array = new Float32Array(nFeatures),
): Float32Array {
  const row = wDec.length / nFeatures;
  for (let i = 0; i < nFeatures; i++) {
    const r = wDec.subarray(i * row, (i + 1) * row);
    out[i] = Math.sqrt(dot(row, r, r));
  }
  return out;
}

/** Folded inference weights (circuit-tracer layout, raw model units). */
export interface CltWeights {
  shape: CltShape;
  wEnc: Float32Array[]; // [ℓ] F×d
  bEnc: Float32Array[]; // [ℓ] F
  threshold: Float32Array[]; // [ℓ] F
  wDec: Float32Array[]; // [ℓ] F×(L−ℓ)×d
  bDec: Float32Array[]; // [j] d
}

/** Per-layer normalization scalars: x_norm = sIn[ℓ]·x, y_norm = sOut[j]·y. */
export interface Normalization {
  sIn: Float64Array;
  sOut: Float64Array;
}

export function identityNormalization(L: number): Normalization {
  return { sIn: new Float64Array(L).fill(1), sOut: new Float64Array(L).fill(1) };
}

/**
 * Folds the normalization into the weights. Input side: z = (sIn·x)·W + b = x·(sIn·W) + b, so
 * pre-activations — and hence thresholds and activations — are unchanged. Output side:
 * y = ŷ_norm / sOut[j], so every decoder block writing to layer j and b_dec[j] are divided by sOut[j].
 */
export function foldParams(p: CltParams, norm: Normalization): CltWeights {
  const { nLayers: L, dModel: d, nFeatures: F } = p.shape;
  const wEnc: Float32Array[] = [];
  const wDec: Float32Array[] = [];
  const bDec: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    const src = p.wEnc[l]!;
    const dst = new Float32Array(F * d);
    const s = norm.sIn[l]!;
    for (let r = 0; r < d; r++) for (let i = 0; i < F; i++) dst[i * d + r] = src[r * F + i]! * s;
    wEnc.push(dst);
    const n = L - l;
    const dec = p.wDec[l]!.slice();
    for (let i = 0; i < F; i++) {
      for (let k = 0; k < n; k++) {
        const inv = 1 / norm.sOut[l + k]!;
        const off = (i * n + k) * d;
        for (let r = 0; r < d; r++) dec[off + r] = dec[off + r]! * inv;
      }
    }
    wDec.push(dec);
    const bd = new Float32Array(d);
    const inv = 1 / norm.sOut[l]!;
    for (let r = 0; r < d; r++) bd[r] = p.bDec[l * d + r]! * inv;
    bDec.push(bd);
  }
  return {
    shape: { ...p.shape },
    wEnc,
    bEnc: p.bEnc.map((a) => a.slice()),
    threshold: p.logTheta.map((a) => Float32Array.from(a, Math.exp)),
    wDec,
    bDec,
  };
}

export interface InitOptions {
  seed: number;
  thresholdInit: number;
  initFiringRate: number;
  decoderInitNorm: number;
}

/**
 * Normalization scalars from a sample of raw activations (x, y: [n, L·d]): one scalar per layer
 * and side so that the mean ‖·‖ is √d.
 */
export function estimateNormalization(shape: CltShape, x: Float32Array, y: Float32Array, n: number): Normalization {
  const { nLayers: L, dModel: d } = shape;
  const sIn = new Float64Array(L);
  const sOut = new Float64Array(L);
  for (const [src, dst] of [
    [x, sIn],
    [y, sOut],
  ] as const) {
    for (let l = 0; l < L; l++) {
      let tot = 0;
      for (let t = 0; t < n; t++) {
        let s = 0;
        const off = t * L * d + l * d;
        for (let r = 0; r < d; r++) s += src[off + r]! * src[off + r]!;
        tot += Math.sqrt(s);
      }
      const mean = tot / n;
      if (!(mean > 0) || !Number.isFinite(mean)) {
        throw new Error(`cannot normalize layer ${l}: activations have mean norm ${mean} on the first tokens`);
      }
      dst[l] = Math.sqrt(d) / mean;
    }
  }
  return { sIn, sOut };
}

/**
 * Data-dependent initialization in normalized units, from a sample (xn, yn: [n, L·d], already
 * normalized):
 *  * W_enc columns: random Gaussian directions rescaled so each feature's pre-activation (without
 *    bias) has unit standard deviation on the sample;
 *  * b_enc: so that each feature fires (z > θ_init) on a fraction `initFiringRate` of the sample;
 *  * θ = θ_init; W_dec: random directions with concatenated norm `decoderInitNorm`;
 *  * b_dec: the mean target.
 */
export function initParams(shape: CltShape, xn: Float32Array, yn: Float32Array, n: number, o: InitOptions): CltParams {
  const p = allocParams(shape);
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const rng = new Rng(o.seed ^ 0x5eed);
  const z = new Float32Array(n * F);
  const col = new Float32Array(n);
  const k = Math.min(n - 1, Math.max(0, Math.floor(n * (1 - o.initFiringRate))));
  for (let l = 0; l < L; l++) {
    const w = p.wEnc[l]!;
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() / Math.sqrt(d);
    gemm(false, false, n, F, d, 1, xn.subarray(l * d), L * d, w, F, 0, z, F);
    const b = p.bEnc[l]!;
    for (let i = 0; i < F; i++) {
      let s = 0;
      let s2 = 0;
      for (let t = 0; t < n; t++) {
        const v = z[t * F + i]!;
        col[t] = v;
        s += v;
        s2 += v * v;
      }
      const mean = s / n;
      const std = Math.sqrt(Math.max(s2 / n - mean * mean, 1e-12));
      for (let r = 0; r < d; r++) w[r * F + i] = w[r * F + i]! / std;
      const q = quickselect(col, k) / std;
      b[i] = o.thresholdInit - q;
    }
    p.logTheta[l]!.fill(Math.log(o.thresholdInit));
    const dec = p.wDec[l]!;
    const row = (L - l) * d;
    for (let i = 0; i < F; i++) {
      let s = 0;
      for (let r = 0; r < row; r++) {
        const v = rng.normal();
        dec[i * row + r] = v;
        s += v * v;
      }
      const scale = o.decoderInitNorm / Math.sqrt(s);
      for (let r = 0; r < row; r++) dec[i * row + r] = dec[i * row + r]! * scale;
    }
  }
  for (let j = 0; j < L; j++) {
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += yn[t * L * d + j * d + r]!;
      p.bDec[j * d + r] = s / n;
    }
  }
  return p;
}

/** k-th smallest value (0-based) of `a` (reorders `a`). */
function quickselect(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}
