// CLT training throughput: the fused step `clt train` uses (dense or sparse per layer by the measured
// active fraction) against two floors measured in the same run — the dense GEMM floor (the full
// products over all F features, forward and backward, straight through nblas sgemm) and the sparse
// floor (the encoder-forward GEMM, plus the active-set products as GEMMs on perfectly compacted
// blocks at the measured L0, plus the O(parameters) passes exact Adam cannot skip at the measured
// memory bandwidth: the pre-activation loss gives every decoder row a gradient each step, so Adam
// reads and writes every parameter) — the same step forced dense, a plain dense numpy/OpenBLAS step
// (bench/clt_numpy_peer.py, when python3 + numpy exist), a scaling table over F at fixed L0, and an
// estimate for a GPT-2-small-scale CLT.
//
//   npm run bench:clt                         # demo (4×128, F=512) and GPT-2-shaped (12×768, F=1024)
//   CLT_BENCH_F=4096 CLT_BENCH_LAYERS=6 npm run bench:clt   # other GPT-2-shaped sizes
//   CLT_BENCH_TFJS=0 npm run bench:clt        # skip the (slow) tfjs reference engine
//   CLT_BENCH_SCALING=1024,2048,4096,8192     # F values of the scaling table (0 = skip)
//   CLT_BENCH_NUMPY=0                         # skip the numpy peer
// GPT-2-shaped rows run at L0 ≈ 30 per layer for every F (b_enc set by the data-dependent init).

import { spawnSync } from "node:child_process";
import { freemem, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { Rng } from "@circuit-atlas/util";
import { initBackend, NO_TRANS as N, requireNativeSgemm, TRANS as T } from "../src/backend/index.ts";
import { FusedStep, type StepPath } from "../src/transcoder/fused.ts";
import { TfStep } from "../src/transcoder/loss.ts";
import { Adam } from "../src/transcoder/optim.ts";
import { allocGrads, type CltParams, type CltShape, initParams, paramList } from "../src/transcoder/params.ts";
import type { LossCoefs } from "../src/transcoder/step.ts";
import { timeIt } from "./util.ts";

const sgemm = requireNativeSgemm("bench:clt (GEMM floors)");
const GPT2_L0 = 30;

/** Dense FLOPs per training token: encoder fwd + W_enc grad (4·d·F per layer), decoder fwd + dA + dW (6·F·d per block). */
export function flopsPerToken(L: number, d: number, F: number): number {
  return 4 * d * F * L + 6 * F * d * ((L * (L + 1)) / 2);
}

/** Trainable parameters of an L-layer CLT (W_enc, b_enc, log θ, W_dec to every later layer, b_dec). */
function paramCount(L: number, d: number, F: number): number {
  return L * (d * F + 2 * F) + F * d * ((L * (L + 1)) / 2) + L * d;
}

interface Setup {
  shape: CltShape;
  B: number;
  x: Float32Array;
  y: Float32Array;
  p: CltParams;
  g: CltParams;
  /** Parameters (W_enc, b_enc, log θ, W_dec, b_dec). */
  nParams: number;
  /** time(reps): seconds per step (run + Adam); adamShare: the Adam part of the last timing. */
  step: (path: StepPath) => { time: (reps: number) => number; eng: FusedStep; adamSeconds: () => number };
  /** Stops Adam's worker thread, which would otherwise keep the last tensors it updated reachable. */
  close: () => void;
}

function setup(shape: CltShape, B: number, firingRate: number): Setup {
  const { nLayers: L, dModel: d } = shape;
  const rng = new Rng(1);
  const x = Float32Array.from({ length: B * L * d }, () => rng.normal());
  const y = Float32Array.from({ length: B * L * d }, () => rng.normal());
  const p = initParams(shape, x, y, B, { seed: 1, thresholdInit: 1, initFiringRate: firingRate, decoderInitNorm: 0.1 });
  const g = allocGrads(p);
  const k: LossCoefs = { lambda: 0.1, c: 4, lambdaPre: 3e-6, bandwidth: 0.5 };
  const pl = paramList(p).map(([, a]) => a);
  const gl = paramList(g).map(([, a]) => a);
  const adam = new Adam(pl, 0.9, 0.999, 1e-8, 0);
  const decay = pl.map(() => false);
  // lr 0: the step does all the work of a real one but keeps the weights (and the sparsity) fixed
  const step = (path: StepPath) => {
    const eng = new FusedStep(shape, B, { path });
    let adamMs = 0;
    let calls = -1; // the warm-up call (first touch of the moments' pages) is not counted
    const one = () => {
      const n = eng.run(p, x, y, k, g).gradNorm;
      const t0 = performance.now();
      adam.step(pl, gl, 0, decay, n > 1 ? 1 / n : 1); // clipping at 1 folded into Adam, as train.ts does
      if (calls++ >= 0) adamMs += performance.now() - t0;
    };
    const time = (reps: number) => {
      adamMs = 0;
      calls = -1;
      const t = timeIt(reps, one);
      adamMs /= Math.max(1, calls); // the same calls timeIt averages
      return t;
    };
    return { eng, time, adamSeconds: () => adamMs / 1000 };
  };
  return { shape, B, x, y, p, g, nParams: pl.reduce((a, v) => a + v.length, 0), step, close: () => adam.close() };
}

/**
 * Streaming memory bandwidth (bytes read + written per second) of a large copy, the best a pass over
 * the parameters can do on one core: the O(parameters) part of the sparse floor.
 */
function memBandwidth(): number {
  const n = 1 << 26; // 256 MB per buffer, far beyond the caches
  const src = new Float32Array(n).fill(1);
  const dst = new Float32Array(n);
  const t = timeIt(3, () => dst.set(src));
  return (2 * 4 * n) / t;
}
/** Bytes per parameter per step no exact-Adam step avoids: write the gradient, Adam reads p, g, m, v and writes p, m, v. */
const OP_BYTES = 32;

/** The dense floor: the dense step's GEMM calls (shapes, strides, transposes) and nothing else. */
function denseFloor(s: Setup, reps: number): number {
  const { nLayers: L, dModel: d, nFeatures: F } = s.shape;
  const { B, x, p, g } = s;
  const z = new Float32Array(B * F);
  const a = new Float32Array(B * F);
  const yh = new Float32Array(B * L * d);
  const Ld = L * d;
  return timeIt(reps, () => {
    for (let l = 0; l < L; l++) sgemm(N, N, B, F, d, 1, x.subarray(l * d), Ld, p.wEnc[l]!, F, 0, z, F);
    for (let l = 0; l < L; l++) {
      const n = (L - l) * d;
      sgemm(N, N, B, n, F, 1, a, F, p.wDec[l]!, n, 1, yh.subarray(l * d), Ld);
    }
    for (let l = 0; l < L; l++) {
      const n = (L - l) * d;
      sgemm(N, T, B, F, n, 1, yh.subarray(l * d), Ld, p.wDec[l]!, n, 0, z, F);
      sgemm(T, N, F, n, B, 1, a, F, yh.subarray(l * d), Ld, 0, g.wDec[l]!, n);
      sgemm(T, N, d, F, B, 1, x.subarray(l * d), Ld, z, F, 0, g.wEnc[l]!, F);
    }
  });
}

/**
 * The sparse products of the sparse floor: the four active-set products as GEMMs on perfectly
 * compacted blocks — as if every token of the batch used the same kA (active) and kC (candidate)
 * features per layer, measured by the step: decoder forward [B, kA]·[kA, n], dL/da [B, n]·[n, kC],
 * ∂W_dec [kA, B]·[B, n], ∂W_enc [d, B]·[B, kC]. Real active sets differ per token, so no
 * implementation reaches it; it is the FLOP count at dense-GEMM speed.
 */
function sparseProducts(s: Setup, kA: number[], kC: number[], reps: number): number {
  const { nLayers: L, dModel: d } = s.shape;
  const { B, x } = s;
  const Ld = L * d;
  const kMax = Math.max(1, ...kA, ...kC);
  const ac = new Float32Array(B * kMax);
  const wc = new Float32Array(kMax * Ld);
  const gwc = new Float32Array(kMax * Ld);
  const gec = new Float32Array(d * kMax);
  const yh = new Float32Array(B * Ld);
  return timeIt(reps, () => {
    for (let l = 0; l < L; l++) {
      const n = (L - l) * d;
      const a = Math.max(1, kA[l]!);
      const c = Math.max(1, kC[l]!);
      sgemm(N, N, B, n, a, 1, ac, a, wc, n, 1, yh.subarray(l * d), Ld);
      sgemm(N, T, B, c, n, 1, yh.subarray(l * d), Ld, wc, n, 0, ac, c);
      sgemm(T, N, a, n, B, 1, ac, a, yh.subarray(l * d), Ld, 0, gwc, n);
      sgemm(T, N, d, c, B, 1, x.subarray(l * d), Ld, ac, c, 0, gec, c);
    }
  });
}

/** The encoder-forward GEMMs alone (the part of the step that stays O(F) per token). */
function encoderGemm(s: Setup, reps: number): number {
  const { nLayers: L, dModel: d, nFeatures: F } = s.shape;
  const z = new Float32Array(s.B * F);
  return timeIt(reps, () => {
    for (let l = 0; l < L; l++) sgemm(N, N, s.B, F, d, 1, s.x.subarray(l * d), L * d, s.p.wEnc[l]!, F, 0, z, F);
  });
}

/** Seconds per step of bench/clt_numpy_peer.py, or a reason it did not run. */
function numpyPeer(shape: CltShape, B: number, l0: number): number | string {
  if (process.env.CLT_BENCH_NUMPY === "0") return "CLT_BENCH_NUMPY=0";
  const script = fileURLToPath(new URL("./clt_numpy_peer.py", import.meta.url));
  const args = [script, "--layers", `${shape.nLayers}`, "--d", `${shape.dModel}`, "--features", `${shape.nFeatures}`];
  const r = spawnSync("python3", [...args, "--batch", `${B}`, "--l0", `${l0}`, "--reps", "1"], { encoding: "utf8" });
  if (r.error) return "python3 not found";
  if (r.status === 3) return "numpy not installed";
  if (r.status !== 0) return `peer failed: ${r.stderr.trim().split("\n").pop()}`;
  return (JSON.parse(r.stdout.trim()) as { seconds_per_step: number }).seconds_per_step;
}

function fmtS(s: number): string {
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  if (s < 2 * 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}
const pad = (v: string, n: number) => v.padStart(n);
const tps = (B: number, s: number) => (B / s).toFixed(0);

/** Streaming bandwidth, measured once (the O(parameters) part of every sparse floor). */
let bandwidth = 0;
const HEADER =
  "size                      fused tok/s   GEMM-floor tok/s   ratio   sparse-floor tok/s   ratio   dense-path tok/s   numpy tok/s   × numpy   tfjs-ref tok/s\n";
const say = (line: string) => process.stdout.write(`${line}\n`);
const sec = (t: number, B: number) => `${t.toFixed(3)} s/step (${tps(B, t)} tok/s)`;

/**
 * Measures one row, printing each part as soon as it is measured (a stopped run keeps what it
 * got), then the row of the table.
 */
function benchShape(name: string, shape: CltShape, B: number, rate: number, reps: number, withTfjs: boolean): void {
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const s = setup(shape, B, rate);
  say(
    `${name}: L=${L} d=${d} F=${F}/layer (${L * F} features, ${(s.nParams / 1e6).toFixed(1)}M parameters), batch ${B} tokens`,
  );
  const auto = s.step("auto");
  const tFused = auto.time(reps);
  const st = auto.eng.stats;
  const kA = Array.from(st.active, (a) => Math.round(a / B));
  const kC = Array.from(auto.eng.candidates, (c) => Math.round(c / B));
  const l0 = st.active.reduce((a, v) => a + v, 0) / (L * B);
  const sparseLayers = auto.eng.sparseLayers.reduce((a, v) => a + v, 0);
  say(
    `  fused step (auto; what clt train runs): ${sec(tFused, B)}, of which Adam ${auto.adamSeconds().toFixed(3)} s; ` +
      `L0 ≈ ${l0.toFixed(1)}/layer, candidates ≈ ${(kC.reduce((a, v) => a + v, 0) / L).toFixed(1)}/layer, sparse path on ${sparseLayers}/${L} layers`,
  );
  const tEnc = encoderGemm(s, reps);
  const tProd = sparseProducts(s, kA, kC, reps);
  if (bandwidth === 0) bandwidth = memBandwidth();
  const tOp = (OP_BYTES * s.nParams) / bandwidth;
  const tSparseFloor = tEnc + tProd + tOp;
  say(
    `  sparse floor ${sec(tSparseFloor, B)} = encoder-forward GEMM ${tEnc.toFixed(3)} s + compacted sparse products ${tProd.toFixed(3)} s ` +
      `+ O(parameters) passes ${tOp.toFixed(3)} s (${OP_BYTES} B/parameter at the measured ${(bandwidth / 1e9).toFixed(1)} GB/s copy bandwidth)`,
  );
  const tDense = s.step("dense").time(reps);
  say(`  same step forced dense: ${sec(tDense, B)}`);
  const tFloor = denseFloor(s, reps);
  say(`  dense GEMM floor: ${sec(tFloor, B)}`);
  const numpy = numpyPeer(shape, B, l0);
  say(`  numpy peer: ${typeof numpy === "number" ? sec(numpy, B) : `skipped (${numpy})`}`);
  const tTf = withTfjs
    ? timeIt(1, () =>
        new TfStep(shape, B).run(s.p, s.x, s.y, { lambda: 0.1, c: 4, lambdaPre: 3e-6, bandwidth: 0.5 }, s.g),
      )
    : null;
  if (tTf !== null) say(`  tfjs reference: ${sec(tTf, B)}`);
  const np = typeof numpy === "number" ? numpy : null;
  process.stdout.write(HEADER);
  say(
    `${name.padEnd(24)}  ${pad(tps(B, tFused), 11)}   ${pad(tps(B, tFloor), 16)}   ${pad((100 * (tFloor / tFused)).toFixed(0), 4)}%   ` +
      `${pad(tps(B, tSparseFloor), 18)}   ${pad((100 * (tSparseFloor / tFused)).toFixed(0), 4)}%   ${pad(tps(B, tDense), 16)}   ` +
      `${pad(np ? tps(B, np) : "-", 11)}   ${pad(np ? (np / tFused).toFixed(2) : "-", 7)}   ${pad(tTf ? tps(B, tTf) : "-", 14)}`,
  );
  s.close();
  const fpt = flopsPerToken(L, d, F);
  const load = loadavg().map((v) => v.toFixed(1));
  say(`  dense step ${(fpt / 1e6).toFixed(1)} MFLOP/token; load average ${load.join(" ")}\n`);
}

const info = await initBackend(undefined, { quiet: true });
const env = process.env;
const demo: CltShape = { nLayers: 4, dModel: 128, nFeatures: Number(env.CLT_BENCH_DEMO_F ?? 512) };
const gpt2: CltShape = {
  nLayers: Number(env.CLT_BENCH_LAYERS ?? 12),
  dModel: 768,
  nFeatures: Number(env.CLT_BENCH_F ?? 1024),
};
const withTfjs = env.CLT_BENCH_TFJS !== "0";
process.stdout.write(`backend: ${info.description}; OPENBLAS_NUM_THREADS=${env.OPENBLAS_NUM_THREADS ?? "(default)"}\n`);
benchShape("(a) demo", demo, 2048, 0.03, 4, withTfjs);
benchShape("(b) GPT-2-small-shaped", gpt2, 1024, GPT2_L0 / gpt2.nFeatures, gpt2.nFeatures <= 1024 ? 2 : 1, false);
// scaling over F at fixed L0: the step against the encoder-forward GEMM it cannot avoid
const scalingF = (env.CLT_BENCH_SCALING ?? "1024,2048,4096,8192")
  .split(",")
  .map(Number)
  .filter((f) => f > 0);
const scaling: Array<{ F: number; step: number; enc: number; l0: number; sparse: number }> = [];
if (scalingF.length > 0) {
  const L = gpt2.nLayers;
  const B = 1024;
  process.stdout.write(`\nscaling, ${L} × 768, batch ${B}, L0 ≈ ${GPT2_L0}/layer (fused step, path auto):\n`);
  process.stdout.write(
    "     F   µs/token   growth   encoder-GEMM µs/token   growth   step/encoder   L0/layer   sparse layers\n",
  );
  for (const F of scalingF) {
    // the previous rows' tensors must be gone before a larger one is allocated (npm run bench:clt
    // runs node with --expose-gc); refuse a row that cannot fit rather than swap or be killed
    (globalThis as { gc?: () => void }).gc?.();
    const need = 16 * paramCount(L, 768, F) + 4 * (2 * B * L * 768 + 4 * B * F);
    if (need > freemem()) {
      process.stdout.write(
        `${pad(`${F}`, 6)}   skipped: needs ~${(need / 2 ** 30).toFixed(1)} GiB (parameters, gradients, Adam moments, batch, step buffers), ${(freemem() / 2 ** 30).toFixed(1)} GiB available\n`,
      );
      continue;
    }
    const s = setup({ nLayers: L, dModel: 768, nFeatures: F }, B, GPT2_L0 / F);
    const a = s.step("auto");
    const t = a.time(1);
    const enc = encoderGemm(s, 2);
    s.close();
    const l0 = a.eng.stats.active.reduce((x, v) => x + v, 0) / (L * B);
    scaling.push({ F, step: t, enc, l0, sparse: a.eng.sparseLayers.reduce((x, v) => x + v, 0) });
    const f0 = scaling[0]!;
    process.stdout.write(
      `${pad(`${F}`, 6)}   ${pad(((1e6 * t) / B).toFixed(0), 8)}   ${pad(`${(t / f0.step).toFixed(2)}×`, 6)}   ${pad(((1e6 * enc) / B).toFixed(0), 21)}   ` +
        `${pad(`${(enc / f0.enc).toFixed(2)}×`, 6)}   ${pad((t / enc).toFixed(2), 12)}   ${pad(l0.toFixed(1), 8)}   ${pad(`${scaling.at(-1)!.sparse}/${L}`, 13)}\n`,
    );
  }
}

// estimate: GPT-2 small, 12 × 49,152 features, 100M tokens
const Fbig = 49152;
const Lb = 12;
const db = 768;
const tokens = 1e8;
const params = paramCount(Lb, db, Fbig);
const gib = (params * 16) / 2 ** 30;
const dense = flopsPerToken(Lb, db, Fbig) * tokens;
let cpuLine = "  this machine: needs the scaling table (CLT_BENCH_SCALING) for the fit";
if (scaling.length >= 2 && scaling[0]!.step > 0) {
  // least-squares fit of seconds per token = a + b·F over the scaling rows (a: the L0-bound sparse
  // work, b: encoder GEMM + the O(parameters) passes — Adam, norms, gradient norm — per token)
  const xs = scaling.map((r) => r.F);
  const ys = scaling.map((r) => r.step / 1024);
  const mx = xs.reduce((a, v) => a + v, 0) / xs.length;
  const my = ys.reduce((a, v) => a + v, 0) / ys.length;
  const b = xs.reduce((a, v, i) => a + (v - mx) * (ys[i]! - my), 0) / xs.reduce((a, v) => a + (v - mx) ** 2, 0);
  const a = my - b * mx;
  const perTok = a + b * Fbig;
  cpuLine =
    `  this machine (fit of the scaling table, µs/token = ${(1e6 * a).toFixed(0)} + ${(1e6 * b * 1024).toFixed(1)}·F/1024, batch 1024, ` +
    `extrapolated from F ≤ ${Math.max(...xs)}): ${(1e6 * perTok).toFixed(0)} µs/token → ${fmtS(perTok * tokens)} ` +
    `(it would also need ${gib.toFixed(0)} GiB for weights, gradients and Adam moments; this machine has 24 GiB)`;
}
const gpuTflops = Number(env.CLT_BENCH_GPU_TFLOPS ?? 10);
const gpuTBs = Number(env.CLT_BENCH_GPU_TBS ?? 1.5);
const gpuB = 4096;
// per token on the GPU: encoder forward GEMM at the assumed FLOP rate; the sparse products move
// ~7 decoder rows of n floats per active feature (forward read, dL/da read for the ~1.7× candidates,
// ∂W_dec read + write, G reads) at the assumed bandwidth; per step ~48 bytes per parameter (norms,
// gradient norm, Adam read/write) over a batch of gpuB tokens
const encFlops = 2 * db * Fbig * Lb;
let sparseBytes = 0;
for (let l = 0; l < Lb; l++) sparseBytes += GPT2_L0 * (Lb - l) * db * 4 * 7;
const denseBytes = (params * 48) / gpuB;
const gpuTok = encFlops / (gpuTflops * 1e12) + (sparseBytes + denseBytes) / (gpuTBs * 1e12);
process.stdout.write(
  `\nestimate, GPT-2 small CLT 12×49,152 = 589,824 features, 100M tokens, L0 ≈ ${GPT2_L0}/layer:\n` +
    `  dense step: ${(dense / tokens / 1e9).toFixed(2)} GFLOP/token → ${(dense / 1e18).toFixed(2)}e18 FLOP; sparse step: encoder forward ` +
    `${(encFlops / 1e9).toFixed(2)} GFLOP/token + ${(sparseBytes / 1e6).toFixed(0)} MB/token of sparse row traffic + ${((params * 48) / 1e9).toFixed(0)} GB/step of dense parameter passes\n` +
    `  ${(params / 1e9).toFixed(2)}B parameters (fp32 weights + grads + Adam m,v ≈ ${gib.toFixed(0)} GiB)\n` +
    `${cpuLine}\n` +
    `  one GPU (assumed, not measured: ${gpuTflops} TFLOP/s sustained fp32 GEMM [CLT_BENCH_GPU_TFLOPS], ${gpuTBs} TB/s for the sparse and ` +
    `parameter passes [CLT_BENCH_GPU_TBS], batch ${gpuB}, 80 GB memory — an A100/H100 80GB class card): ` +
    `${(1e6 * gpuTok).toFixed(1)} µs/token → ${fmtS(gpuTok * tokens)}; the dense step at the same FLOP rate: ${fmtS(dense / (gpuTflops * 1e12))}\n`,
);
