// Row-major single-precision GEMM for the fused CLT training step: C = alpha·op(A)·op(B) + beta·C.
// Uses nblas (CBLAS sgemm, OpenBLAS) when it is installed and a plain-JS loop otherwise, so the
// code still runs (slowly) on machines without the optional native dependency.
import { createRequire } from "node:module";

type Sgemm = (
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

const NO_TRANS = 111;
const TRANS = 112;

function loadNblas(): Sgemm | null {
  try {
    const req = createRequire(import.meta.url);
    const mod = req("nblas") as { sgemm?: Sgemm };
    return typeof mod.sgemm === "function" ? mod.sgemm : null;
  } catch {
    return null;
  }
}

const native = loadNblas();

/** True when the BLAS binding is available (the bench reports it). */
export const hasNativeGemm = native !== null;

/**
 * C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C. Leading dimensions are row strides, so
 * sub-matrices (a block of columns) are passed as `arr.subarray(offset)` with the parent's stride.
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
  if (native) {
    native(transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  jsGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

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
