// Row-major float32 matrix products through CBLAS sgemm (the optional nblas binding), shared by the
// "blas" tfjs backend, the fused CLT training step, the attribution engine and the benches.
import { createRequire } from "node:module";
import { alignedStrides, broadcastShapes, type Shape, sizeOf } from "./nd.ts";

/** nblas.sgemm: cblas_sgemm(CblasRowMajor, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc). */
export type Sgemm = (
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** CBLAS transpose flags (CblasNoTrans, CblasTrans). */
export const NO_TRANS = 111;
export const TRANS = 112;

/** cblas_saxpy(n, alpha, x, incx, y, incy) and cblas_sdot(n, x, incx, y, incy) as nblas binds them. */
type Saxpy = (n: number, alpha: number, x: Float32Array, incx: number, y: Float32Array, incy: number) => void;
type Sdot = (n: number, x: Float32Array, incx: number, y: Float32Array, incy: number) => number;

/** Why nblas did not load (first line of the error), or null when it did. */
export let nblasLoadError: string | null = null;

const nblas = (() => {
  try {
    const mod = createRequire(import.meta.url)("nblas") as { sgemm?: Sgemm; saxpy?: Saxpy; sdot?: Sdot };
    if (typeof mod.sgemm !== "function") nblasLoadError = "nblas has no sgemm";
    return mod;
  } catch (err) {
    nblasLoadError = String((err as Error).message ?? err).split("\n")[0] ?? "nblas did not load";
  }
  return null;
})();

/** nblas.sgemm, or null when the optional native dependency is not installed. */
export const nativeSgemm: Sgemm | null = typeof nblas?.sgemm === "function" ? nblas.sgemm : null;
const nativeSaxpy: Saxpy | null = typeof nblas?.saxpy === "function" ? nblas.saxpy : null;
const nativeSdot: Sdot | null = typeof nblas?.sdot === "function" ? nblas.sdot : null;

/**
 * y[0..n) += alpha·x[0..n) (BLAS saxpy; rows are passed as subarray views). The sparse CLT step calls
 * it once per active (token, feature) pair: the SIMD loop runs ~5× faster than the same loop in JS.
 */
export function axpy(n: number, alpha: number, x: Float32Array, y: Float32Array): void {
  if (nativeSaxpy) {
    nativeSaxpy(n, alpha, x, 1, y, 1);
    return;
  }
  for (let r = 0; r < n; r++) y[r] = y[r]! + alpha * x[r]!;
}

/** Σ_r x[r]·y[r] over [0, n) (BLAS sdot, float32 accumulation; the JS fallback accumulates in float64). */
export function dot(n: number, x: Float32Array, y: Float32Array): number {
  if (nativeSdot) return nativeSdot(n, x, 1, y, 1);
  let s = 0;
  for (let r = 0; r < n; r++) s += x[r]! * y[r]!;
  return s;
}

/** True when the BLAS binding is available (benches and the backend choice report it). */
export const hasNativeGemm = nativeSgemm !== null;

/** nblas.sgemm, or an error naming the missing dependency (GEMM-floor benches need the real thing). */
export function requireNativeSgemm(what: string): Sgemm {
  if (!nativeSgemm) throw new Error(`${what} needs nblas (BLAS sgemm), which is not installed`);
  return nativeSgemm;
}

/**
 * C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major. Leading dimensions are row
 * strides, so sub-matrices (one position of a [batch, pos, d] buffer, a block of columns) are passed
 * as `arr.subarray(offset)` with the parent's stride. nblas when installed, else `jsGemm`.
 */
export function gemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
): void {
  if (m === 0 || n === 0) return;
  if (nativeSgemm) {
    nativeSgemm(transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  jsGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/** Plain-JS `gemm` (float64 accumulation; zero entries of A are skipped as in reference BLAS). */
export function jsGemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
): void {
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const av = transA ? a[p * lda + i]! : a[i * lda + p]!;
      if (av === 0) continue;
      if (transB) for (let j = 0; j < n; j++) row[j]! += av * b[j * ldb + p]!;
      else {
        const off = p * ldb;
        for (let j = 0; j < n; j++) row[j]! += av * b[off + j]!;
      }
    }
    const off = i * ldc;
    for (let j = 0; j < n; j++) c[off + j] = (beta === 0 ? 0 : beta * c[off + j]!) + alpha * row[j]!;
  }
}

/**
 * C[..., M, N] = op(A)[..., M, K] · op(B)[..., K, N] with NumPy broadcasting of the batch dims
 * (as tf.matMul). A is stored [..., K, M] when transA, B is stored [..., N, K] when transB.
 */
export function batchMatMul(
  sgemm: Sgemm,
  a: Float32Array,
  aShape: Shape,
  b: Float32Array,
  bShape: Shape,
  transA: boolean,
  transB: boolean,
  rowBias?: Float32Array,
): { values: Float32Array; shape: number[] } {
  const ar = aShape.length;
  const br = bShape.length;
  if (ar < 2 || br < 2) throw new Error(`matMul: operands must have rank >= 2, got ${ar} and ${br}`);
  const m = transA ? aShape[ar - 1]! : aShape[ar - 2]!;
  const k = transA ? aShape[ar - 2]! : aShape[ar - 1]!;
  const kb = transB ? bShape[br - 1]! : bShape[br - 2]!;
  const n = transB ? bShape[br - 2]! : bShape[br - 1]!;
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${aShape} and ${bShape} and transposeA=${transA} and transposeB=${transB} must match.`,
    );
  }
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const outBatch = broadcastShapes(aBatch, bBatch);
  const batch = sizeOf(outBatch);
  const shape = [...outBatch, m, n];
  const out = new Float32Array(batch * m * n);
  // A bias row (length n) is written first and accumulated onto by sgemm (beta = 1): no extra pass.
  let beta = 0;
  if (rowBias && n > 0) {
    for (let o = 0; o < out.length; o += n) out.set(rowBias, o);
    beta = 1;
  }
  if (out.length === 0 || k === 0) return { values: out, shape };
  const ta = transA ? TRANS : NO_TRANS;
  const tb = transB ? TRANS : NO_TRANS;
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  const nA = sizeOf(aBatch);
  const nB = sizeOf(bBatch);
  if (batch === 1) {
    sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, out, n);
    return { values: out, shape };
  }
  // A stack of row-major matrices times one shared B: a single tall product.
  if (nB === 1 && !transA && nA === batch) {
    sgemm(ta, tb, batch * m, n, k, 1, a, lda, b, ldb, beta, out, n);
    return { values: out, shape };
  }
  const aStep = m * k;
  const bStep = k * n;
  const cStep = m * n;
  // Output matrix i from A's matrix ia and B's matrix ib.
  const one = (i: number, ia: number, ib: number) =>
    sgemm(
      ta,
      tb,
      m,
      n,
      k,
      1,
      a.subarray(ia * aStep, (ia + 1) * aStep),
      lda,
      b.subarray(ib * bStep, (ib + 1) * bStep),
      ldb,
      beta,
      out.subarray(i * cStep, (i + 1) * cStep),
      n,
    );
  if (nA === batch && nB === batch) {
    for (let i = 0; i < batch; i++) one(i, i, i);
    return { values: out, shape };
  }
  // General broadcasting: map each output batch index to the operands' batch indices.
  const sa = alignedStrides(aBatch, outBatch);
  const sb = alignedStrides(bBatch, outBatch);
  const r = outBatch.length;
  const idx = new Array<number>(r).fill(0);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < batch; i++) {
    one(i, ia, ib);
    for (let d = r - 1; d >= 0; d--) {
      idx[d]!++;
      ia += sa[d]!;
      ib += sb[d]!;
      if (idx[d]! < outBatch[d]!) break;
      ia -= sa[d]! * outBatch[d]!;
      ib -= sb[d]! * outBatch[d]!;
      idx[d] = 0;
    }
  }
  return { values: out, shape };
}
