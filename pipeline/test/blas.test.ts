// The shared row-major GEMM (src/backend/blas.ts): native sgemm and the JS fallback against a float64
// re-computation, with transposes, strided sub-matrices (subarray + parent stride) and β accumulation.
import assert from "node:assert/strict";
import { test } from "node:test";
import { gemm, hasNativeGemm, jsGemm } from "../src/backend/index.ts";
import { rng } from "./helpers/random-gpt2.ts";

type Gemm = typeof gemm;

function check(impl: Gemm, transA: boolean, transB: boolean, seed: number): void {
  const r = rng(seed);
  const [m, n, k] = [5, 7, 6];
  // A, B and C live inside wider parents (extra columns, an offset) to exercise lda/ldb/ldc.
  const lda = (transA ? m : k) + 3;
  const ldb = (transB ? k : n) + 2;
  const ldc = n + 4;
  const off = 2;
  const a = Float32Array.from({ length: off + (transA ? k : m) * lda }, () => r.normal());
  const b = Float32Array.from({ length: off + (transB ? n : k) * ldb }, () => r.normal());
  const c = Float32Array.from({ length: off + m * ldc }, () => r.normal());
  for (let i = 0; i < m; i++) a[off + (transA ? 0 : i * lda)] = 0; // zeros in A (the JS loop skips them)
  const c0 = Float32Array.from(c);
  const alpha = 0.5;
  const beta = 1;
  impl(transA, transB, m, n, k, alpha, a.subarray(off), lda, b.subarray(off), ldb, beta, c.subarray(off), ldc);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < ldc; j++) {
      const o = off + i * ldc + j;
      if (j >= n) {
        assert.equal(c[o], c0[o], "elements outside the n columns of C are untouched");
        continue;
      }
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[off + p * lda + i]! : a[off + i * lda + p]!;
        const bv = transB ? b[off + j * ldb + p]! : b[off + p * ldb + j]!;
        s += av * bv;
      }
      const want = alpha * s + beta * c0[o]!;
      assert.ok(Math.abs(c[o]! - want) < 1e-5 * (1 + Math.abs(want)), `C[${i},${j}] = ${c[o]} vs ${want}`);
    }
  }
  assert.deepEqual(c.subarray(0, off), c0.subarray(0, off), "elements before the offset are untouched");
}

for (const [name, impl, skip] of [
  ["gemm (nblas)", gemm, hasNativeGemm ? false : "nblas is not installed"],
  ["jsGemm", jsGemm, false],
] as const) {
  test(`${name}: C = α·op(A)·op(B) + β·C with strides, all transposes`, { skip }, () => {
    let seed = 1;
    for (const ta of [false, true]) for (const tb of [false, true]) check(impl, ta, tb, seed++);
  });
}

test("gemm: β = 0 overwrites C (NaN/garbage in C does not leak), empty m or n is a no-op", () => {
  for (const impl of [gemm, jsGemm]) {
    const a = Float32Array.of(1, 2, 3, 4); // 2×2
    const b = Float32Array.of(5, 6, 7, 8);
    const c = Float32Array.of(Number.NaN, Number.NaN, Number.NaN, Number.NaN);
    impl(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2);
    assert.deepEqual([...c], [19, 22, 43, 50]);
    const d = Float32Array.of(9);
    impl(false, false, 0, 1, 1, 1, a, 1, b, 1, 0, d, 1);
    assert.deepEqual([...d], [9]);
  }
});
