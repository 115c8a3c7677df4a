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

/**
 * For every active (t, i) (z_ti > θ_i): tokenRows[t] += z_ti·featureRows[i] when `intoTokens` (the
 * decoder forward, ŷ_t += a_ti·W_dec[i]), else featureRows[i] += z_ti·tokenRows[t] (∂W_dec[i] +=
 * a_ti·G_t, on top of the decoder-norm part already there). Rows of length n.
 */
export function activeAxpy(
  tokenRows: Float32Array[],
  featureRows: Float32Array[],
  intoTokens: boolean,
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
      const i = cand[q]!;
      const zi = zc[q]!;
      if (!jumpReluActive(zi, th[i]!)) continue;
      if (intoTokens) axpy(n, zi, featureRows[i]!, rt);
      else axpy(n, zi, rt, featureRows[i]!);
    }
  }
}

/**
 * gaC[q] = G_t · W[i] for the candidates whose dL/da is used: active ones (z > θ) and those within
 * ε/2 below θ (θ-gradient); 0 for the rest (listed by the scan's conservative bound only).
 */
export function candidateDots(
  gRows: Float32Array[],
  wRows: Float32Array[],
  zc: Float32Array,
  th: Float32Array,
  cand: Int32Array,
  rowStart: Int32Array,
  gaC: Float32Array,
  B: number,
  n: number,
  half: number,
): void {
  for (let t = 0; t < B; t++) {
    const gt = gRows[t]!;
    const e = rowStart[t + 1]!;
    for (let q = rowStart[t]!; q < e; q++) {
      const i = cand[q]!;
      const zi = zc[q]!;
      const ti = th[i]!;
      gaC[q] = jumpReluActive(zi, ti) || ti - zi < half ? dot(n, gt, wRows[i]!) : 0;
    }
  }
}

/**
 * ∂W_enc [d, F] = x̄ ⊗ base + Σ_q x_t ⊗ corr_q e_i, with x̄ = Σ_t x_t (float64, offset xo) and corr_q
 * the candidates' dL/dz minus base. The sparse sum goes into `tr` [F, d] (feature-major, so each
 * update is one contiguous saxpy) and is transposed into gw in blocks.
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
): void {
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
  for (let r0 = 0; r0 < d; r0 += BS) {
    const r1 = Math.min(d, r0 + BS);
    for (let i0 = 0; i0 < F; i0 += BS) {
      const i1 = Math.min(F, i0 + BS);
      for (let r = r0; r < r1; r++) {
        const xr = xSum[xo + r]!;
        const o = r * F;
        for (let i = i0; i < i1; i++) gw[o + i] = xr * base[i]! + tr[i * d + r]!;
      }
    }
  }
}
