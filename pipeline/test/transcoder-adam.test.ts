// Adam: the WebAssembly SIMD kernel (adam.wat, built into src/generated/adam-wasm.ts) against its
// source, against the JS loop (bit for bit) and against an independent float64 Adam (float32
// tolerance); the worker-thread split against one thread; where allocParams / allocGrads / Adam put
// the tensors.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Rng } from "@circuit-atlas/util";
import { compileWat, generatedSource, KERNELS } from "../scripts/build-wasm.ts";
import {
  adamModule,
  allocTensorGroups,
  companion,
  kernelMemory,
  reserveBytes,
} from "../src/transcoder/kernel-memory.ts";
import { Adam } from "../src/transcoder/optim.ts";
import { allocGrads, allocParams, paramList, sharedFloat32 } from "../src/transcoder/params.ts";

test("the checked-in kernel bytes are adam.wat compiled (npm run build:wasm -w @circuit-atlas/pipeline)", async () => {
  const bytes = await compileWat("adam");
  assert.equal(readFileSync(KERNELS.adam.generated, "utf8"), generatedSource("adam", bytes));
  assert.ok(adamModule, "Node 20 runs WebAssembly SIMD: the kernel must load");
});

function randn(rng: Rng, n: number, s: number): Float32Array {
  // a few exact zeros and tiny values among them (zero gradients, moments near 0)
  return Float32Array.from({ length: n }, (_, i) => (i % 17 === 3 ? 0 : i % 23 === 5 ? 1e-30 : rng.normal() * s));
}

/**
 * Textbook AdamW in float64 (decoupled decay, bias-corrected moments), independent of optim.ts. Also
 * tracks, per element, the scale float32 rounding errors are relative to: mAbs (m's recurrence on
 * |g̃|: m can cancel to far below its terms) and tol (Σ over steps of ulp(p) + 1e-5·the update's
 * magnitude bound).
 */
function adam64(
  s: { p: Float64Array; m: Float64Array; v: Float64Array; mAbs: Float64Array; tol: Float64Array },
  g: Float32Array,
  t: number,
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; scale: number },
): void {
  const ulp = (x: number) => 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x), 2 ** -126))) - 23);
  for (let i = 0; i < s.p.length; i++) {
    const gi = g[i]! * o.scale;
    s.m[i] = o.b1 * s.m[i]! + (1 - o.b1) * gi;
    s.mAbs[i] = o.b1 * s.mAbs[i]! + (1 - o.b1) * Math.abs(gi);
    s.v[i] = o.b2 * s.v[i]! + (1 - o.b2) * gi * gi;
    const den = Math.sqrt(s.v[i]! / (1 - o.b2 ** t)) + o.eps;
    s.p[i] = s.p[i]! * (1 - o.lr * o.wd) - (o.lr * s.m[i]!) / (1 - o.b1 ** t) / den;
    s.tol[i] = s.tol[i]! + ulp(s.p[i]!) + (1e-5 * o.lr * s.mAbs[i]!) / (1 - o.b1 ** t) / den;
  }
}

// odd lengths, tiny tensors, lengths around the SIMD width, one above the worker split (2^20)
const SIZES = [1, 2, 3, 4, 5, 7, 33, 1001, (1 << 20) + 3];
const DECAY = SIZES.map((_, k) => k % 2 === 0);
const OPTS = { b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01 };
const STEPS = [
  { lr: 0.01, scale: 1 },
  { lr: 0.02, scale: 0.37 }, // clipped step
  { lr: 0.005, scale: 1 },
  { lr: 0.01, scale: 0.9 },
];

/** Runs STEPS on fresh tensors: in kernel memory (`kernel`) or plain shared arrays, on `threads` threads. */
function run(kernel: boolean, threads: number) {
  const rng = new Rng(11);
  const p = kernel ? allocTensorGroups(SIZES) : SIZES.map((n) => sharedFloat32(n));
  for (const a of p) a.set(randn(rng, a.length, 1));
  const g = p.map((a) => (kernel ? companion(a, 1) : sharedFloat32(a.length)));
  const adam = new Adam(p, OPTS.b1, OPTS.b2, OPTS.eps, OPTS.wd, threads);
  const init = p.map((a) => a.slice());
  const grads: Float32Array[][] = [];
  for (const s of STEPS) {
    const gs = g.map((a) => randn(rng, a.length, 0.1));
    grads.push(gs);
    for (const [k, a] of gs.entries()) g[k]!.set(a);
    adam.step(p, g, s.lr, DECAY, s.scale);
  }
  adam.close();
  return { p, adam, init, grads, inKernel: p.map((a, k) => kernelMemory(a, g[k]!, adam.m[k]!, adam.v[k]!) !== null) };
}

test("the SIMD kernel in place = the JS loop, bit for bit, on 1 and 2 threads (odd and tiny lengths, decay, clipping)", () => {
  const ref = run(false, 1);
  assert.ok(
    ref.inKernel.every((x) => !x),
    "plain arrays take the JS loop",
  );
  for (const [kernel, threads] of [
    [true, 1],
    [true, 2],
    [false, 2],
  ] as const) {
    const r = run(kernel, threads);
    assert.ok(
      r.inKernel.every((x) => x === kernel),
      `kernel ${kernel}: placement`,
    );
    for (let k = 0; k < SIZES.length; k++) {
      assert.ok(
        r.p[k]!.some((x, i) => x !== r.init[k]![i]),
        `tensor ${k} moved`,
      );
      const what = `kernel ${kernel}, ${threads} threads, tensor ${k} (n = ${SIZES[k]})`;
      assert.deepEqual(r.p[k], ref.p[k], `${what}: parameters`);
      assert.deepEqual(r.adam.m[k], ref.adam.m[k], `${what}: m`);
      assert.deepEqual(r.adam.v[k], ref.adam.v[k], `${what}: v`);
    }
  }
});

test("float32 Adam tracks a float64 AdamW within float32 rounding over several steps", () => {
  const r = run(true, 2);
  for (let k = 0; k < SIZES.length; k++) {
    const n = SIZES[k]!;
    const z = () => new Float64Array(n);
    const s = { p: Float64Array.from(r.init[k]!), m: z(), v: z(), mAbs: z(), tol: z() };
    STEPS.forEach((st, t) => {
      adam64(s, r.grads[t]![k]!, t + 1, { ...OPTS, wd: DECAY[k] ? OPTS.wd : 0, lr: st.lr, scale: st.scale });
    });
    let differ = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.abs(r.p[k]![i]! - s.p[i]!);
      if (e > 0) differ++;
      // (messages built only on failure: this runs over a million elements)
      if (!(e <= s.tol[i]!))
        assert.fail(`tensor ${k}[${i}]: ${r.p[k]![i]} vs float64 ${s.p[i]} (tolerance ${s.tol[i]})`);
      const em = Math.abs(r.adam.m[k]![i]! - s.m[i]!);
      if (!(em <= 1e-6 * s.mAbs[i]! + 1e-38)) assert.fail(`m ${k}[${i}]: ${r.adam.m[k]![i]} vs ${s.m[i]}`);
      const ev = Math.abs(r.adam.v[k]![i]! - s.v[i]!);
      if (!(ev <= 1e-6 * s.v[i]! + 1e-38)) assert.fail(`v ${k}[${i}]: ${r.adam.v[k]![i]} vs ${s.v[i]}`);
    }
    assert.ok(differ > 0 || n < 8, `tensor ${k}: float32 and float64 never differ — the test compares nothing`);
  }
});

test("parameters, gradients and moments share one kernel memory per tensor; no slot is handed out twice", () => {
  const shape = { nLayers: 3, dModel: 8, nFeatures: 20 };
  const p = allocParams(shape);
  const g = allocGrads(p);
  const pl = paramList(p).map(([, a]) => a);
  const gl = paramList(g).map(([, a]) => a);
  const adam = new Adam(pl, 0.9, 0.999, 1e-8, 0, 1);
  pl.forEach((a, k) => {
    assert.ok(kernelMemory(a, gl[k]!, adam.m[k]!, adam.v[k]!), `tensor ${k} in one kernel memory`);
    assert.ok(a.every((x) => x === 0) && gl[k]!.every((x) => x === 0), "zeroed");
  });
  // a second gradient set for the same parameters gets its own arrays, never the taken slots
  const g2 = allocGrads(p);
  paramList(g2).forEach(([, a], k) => {
    assert.equal(kernelMemory(pl[k]!, a), null);
    a.fill(7);
    assert.ok(gl[k]!.every((x) => x === 0) && pl[k]!.every((x) => x === 0) && adam.m[k]!.every((x) => x === 0));
  });
  // views do not overlap: writing every slot of every tensor leaves the others intact
  pl.forEach((a, k) => {
    a.fill(1);
    gl[k]!.fill(2);
    adam.m[k]!.fill(3);
    adam.v[k]!.fill(4);
  });
  pl.forEach((a, k) => {
    for (const [arr, want] of [
      [a, 1],
      [gl[k]!, 2],
      [adam.m[k]!, 3],
      [adam.v[k]!, 4],
    ] as const) {
      assert.ok(
        arr.every((x) => x === want),
        `tensor ${k} slot value ${want}`,
      );
    }
  });
});

test("kernel memories are packed below the limit; a tensor too large for one stays a plain array", () => {
  const limit = 64 * 65536; // 4 MiB per memory
  const sizes = [100_000, 100_000, 300_000, 5, 100_000, 300_000];
  const t = allocTensorGroups(sizes, limit);
  const mems = t.map((a) => kernelMemory(a));
  // groups of 4 × 400 KB fit two to a memory (with a tiny one); 4 × 1.2 MB does not fit 4 MiB
  assert.ok(mems[0] && mems[0] === mems[1] && mems[0] === mems[3], "the small groups share a memory");
  assert.equal(mems[2], null);
  assert.ok(mems[4] && mems[4] !== mems[0], "a group that no longer fits starts a new memory");
  assert.equal(mems[5], null);
  assert.ok(t[2]!.buffer instanceof SharedArrayBuffer, "a plain tensor is still shared (worker threads)");
  for (const [k, a] of t.entries()) assert.equal(a.length, sizes[k]);
});

test("a kernel memory's scratch grows on demand and earlier views stay valid", () => {
  const [a] = allocTensorGroups([1000]);
  const km = kernelMemory(a!)!;
  assert.ok(km, "the tensor sits in a kernel memory");
  a!.fill(3);
  const before = km.memory.buffer.byteLength;
  assert.ok(km.scratchBase >= 4 * 4 * 1000 && km.scratchBase <= before);
  assert.ok(reserveBytes(km, before + 3 * 65536 + 5), "growing by a few pages");
  assert.ok(km.memory.buffer.byteLength >= before + 3 * 65536 + 5);
  assert.ok(
    a!.every((v) => v === 3),
    "the tensor's view still reads its values",
  );
  assert.equal(reserveBytes(km, 2 ** 32), false, "beyond the wasm32 limit is refused, not thrown");
});
