// The sparse half of the fused CLT step: the products whose cost follows the active set rather than
// the feature count, over the candidate lists the fused step's scan builds (row t's candidates are
// cand[rowStart[t] .. rowStart[t+1]), z at each in zc; a candidate is active when zc > θ).
//
// A trained CLT fires ~30 of thousands of features per token, and nearly every active feature is
// unique to its token within a block of tokens, so compacting a block of tokens to the union of its
// active features buys almost nothing: the work is a sum of per-(token, feature) row operations. Each
// is one BLAS level-1 call (saxpy / sdot) on a row view; that runs ~5× faster than the same loop in
// JS and its call overhead is small against rows of (L−ℓ)·d floats.
//
// Per layer ℓ (n = (L−ℓ)·d floats per decoder row, G = dMSE/dŷ):
//   decoder forward     ŷ_t[ℓ·d ..]  += a_ti · W_dec[ℓ][i]            active (t, i)
//   dL/da               g_ti          = G_t[ℓ·d ..] · W_dec[ℓ][i]       candidates that need it
//   ∂W_dec[ℓ][i]        (norm part)   + Σ_t a_ti · G_t[ℓ·d ..]         active (t, i)
//   ∂W_enc[ℓ]           x̄ ⊗ (−λ_P/B·n) + Σ_t x_t ⊗ (dL/dz_ti + λ_P/B·n_i)   candidates
// The last line is exact because every element below the ε-window has dL/dz = −λ_P/B·n_i: the
// dense part of dL/dz is one row repeated B times, so its product with x is an outer product with
// the column sums of x (O(d·F)), and only the candidates add corrections.
import { axpy, dot } from "../backend/index.ts";
import { jumpReluActive } from "./jumprelu.ts";

const viewCache = new WeakMap<Float32Array, Map<string, Float32Array[]>>();

/**
 * `count` views of length `len` into `arr`, the k-th starting at offset + k·stride (rows of a
 * row-major matrix, or one layer's block of each row). Cached per array: the step makes one BLAS call
 * per nonzero, so it must not allocate a view per call.
 */
export function rowViews(
  arr: Float32Array,
  offset: number,
  stride: number,
  len: number,
  count: number,
): Float32Array[] {
  let m = viewCache.get(arr);
  if (!m) {
    m = new Map();
    viewCache.set(arr, m);
  }
  const key = `${offset}:${stride}:${len}:${count}`;
  let v = m.get(key);
  if (!v) {
    v = Array.from({ length: count }, (_, k) => arr.subarray(offset + k * stride, offset + k * stride + len));
    m.set(key, v);
  }
  return v;
}

/** The decoder forward: tokenRows[t] += z_ti·featureRows[i] for every active (t, i) (z_ti > θ_i), rows of length n. */
export function activeAxpy(
  tokenRows: Float32Array[],
  featureRows: Float32Array[],
  zc: Float32Array,
  th: Float32Array,
  cand: Int32Array,
  rowStart: Int32Array,
  B: number,
  n: number,
): void {
  for (let t = 0; t < B; t++) {
    const rt = tokenRows[t]!;
    const e = rowStart[t + 1]!;
    for (let q = rowStart[t]!; q < e; q++) {
      const zi = zc[q]!;
      if (jumpReluActive(zi, th[cand[q]!]!)) axpy(n, zi, featureRows[cand[q]!]!, rt);
    }
  }
}

/**
 * ∂W_enc [d, F] = x̄ ⊗ base + Σ_q x_t ⊗ corr_q e_i, with x̄ = Σ_t x_t (float64, offset xo) and corr_q
 * the candidates' dL/dz minus base. The sparse sum goes into `tr` [F, d] (feature-major, so each
 * update is one contiguous saxpy) and is transposed into gw in blocks. Returns Σ gw² (float64).
 */
export function encoderGradSparse(
  xRows: Float32Array[],
  xSum: Float64Array,
  xo: number,
  base: Float64Array,
  corr: Float32Array,
  cand: Int32Array,
  rowStart: Int32Array,
  tr: Float32Array,
  trRows: Float32Array[],
  gw: Float32Array,
  B: number,
  d: number,
  F: number,
): number {
  tr.fill(0);
  for (let t = 0; t < B; t++) {
    const xt = xRows[t]!;
    const e = rowStart[t + 1]!;
    for (let q = rowStart[t]!; q < e; q++) {
      const cq = corr[q]!;
      if (cq !== 0) axpy(d, cq, xt, trRows[cand[q]!]!);
    }
  }
  const BS = 32;
  let sq = 0;
  for (let r0 = 0; r0 < d; r0 += BS) {
    const r1 = Math.min(d, r0 + BS);
    for (let i0 = 0; i0 < F; i0 += BS) {
      const i1 = Math.min(F, i0 + BS);
      for (let r = r0; r < r1; r++) {
        const xr = xSum[xo + r]!;
        const o = r * F;
        for (let i = i0; i < i1; i++) {
          gw[o + i] = xr * base[i]! + tr[i * d + r]!;
          sq += gw[o + i]! ** 2;
        }
      }
    }
  }
  return sq;
}

/**
 * The candidate lists regrouped by feature (a counting sort, stable, so each feature's entries stay
 * in token order): featQ[featStart[i] .. featStart[i+1]) are the candidate indices q of feature i,
 * qTok[q] the token (row) of candidate q.
 */
export function featureIndex(
  cand: Int32Array,
  rowStart: Int32Array,
  B: number,
  F: number,
  featStart: Int32Array,
  featQ: Int32Array,
  qTok: Int32Array,
): void {
  const nc = rowStart[B]!;
  featStart.fill(0);
  for (let q = 0; q < nc; q++) featStart[cand[q]! + 1]!++;
  for (let i = 0; i < F; i++) featStart[i + 1]! += featStart[i]!;
  for (let t = 0; t < B; t++) {
    const e = rowStart[t + 1]!;
    for (let q = rowStart[t]!; q < e; q++) qTok[q] = t;
  }
  // featStart[i] is used as the fill cursor of feature i, then restored from its neighbour
  for (let q = 0; q < nc; q++) featQ[featStart[cand[q]!]!++] = q;
  for (let i = F; i > 0; i--) featStart[i] = featStart[i - 1]!;
  featStart[0] = 0;
}

/**
 * The decoder's backward over one layer, feature by feature, so each decoder row and its gradient
 * row are read and written once while the few token rows G_t that touch them stay in cache:
 *   gaC[q] = G_t · W[i] for the candidates whose dL/da is used (active, or within ε/2 below θ), 0
 *            for the rest;
 *   ∂W[i]  = coef_i·W[i] (the decoder-norm term, coef = dL/d‖w_i‖ / ‖w_i‖) + Σ_t a_ti·G_t over the
 *            active (t, i), in token order (the same sums as the token-major loop).
 * Returns Σ ‖∂W[i]‖² (float32 dots per row, summed in float64) for the clipping norm, so the gradient
 * needs no separate pass.
 */
export function decoderBackwardByFeature(
  gRows: Float32Array[],
  wRows: Float32Array[],
  gwRows: Float32Array[],
  coef: Float64Array,
  zc: Float32Array,
  th: Float32Array,
  featStart: Int32Array,
  featQ: Int32Array,
  qTok: Int32Array,
  gaC: Float32Array,
  F: number,
  n: number,
  half: number,
): number {
  let sq = 0;
  for (let i = 0; i < F; i++) {
    const w = wRows[i]!;
    const gw = gwRows[i]!;
    const ti = th[i]!;
    const s = featStart[i]!;
    const e = featStart[i + 1]!;
    for (let k = s; k < e; k++) {
      const q = featQ[k]!;
      const zi = zc[q]!;
      gaC[q] = jumpReluActive(zi, ti) || ti - zi < half ? dot(n, gRows[qTok[q]!]!, w) : 0;
    }
    scaledCopy(w, coef[i]!, gw, n);
    for (let k = s; k < e; k++) {
      const q = featQ[k]!;
      const zi = zc[q]!;
      if (jumpReluActive(zi, ti)) axpy(n, zi, gRows[qTok[q]!]!, gw);
    }
    sq += dot(n, gw, gw);
  }
  return sq;
}

/** out[0..n) = c·w[0..n) (zeros when c is 0, whatever w holds): a memset and one BLAS axpy. */
function scaledCopy(w: Float32Array, c: number, out: Float32Array, n: number): void {
  out.fill(0);
  if (c !== 0) axpy(n, c, w, out);
}
