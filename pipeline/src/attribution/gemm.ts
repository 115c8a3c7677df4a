// Row-major C = alpha·op(A)·op(B) + beta·C through CBLAS sgemm (the optional nblas binding) with a
// plain-JS fallback. Leading dimensions are row strides, so strided sub-matrices (one position of a
// [batch, pos, d] buffer, a column block of c_attn) are passed as subarray + parent stride.
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

const sgemm: Sgemm | null = (() => {
  try {
    const mod = createRequire(import.meta.url)("nblas") as { sgemm?: Sgemm };
    return typeof mod.sgemm === "function" ? mod.sgemm : null;
  } catch {
    return null;
  }
})();

export const nativeGemm = sgemm !== null;

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
  if (sgemm) {
    sgemm(transA ? 112 : 111, transB ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * lda + i]! : a[i * lda + p]!;
        const bv = transB ? b[j * ldb + p]! : b[p * ldb + j]!;
        s += av * bv;
      }
      const o = i * ldc + j;
      c[o] = alpha * s + (beta === 0 ? 0 : beta * c[o]!);
    }
  }
}
