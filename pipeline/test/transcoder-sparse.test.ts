// The sparse path of the fused CLT step against the dense one: losses, stats, every gradient and the
// parameters after several Adam steps (with changing active sets and a dense early phase), the
// automatic per-layer switch, and the level-1 BLAS helpers against plain loops.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Rng } from "@circuit-atlas/util";
import * as tf from "@tensorflow/tfjs";
import { compileWat, generatedSource, KERNELS } from "../scripts/build-wasm.ts";
import { axpy, dot } from "../src/backend/index.ts";
import { CLT } from "../src/transcoder/clt.ts";
import { parseTrainConfig } from "../src/transcoder/config.ts";
import { ReconstructionMetrics } from "../src/transcoder/eval.ts";
import { FusedStep, type StepPath } from "../src/transcoder/fused.ts";
import { sparseModule } from "../src/transcoder/kernel-memory.ts";
import { Adam, globalNorm } from "../src/transcoder/optim.ts";
import {
  allocGrads,
  allocParams,
  type CltParams,
  type CltShape,
  cloneParams,
  paramList,
} from "../src/transcoder/params.ts";
import type { LossCoefs } from "../src/transcoder/step.ts";
import { SyntheticSource } from "../src/transcoder/synthetic.ts";
import { trainClt } from "../src/transcoder/train.ts";

await tf.setBackend("cpu");
const root = mkdtempSync(join(tmpdir(), "clt-sparse-"));
after(() => rmSync(root, { recursive: true, force: true }));

function randn(rng: Rng, n: number, s = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * s);
}

/**
 * Random params whose pre-activations have unit std (x ~ N(0, 1)), thresholds around `thetaMean`:
 * ~16 % of features fire at θ ≈ 1, ~0.5 % at θ ≈ 2.6 (the sparse regime).
 */
function randomParams(shape: CltShape, seed: number, thetaMean: number[]): CltParams {
  const rng = new Rng(seed);
  const p = allocParams(shape);
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  for (let l = 0; l < L; l++) {
    p.wEnc[l]!.set(randn(rng, d * F, 1 / Math.sqrt(d)));
    p.bEnc[l]!.set(randn(rng, F, 0.1));
    p.logTheta[l]!.set(Float32Array.from({ length: F }, () => Math.log(thetaMean[l]! * (0.9 + 0.2 * rng.next()))));
    p.wDec[l]!.set(randn(rng, F * (L - l) * d, 0.05));
  }
  p.bDec.set(randn(rng, L * d, 0.1));
  return p;
}

function batch(shape: CltShape, B: number, seed: number) {
  const rng = new Rng(seed);
  const n = B * shape.nLayers * shape.dModel;
  return { x: randn(rng, n), y: randn(rng, n, 0.5) };
}

/** max |a − b| ≤ tol·max(1, max |b|), with a message naming the tensor. */
function close(name: string, a: Float32Array, b: Float32Array, tol: number): void {
  let maxAbs = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(b[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  }
  assert.ok(
    Number.isFinite(maxDiff) && maxDiff <= tol * Math.max(1, maxAbs),
    `${name}: max diff ${maxDiff} (max ${maxAbs})`,
  );
}

const coefs: LossCoefs = { lambda: 0.5, c: 4, lambdaPre: 0.01, bandwidth: 0.5 };

test("the checked-in sparse kernel bytes are sparse.wat compiled (npm run build:wasm -w @circuit-atlas/pipeline)", async () => {
  const bytes = await compileWat("sparse");
  assert.equal(readFileSync(KERNELS.sparse.generated, "utf8"), generatedSource("sparse", bytes));
  assert.ok(sparseModule, "Node 20 runs WebAssembly SIMD: the kernels must load");
});

/**
 * One step on each path; `opts` picks the sparse step's engine (kernels or BLAS row operations,
 * threads). Checks the sparse step against the dense one and returns it.
 */
function compareSteps(
  shape: CltShape,
  B: number,
  thetaMean: number[],
  seed: number,
  opts: { kernels?: boolean; threads?: number } = {},
): FusedStep & { grads: CltParams } {
  const p = randomParams(shape, seed, thetaMean);
  const { x, y } = batch(shape, B, seed + 100);
  // the sparse step's gradients beside the parameters (where the kernels need them), the dense one's apart
  const gS = allocGrads(p);
  const gD = allocParams(shape);
  // garbage in the sparse gradients: the step must overwrite, not accumulate
  for (const [, a] of paramList(gS)) a.fill(7);
  const dense = new FusedStep(shape, B, { path: "dense" });
  const sparse = new FusedStep(shape, B, { path: "sparse", ...opts });
  const sd = dense.run(p, x, y, coefs, gD);
  const snap = { ...sd, active: sd.active.slice(), fired: sd.fired.map((f) => f.slice()), sse: sd.sse.slice() };
  const ss = sparse.run(p, x, y, coefs, gS);
  assert.deepEqual(Array.from(sparse.sparseLayers), Array(shape.nLayers).fill(1));
  assert.deepEqual(Array.from(dense.sparseLayers), Array(shape.nLayers).fill(0));
  for (const k of ["loss", "mse", "sparsity", "preAct"] as const) {
    assert.ok(Math.abs(ss[k] - snap[k]) <= 1e-5 * Math.abs(snap[k]), `${k}: ${ss[k]} vs ${snap[k]}`);
  }
  assert.deepEqual(Array.from(ss.active), Array.from(snap.active));
  for (const [l, f] of ss.fired.entries()) assert.deepEqual(Array.from(f), Array.from(snap.fired[l]!));
  for (const [l, v] of ss.sse.entries()) assert.ok(Math.abs(v - snap.sse[l]!) <= 1e-5 * snap.sse[l]!, `sse[${l}]`);
  const named = paramList(gD);
  for (const [k, [name, a]] of paramList(gS).entries()) close(name, a, named[k]![1], 2e-5);
  // the clipping norm each path accumulates while writing = a separate float64 pass over what it wrote
  for (const [st, g] of [
    [snap, gD],
    [ss, gS],
  ] as const) {
    const want = globalNorm(paramList(g).map(([, a]) => a));
    assert.ok(Math.abs(st.gradNorm - want) <= 1e-6 * want, `gradNorm ${st.gradNorm} vs ${want}`);
  }
  assert.ok(
    named.every(([, a]) => a.some((v) => v !== 0)),
    "every gradient tensor has nonzero entries",
  );
  return Object.assign(sparse, { grads: gS });
}

test("sparse step = dense step (loss terms, stats, all gradients) on random shapes, sparse and dense regimes", () => {
  // [L, d, F, B, θ per layer]: sparse (~0.5 % firing), the dense early phase (~16 %), mixed layers,
  // F not a multiple of 4 (the scan's tail), a single layer
  const cases: Array<[number, number, number, number, number[]]> = [
    [3, 16, 96, 64, [2.6, 2.6, 2.6]],
    [2, 24, 50, 40, [1, 1]],
    [4, 8, 37, 33, [2.6, 1, 0.3, 2]],
    [1, 32, 128, 17, [2.2]],
  ];
  for (const [k, [L, d, F, B, th]] of cases.entries()) {
    for (const kernels of [true, false]) {
      const s = compareSteps({ nLayers: L, dModel: d, nFeatures: F }, B, th, 11 + k, { kernels });
      assert.ok(
        s.stats.active.every((a) => a > 0),
        `case ${k}: some feature fires in every layer`,
      );
      assert.deepEqual(Array.from(s.kernelLayers), Array(L).fill(kernels ? 1 : 0), `case ${k}: kernels ${kernels}`);
    }
  }
});

test("sparse kernels: one thread and two give the same gradients bit for bit; d not a multiple of 4 falls back", () => {
  const shape: CltShape = { nLayers: 3, dModel: 24, nFeatures: 200 };
  const one = compareSteps(shape, 70, [2.2, 2.6, 1.8], 41, { threads: 1 });
  const two = compareSteps(shape, 70, [2.2, 2.6, 1.8], 41, { threads: 2 });
  assert.deepEqual(Array.from(two.kernelLayers), [1, 1, 1]);
  const want = paramList(one.grads);
  for (const [k, [name, a]] of paramList(two.grads).entries()) {
    assert.ok(
      a.every((v, i) => Object.is(v, want[k]![1][i])),
      `${name}: the thread split changed a value`,
    );
  }
  // the kernels take whole float32x4 lanes: d = 10 runs the BLAS row operations, same results
  const odd = compareSteps({ nLayers: 2, dModel: 10, nFeatures: 64 }, 50, [2.2, 2.2], 43);
  assert.deepEqual(Array.from(odd.kernelLayers), [0, 0]);
});

function train(path: StepPath, steps: number, sparseBelow?: number) {
  const shape: CltShape = { nLayers: 3, dModel: 16, nFeatures: 64 };
  const B = 48;
  // layer 0 dense early phase (θ ≈ 0.5), layers 1-2 sparse; LR high enough to move the active sets
  const p = randomParams(shape, 5, [0.5, 2.2, 2.6]);
  const g = allocGrads(p);
  const pl = paramList(p).map(([, a]) => a);
  const gl = paramList(g).map(([, a]) => a);
  const adam = new Adam(pl, 0.9, 0.999, 1e-8, 0.01);
  const decay = paramList(p).map(([n]) => n.startsWith("W_"));
  const eng = new FusedStep(shape, B, { path, sparseBelow });
  const losses: number[] = [];
  const fired: string[][] = [];
  const modes: string[] = [];
  for (let s = 0; s < steps; s++) {
    const { x, y } = batch(shape, B, 1000 + s);
    const st = eng.run(p, x, y, coefs, g);
    losses.push(st.loss);
    fired.push(st.fired.map((f) => Array.from(f, (v) => (v > 0 ? 1 : 0)).join("")));
    modes.push(Array.from(eng.sparseLayers).join(""));
    const n = st.gradNorm;
    assert.ok(Math.abs(n - globalNorm(gl)) <= 1e-6 * n, `step ${s}: gradNorm ${n} vs ${globalNorm(gl)}`);
    adam.step(pl, gl, 0.02, decay, n > 1 ? 1 / n : 1);
  }
  return { p, losses, fired, modes, adam };
}

test("several Adam steps: sparse and auto paths track the dense path (losses, parameters, moments)", () => {
  const steps = 8;
  const dense = train("dense", steps);
  const sparse = train("sparse", steps);
  const auto = train("auto", steps, 0.1);
  // the active sets change from step to step (new batch and moving weights)
  for (let l = 0; l < 3; l++) {
    const sets = new Set(dense.fired.map((f) => f[l]));
    assert.ok(sets.size > 1, `layer ${l}: the set of firing features never changed`);
  }
  // auto: layer 0 (many candidates) dense, the sparse layers sparse
  assert.ok(
    auto.modes.every((m) => m[0] === "0") && auto.modes.some((m) => m.slice(1) === "11"),
    `modes ${auto.modes.join(",")}`,
  );
  for (const other of [sparse, auto]) {
    other.losses.forEach((v, s) => {
      assert.ok(
        Math.abs(v - dense.losses[s]!) <= 1e-4 * dense.losses[s]!,
        `step ${s}: loss ${v} vs ${dense.losses[s]}`,
      );
    });
    assert.deepEqual(other.fired, dense.fired);
    const want = paramList(dense.p);
    for (const [k, [name, a]] of paramList(other.p).entries()) close(name, a, want[k]![1], 2e-4);
    for (const [k, m] of other.adam.m.entries()) close(`m[${k}]`, m, dense.adam.m[k]!, 2e-4);
  }
});

test("the sparse path leaves no stale activations when a layer switches between paths", () => {
  // thresholds chosen so the candidate fraction straddles sparseBelow from batch to batch
  const shape: CltShape = { nLayers: 2, dModel: 12, nFeatures: 40 };
  const B = 24;
  const p = randomParams(shape, 9, [1.4, 1.4]);
  const ref = new FusedStep(shape, B, { path: "dense" });
  const eng = new FusedStep(shape, B, { path: "auto", sparseBelow: 0.25 });
  const g1 = allocParams(shape);
  const g2 = allocParams(shape);
  const seen = new Set<string>();
  for (let s = 0; s < 12; s++) {
    const { x, y } = batch(shape, B, 50 + s);
    const xs = cloneParams(p);
    // alternate θ so the fraction moves across the switch point
    for (const lt of xs.logTheta) for (let i = 0; i < lt.length; i++) lt[i] = lt[i]! + (s % 3 === 0 ? -0.8 : 0.4);
    const a = ref.run(xs, x, y, coefs, g1).loss;
    const b = eng.run(xs, x, y, coefs, g2).loss;
    seen.add(Array.from(eng.sparseLayers).join(""));
    assert.ok(Math.abs(a - b) <= 1e-5 * a, `step ${s}: ${a} vs ${b}`);
    const want = paramList(g1);
    for (const [k, [name, arr]] of paramList(g2).entries()) close(`step ${s} ${name}`, arr, want[k]![1], 2e-5);
  }
  assert.ok(seen.has("00") && seen.has("11"), `paths seen: ${[...seen].join(",")}`);
});

test("axpy and dot (BLAS level 1 on subarray views) equal plain loops", () => {
  const rng = new Rng(3);
  const x = randn(rng, 300);
  const y = randn(rng, 300);
  const want = y.slice();
  for (let r = 0; r < 123; r++) want[50 + r] = Math.fround(want[50 + r]! + 0.37 * x[7 + r]!);
  axpy(123, 0.37, x.subarray(7), y.subarray(50));
  close("axpy", y, want, 1e-6);
  let s = 0;
  for (let r = 0; r < 200; r++) s += x[r + 3]! * y[r + 90]!;
  assert.ok(Math.abs(dot(200, x.subarray(3), y.subarray(90)) - s) <= 1e-5 * Math.max(1, Math.abs(s)));
});

test("training with the sparse path reaches the dense path's held-out FVU and L0", async (t) => {
  const L = 3;
  const d = 16;
  const F = 96;
  const src = () =>
    new SyntheticSource({ nLayers: L, dModel: d, nTrue: 48, p: 0.03, seed: 7, xScale: 20, yScale: 0.5 });
  const cfg = (fusedPath: StepPath) =>
    parseTrainConfig({
      model: "synthetic",
      corpus: "synthetic",
      featuresPerLayer: F,
      tokens: 128 * 60,
      batchTokens: 128,
      bufferTokens: 1024,
      initTokens: 1024,
      checkpointEvery: 0,
      logEvery: 10,
      lr: 1e-2,
      lrWarmupSteps: 5,
      lambda: 0.3,
      lambdaPre: 1e-3,
      seed: 3,
      fusedPath,
    });
  // held-out tokens: far past the 7,680 the runs read
  const n = 2048;
  const hx = new Float32Array(n * L * d);
  const hy = new Float32Array(n * L * d);
  const held = src();
  await held.restore({ pos: 1_000_000 });
  assert.equal(await held.read(n, hx, hy), n);
  const evalRun = (dir: string) => {
    const clt = CLT.load(dir);
    const m = new ReconstructionMetrics(L, d, F);
    tf.tidy(() => {
      const x = tf.tensor3d(hx, [n, L, d]);
      const y = tf.tensor3d(hy, [n, L, d]);
      const acts = Array.from(
        { length: L },
        (_, l) => clt.encode(l, x.slice([0, l, 0], [n, 1, d]).reshape([n, d])).acts,
      );
      const rec = clt.reconstruct(acts);
      for (let j = 0; j < L; j++) {
        const yj = y.slice([0, j, 0], [n, 1, d]).reshape([n, d]);
        m.add(j, n, yj.dataSync(), rec[j]!.dataSync(), acts[j]!.dataSync());
      }
    });
    return m.result();
  };
  const res: Record<string, ReturnType<typeof evalRun>> = {};
  for (const path of ["dense", "sparse"] as const) {
    const dir = join(root, `train-${path}`);
    await trainClt({ config: cfg(path), outDir: dir, source: src() });
    res[path] = evalRun(dir);
  }
  const dn = res.dense!;
  const sp = res.sparse!;
  t.diagnostic(
    `held-out FVU ${sp.fvu.mean.toFixed(4)} (sparse) vs ${dn.fvu.mean.toFixed(4)} (dense); L0 ${sp.l0.total.toFixed(2)} vs ${dn.l0.total.toFixed(2)}`,
  );
  assert.ok(dn.fvu.mean < 0.5, `the dense run learned little: FVU ${dn.fvu.mean}`);
  assert.ok(Math.abs(sp.fvu.mean - dn.fvu.mean) <= 0.05 * dn.fvu.mean + 0.005, `FVU ${sp.fvu.mean} vs ${dn.fvu.mean}`);
  assert.ok(Math.abs(sp.l0.total - dn.l0.total) <= 0.05 * dn.l0.total + 0.2, `L0 ${sp.l0.total} vs ${dn.l0.total}`);
});
