// The "blas" backend (nblas sgemm + fast-path kernels + fused kernels) against stock tfjs cpu, wasm
// and float64 references computed here.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { fastExp } from "../src/backend/fastmath.ts";
import { type BackendPref, backendInfo, initBackend } from "../src/backend/index.ts";
import { attnMix, attnScores, causalSoftmax, geluNew, lnStats, normalize } from "../src/model/ops.ts";
import { rng } from "./helpers/random-gpt2.ts";

const hasBlas = (() => {
  try {
    createRequire(import.meta.url)("nblas");
    return true;
  } catch {
    return false;
  }
})();
const skipBlas = hasBlas ? false : "nblas is not installed";

function randn(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

/** The gradient of an embedding lookup (gather of rows 1, 3, 1, 9 → weighted sum) w.r.t. the [10, 4] table `w`. */
const embeddingGradient = (w: Float32Array) => () =>
  tf.grad((t: tf.Tensor) =>
    tf
      .gather(t, tf.tensor([[1, 3, 1, 9]], [1, 4], "int32"))
      .mul(tf.range(0, 16).reshape([1, 4, 4]))
      .sum(),
  )(tf.tensor(w, [10, 4]));

/** Run `f` on a backend with fresh input tensors built from plain arrays; returns the values. */
async function on(be: BackendPref, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await initBackend(be, { quiet: true });
  return tf.tidy(() => {
    const r = f();
    return (Array.isArray(r) ? r : [r]).map((t) => Float32Array.from(t.dataSync()));
  });
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "length");
  let d = 0;
  let s = 1e-30;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
}

/** float64 batched matmul with NumPy batch broadcasting. */
function refMatMul(
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  ta: boolean,
  tb: boolean,
): Float64Array {
  const ar = aShape.length;
  const br = bShape.length;
  const m = ta ? aShape[ar - 1]! : aShape[ar - 2]!;
  const k = ta ? aShape[ar - 2]! : aShape[ar - 1]!;
  const n = tb ? bShape[br - 2]! : bShape[br - 1]!;
  const ab = aShape.slice(0, -2);
  const bb = bShape.slice(0, -2);
  const r = Math.max(ab.length, bb.length);
  const pa = [...Array(r - ab.length).fill(1), ...ab];
  const pb = [...Array(r - bb.length).fill(1), ...bb];
  const ob = pa.map((d, i) => Math.max(d, pb[i]!));
  const batch = ob.reduce((x, y) => x * y, 1);
  const out = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    // unravel bi over ob, map to operand batch indices
    let rem = bi;
    let ia = 0;
    let ib = 0;
    let sa = 1;
    let sb = 1;
    for (let d = r - 1; d >= 0; d--) {
      const idx = rem % ob[d]!;
      rem = Math.floor(rem / ob[d]!);
      ia += (pa[d] === 1 ? 0 : idx) * sa;
      ib += (pb[d] === 1 ? 0 : idx) * sb;
      sa *= pa[d]!;
      sb *= pb[d]!;
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = ta ? a[ia * m * k + p * m + i]! : a[ia * m * k + i * k + p]!;
          const bv = tb ? b[ib * k * n + j * k + p]! : b[ib * k * n + p * n + j]!;
          s += av * bv;
        }
        out[(bi * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

describe("initBackend", () => {
  test("auto order picks blas here; explicit choices switch; bad names are clear errors", async () => {
    const saved = process.env.ATLAS_BACKEND;
    try {
      delete process.env.ATLAS_BACKEND;
      const auto = await initBackend(undefined, { quiet: true });
      assert.equal(auto.name, hasBlas ? "blas" : "wasm");
      assert.equal(tf.getBackend(), auto.tfBackend);
      if (hasBlas) assert.match(auto.description, /^cpu\+blas \(.*sgemm via nblas\)$/);
      const cpu = await initBackend("cpu", { quiet: true });
      assert.equal(tf.getBackend(), "cpu");
      assert.equal(backendInfo(), cpu);
      process.env.ATLAS_BACKEND = "wasm";
      assert.equal((await initBackend(undefined, { quiet: true })).tfBackend, "wasm");
      process.env.ATLAS_BACKEND = "gpu9000";
      await assert.rejects(initBackend(undefined, { quiet: true }), /ATLAS_BACKEND: unknown backend "gpu9000"/);
      // tfjs-node is not installed here: asking for it explicitly fails clearly, auto mode skips it.
      await assert.rejects(initBackend("tensorflow", { quiet: true }), /backend tensorflow is not available/);
    } finally {
      if (saved === undefined) delete process.env.ATLAS_BACKEND;
      else process.env.ATLAS_BACKEND = saved;
    }
  });
});

test("no tfjs-node banner: a tensor before initBackend, then the stock cpu backend after it", () => {
  // A fresh process: the banner is printed once per cpu backend instance, on its first tensor write.
  const script = [
    'import * as tf from "@tensorflow/tfjs";',
    `const { initBackend } = await import(${JSON.stringify(new URL("../src/backend/index.ts", import.meta.url).href)});`,
    "tf.scalar(1).dispose();",
    "await initBackend(undefined, { quiet: true });",
    'await tf.setBackend("cpu");',
    "tf.scalar(2).dispose();",
    'process.stdout.write("done");',
  ].join("\n");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: new URL("..", import.meta.url),
    encoding: "utf8",
    env: { ...process.env, ATLAS_BACKEND: "" },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "done");
  assert.doesNotMatch(r.stderr + r.stdout, /looks like you are running TensorFlow\.js in Node\.js/);
});

describe("wasm backend", () => {
  test("embedding gradients work (UnsortedSegmentSum added) and match stock cpu", async () => {
    const f = embeddingGradient(randn(10 * 4, 31));
    const [p] = await on("wasm", f);
    const [q] = await on("cpu", f);
    assert.deepEqual(Array.from(p!), Array.from(q!));
    assert.equal(p![4 * 4], 0); // row 4 is not gathered
  });
});

describe("blas backend kernels", { skip: skipBlas }, () => {
  test("BatchMatMul: shapes, transposes, batches, broadcasting vs float64 reference and other backends", async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[5, 7], [7, 3], false, false],
      [[7, 5], [7, 3], true, false],
      [[5, 7], [3, 7], false, true],
      [[7, 5], [3, 7], true, true],
      [[3, 4, 5], [3, 5, 6], false, false],
      [[3, 5, 4], [3, 6, 5], true, true],
      [[3, 4, 5], [5, 6], false, false], // batch-1 (rank 2) operand: one tall product
      [[3, 4, 5], [1, 6, 5], false, true],
      [[4, 5], [2, 5, 6], false, false],
      [[2, 1, 4, 5], [1, 3, 5, 6], false, false], // general broadcasting
      [[2, 3, 64, 32], [2, 3, 32, 16], false, false],
      [[1, 1], [1, 1], false, false],
      [[0, 3], [3, 4], false, false],
      [[2, 3], [3, 0], false, false],
      [[2, 0], [0, 4], false, false],
    ];
    for (const [sa, sb, ta, tb] of cases) {
      const a = randn(
        sa.reduce((x, y) => x * y, 1),
        1,
      );
      const b = randn(
        sb.reduce((x, y) => x * y, 1),
        2,
      );
      const ref = refMatMul(a, sa, b, sb, ta, tb);
      const f = () => tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb);
      const [blas] = await on("blas", f);
      assert.ok(maxRel(blas!, ref) < 1e-5, `blas ${sa} × ${sb} ${ta} ${tb}: ${maxRel(blas!, ref)}`);
      // Stock cpu and wasm both mis-handle general batch broadcasting ([2,1]×[1,3] batches):
      // there only the float64 reference counts.
      if (sa.length === 4 && sa[1] === 1) continue;
      const [cpu] = await on("cpu", f);
      assert.ok(maxRel(blas!, cpu!) < 1e-5, `blas vs cpu ${sa} × ${sb}`);
      if (sa.includes(0) || sb.includes(0)) continue; // wasm leaves K = 0 products uninitialised
      const [wasm] = await on("wasm", f);
      assert.ok(maxRel(blas!, wasm!) < 1e-5, `blas vs wasm ${sa} × ${sb}`);
    }
  });

  test("matmul gradients agree with stock cpu", async () => {
    const a = randn(3 * 4 * 5, 3);
    const b = randn(3 * 5 * 6, 4);
    const dy = randn(3 * 4 * 6, 5);
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const sa = ta ? [3, 5, 4] : [3, 4, 5];
      const sb = tb ? [3, 6, 5] : [3, 5, 6];
      const f = () =>
        tf.grads((x: tf.Tensor, y: tf.Tensor) =>
          tf
            .matMul(x, y, ta, tb)
            .mul(tf.tensor(dy, [3, 4, 6]))
            .sum(),
        )([tf.tensor(a, sa), tf.tensor(b, sb)]);
      const blas = await on("blas", f);
      const cpu = await on("cpu", f);
      for (let i = 0; i < 2; i++) assert.ok(maxRel(blas[i]!, cpu[i]!) < 1e-5, `grad ${i} ${ta} ${tb}`);
    }
  });

  test("_FusedMatMul: bias shapes and every activation vs stock cpu, with gradients", async () => {
    const a = randn(6 * 5, 6);
    const b = randn(5 * 4, 7);
    const biases: [number[], Float32Array][] = [
      [[4], randn(4, 8)],
      [[1, 4], randn(4, 9)],
      [[6, 4], randn(24, 10)],
      [[6, 1], randn(6, 11)],
      [[], randn(1, 12)],
    ];
    const alpha = randn(4, 13);
    for (const activation of ["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu", "prelu"] as const) {
      for (const [bs, bv] of biases) {
        const f = () =>
          tf.fused.matMul({
            a: tf.tensor(a, [6, 5]),
            b: tf.tensor(b, [5, 4]),
            bias: tf.tensor(bv, bs),
            activation,
            preluActivationWeights: activation === "prelu" ? tf.tensor(alpha, [4]) : undefined,
            leakyreluAlpha: 0.3,
          });
        const [x] = await on("blas", f);
        const [y] = await on("cpu", f);
        assert.ok(maxRel(x!, y!) < 1e-5, `${activation} bias [${bs}]`);
      }
    }
    const g = () =>
      tf.grads((x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor) =>
        tf.fused
          .matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias })
          .square()
          .sum(),
      )([tf.tensor(a, [6, 5]), tf.tensor(b, [5, 4]), tf.tensor(biases[0]![1], [4])]);
    const gb = await on("blas", g);
    const gc = await on("cpu", g);
    for (let i = 0; i < 3; i++) assert.ok(maxRel(gb[i]!, gc[i]!) < 1e-5, `fused grad ${i}`);
  });

  test("broadcasting binary ops, softmax, transpose, reductions, gather, segment sums vs stock cpu", async () => {
    const shapes: [number[], number[]][] = [
      [
        [4, 5],
        [4, 5],
      ],
      [[4, 5], [5]],
      [
        [4, 5],
        [4, 1],
      ],
      [[2, 3, 4], []],
      [[], [2, 3, 4]],
      [
        [2, 1, 4],
        [1, 3, 1],
      ],
      [
        [2, 3, 4, 5],
        [4, 5],
      ],
      [
        [1, 5],
        [3, 1],
      ],
      [
        [2, 3, 1, 5],
        [3, 4, 1],
      ],
    ];
    for (const [sa, sb] of shapes) {
      const a = randn(
        sa.reduce((x, y) => x * y, 1),
        20,
      );
      const b = randn(
        sb.reduce((x, y) => x * y, 1),
        21,
      ).map((v) => v + 3); // no division by ~0
      for (const op of [tf.add, tf.sub, tf.mul, tf.div]) {
        const f = () => op(tf.tensor(a, sa), tf.tensor(b, sb));
        const [x] = await on("blas", f);
        const [y] = await on("cpu", f);
        assert.deepEqual(Array.from(x!), Array.from(y!), `${op.name} [${sa}] [${sb}]`);
      }
    }
    const x = randn(2 * 3 * 4 * 5, 22);
    const unary: [string, () => tf.Tensor][] = [
      ["softmax", () => tf.softmax(tf.tensor(x, [2, 3, 4, 5]).mul(3))],
      ["transpose 0213", () => tf.transpose(tf.tensor(x, [2, 3, 4, 5]), [0, 2, 1, 3])],
      ["transpose 3120", () => tf.transpose(tf.tensor(x, [2, 3, 4, 5]), [3, 1, 2, 0])],
      ["transpose int", () => tf.transpose(tf.tensor(x, [2, 3, 4, 5]).toInt(), [1, 0, 3, 2])],
      ["sum last", () => tf.sum(tf.tensor(x, [2, 3, 4, 5]), -1)],
      ["sum 0,2", () => tf.sum(tf.tensor(x, [2, 3, 4, 5]), [0, 2], true)],
      ["sum all", () => tf.sum(tf.tensor(x, [2, 3, 4, 5]))],
      ["mean 1", () => tf.mean(tf.tensor(x, [2, 3, 4, 5]), 1)],
      ["mean 1,3", () => tf.mean(tf.tensor(x, [2, 3, 4, 5]), [1, 3], true)],
      ["gather 0", () => tf.gather(tf.tensor(x, [6, 20]), tf.tensor([5, 0, 5, 2], [2, 2], "int32"))],
      ["gather 1", () => tf.gather(tf.tensor(x, [6, 20]), tf.tensor([19, 3], [2], "int32"), 1)],
      [
        "segment sum",
        () => tf.unsortedSegmentSum(tf.tensor(x, [6, 20]), tf.tensor([2, 0, 2, 4, 0, 1], [6], "int32"), 5),
      ],
    ];
    for (const [name, f] of unary) {
      const [p] = await on("blas", f);
      const [q] = await on("cpu", f);
      assert.ok(maxRel(p!, q!) < 1e-6, name);
    }
    await initBackend("blas", { quiet: true });
    assert.throws(() => tf.gather(tf.zeros([3, 2]), tf.tensor([3], [1], "int32")), /index value 3 is not in \[0, 2\]/);
  });

  test("embedding gradient (gather → segment sum) matches stock cpu", async () => {
    const f = embeddingGradient(randn(10 * 4, 30));
    const [p] = await on("blas", f);
    const [q] = await on("cpu", f);
    assert.deepEqual(Array.from(p!), Array.from(q!));
  });

  test("fastExp is within 1e-10 relative of Math.exp, exact at the edges", () => {
    const r = rng(5);
    let worst = 0;
    for (let i = 0; i < 200000; i++) {
      const x = (r.uniform() - 0.5) * 1400;
      const want = Math.exp(x);
      if (want > 1e-300) worst = Math.max(worst, Math.abs(fastExp(x) - want) / want);
    }
    assert.ok(worst < 1e-10, `worst ${worst}`);
    assert.equal(fastExp(0), 1);
    assert.equal(fastExp(-1e9), 0);
    assert.equal(fastExp(Number.NEGATIVE_INFINITY), 0);
    assert.equal(fastExp(1e4), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(fastExp(Number.NaN)));
  });

  test("fused attention / GELU / LayerNorm / causal softmax kernels match their composite forms, with gradients", async () => {
    const x = randn(2 * 3 * 8, 40).map((v) => 3 * v);
    const g = randn(8, 41).map((v) => 1 + 0.1 * v);
    const be = randn(8, 42);
    const s = randn(2 * 3 * 5 * 5, 43);
    const dy = randn(2 * 3 * 8, 44);
    const dyS = randn(2 * 3 * 5 * 5, 45);
    const f = () => {
      const fwd = (xt: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor) => {
        const [xc, sc] = lnStats(xt, 1e-5);
        return normalize(xc, sc, gt, bt);
      };
      const args = [tf.tensor(x, [2, 3, 8]), tf.tensor(g, [8]), tf.tensor(be, [8])];
      const st = tf.tensor(s, [2, 3, 5, 5]);
      const dyT = tf.tensor(dy, [2, 3, 8]);
      const lnGrads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => fwd(a, b, c).mul(dyT).sum())(args);
      // Each output of lnStats alone (the other's dy is null → zeros).
      const scaleGrad = tf.grad((xt: tf.Tensor) =>
        lnStats(xt, 1e-5)[1]
          .mul(tf.range(1, 7).reshape([2, 3, 1]))
          .sum(),
      )(args[0]!);
      const centredGrad = tf.grad((xt: tf.Tensor) => lnStats(xt, 1e-5)[0].mul(dyT).sum())(args[0]!);
      const geluGrad = tf.grad((xt: tf.Tensor) => geluNew(xt).mul(dyT).sum())(args[0]!);
      const smGrad = tf.grad((t: tf.Tensor) =>
        causalSoftmax(t, 0.7)
          .mul(tf.tensor(dyS, [2, 3, 5, 5]))
          .sum(),
      )(st);
      return [
        geluNew(args[0]!),
        fwd(args[0]!, args[1]!, args[2]!),
        causalSoftmax(st, 0.7),
        ...lnGrads,
        scaleGrad,
        centredGrad,
        geluGrad,
        smGrad,
      ];
    };
    const qkv = randn(2 * 5 * 24, 46);
    const pat = randn(2 * 2 * 5 * 5, 47);
    const r1 = randn(2 * 2 * 5 * 5, 48);
    const r2 = randn(2 * 5 * 8, 49);
    const attn = () => {
      const q = tf.tensor(qkv, [2, 5, 24]) as tf.Tensor3D;
      const p = tf.tensor(pat, [2, 2, 5, 5]) as tf.Tensor4D;
      const gs = tf.grad((t: tf.Tensor) =>
        attnScores(t as tf.Tensor3D, 2)
          .mul(tf.tensor(r1, [2, 2, 5, 5]))
          .sum(),
      )(q);
      const gm = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        attnMix(a as tf.Tensor4D, b as tf.Tensor3D)
          .mul(tf.tensor(r2, [2, 5, 8]))
          .sum(),
      )([p, q]);
      return [attnScores(q, 2), attnMix(p, q), gs, ...gm];
    };
    const fa = await on("blas", attn);
    const pa = await on("cpu", attn);
    ["attn scores", "attn mix", "d scores/d qkv", "d mix/d pattern", "d mix/d qkv"].forEach((n, i) => {
      assert.ok(maxRel(fa[i]!, pa[i]!) < 2e-6, `${n}: ${maxRel(fa[i]!, pa[i]!)}`);
    });
    const fusedOut = await on("blas", f);
    const plain = await on("cpu", f); // composite tfjs ops (no fused kernels on stock cpu)
    const names = [
      "gelu",
      "layernorm",
      "causal softmax",
      "dLN/dx",
      "dLN/dγ",
      "dLN/dβ",
      "dσ/dx",
      "dxc/dx",
      "dgelu",
      "dsoftmax",
    ];
    names.forEach((n, i) => {
      assert.ok(maxRel(fusedOut[i]!, plain[i]!) < 2e-6, `${n}: ${maxRel(fusedOut[i]!, plain[i]!)}`);
    });
    // The causal mask really masks: key > query gets exactly 0.
    const p = fusedOut[2]!;
    for (let q = 0; q < 5; q++) for (let k = q + 1; k < 5; k++) assert.equal(p[q * 5 + k], 0);
  });
});
