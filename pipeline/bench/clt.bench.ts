// CLT training throughput: the fused step (and the tfjs reference at demo size) vs the GEMM-only
// floor — the same matrix products, forward and backward, straight through nblas sgemm — measured
// in the same run; per-token FLOPs and an estimate for a GPT-2-small-scale CLT.
//
//   npm run bench:clt                         # demo (4×128, F=512) and GPT-2-shaped (12×768, F=1024)
//   CLT_BENCH_F=2048 CLT_BENCH_LAYERS=6 npm run bench:clt   # other GPT-2-shaped sizes
//   CLT_BENCH_TFJS=0 npm run bench:clt        # skip the (slow) tfjs reference engine
import { initBackend, NO_TRANS as N, requireNativeSgemm, TRANS as T } from "../src/backend/index.ts";
import { FusedStep } from "../src/transcoder/fused.ts";
import { TfStep } from "../src/transcoder/loss.ts";
import { Adam, globalNorm } from "../src/transcoder/optim.ts";
import { allocParams, type CltShape, initParams, paramList } from "../src/transcoder/params.ts";
import { Rng } from "../src/transcoder/rng.ts";
import type { LossCoefs } from "../src/transcoder/step.ts";
import { timeIt } from "./util.ts";

const sgemm = requireNativeSgemm("bench:clt (GEMM floor)");

/** FLOPs per training token: encoder fwd + W_enc grad (4·d·F per layer), decoder fwd + dA + dW (6·F·d per block). */
export function flopsPerToken(L: number, d: number, F: number): number {
  return 4 * d * F * L + 6 * F * d * ((L * (L + 1)) / 2);
}

interface Row {
  name: string;
  shape: CltShape;
  B: number;
  fused: number;
  floor: number;
  tfjs: number | null;
}

async function benchShape(name: string, shape: CltShape, B: number, reps: number, withTfjs: boolean): Promise<Row> {
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const rng = new Rng(1);
  const x = Float32Array.from({ length: B * L * d }, () => rng.normal());
  const y = Float32Array.from({ length: B * L * d }, () => rng.normal());
  const p = initParams(shape, x, y, B, { seed: 1, thresholdInit: 1, initFiringRate: 0.03, decoderInitNorm: 0.1 });
  const g = allocParams(shape);
  const k: LossCoefs = { lambda: 0.1, c: 4, lambdaPre: 3e-6, bandwidth: 0.5 };
  const pl = paramList(p).map(([, a]) => a);
  const gl = paramList(g).map(([, a]) => a);
  const adam = new Adam(
    pl.map((a) => a.length),
    0.9,
    0.999,
    1e-8,
    0,
  );
  const decay = pl.map(() => false);
  // lr 0: the step does all the work of a real one but keeps the weights (and the sparsity) fixed
  const step = (eng: { run: FusedStep["run"] }) => () => {
    eng.run(p, x, y, k, g);
    const n = globalNorm(gl);
    adam.step(pl, gl, 0, decay, n > 1 ? 1 / n : 1); // clipping at 1 folded into Adam, as train.ts does
  };
  const fused = new FusedStep(shape, B);
  const tFused = timeIt(reps, step(fused));
  // the floor: the identical GEMM calls (shapes, strides, transposes) and nothing else
  const z = new Float32Array(B * F);
  const a = new Float32Array(B * F);
  a.set(z);
  const yh = new Float32Array(B * L * d);
  const Ld = L * d;
  const tFloor = timeIt(reps, () => {
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
  const tTf = withTfjs ? timeIt(1, step(new TfStep(shape, B))) : null;
  const mean = fused.stats.active.reduce((s, v) => s + v, 0) / (L * B);
  process.stdout.write(
    `${name}: L=${L} d=${d} F=${F}/layer (${L * F} features), batch ${B} tokens, L0 ≈ ${mean.toFixed(1)}/layer\n`,
  );
  return { name, shape, B, fused: tFused, floor: tFloor, tfjs: tTf };
}

function fmtS(s: number): string {
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(0)} min`;
  if (s < 2 * 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
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
const rows = [
  await benchShape("(a) demo", demo, 2048, 6, withTfjs),
  await benchShape("(b) GPT-2-small-shaped", gpt2, 1024, 2, false),
];
process.stdout.write(
  "\nsize                      fused tok/s   GEMM-floor tok/s   ratio   achieved GFLOP/s   tfjs-ref tok/s\n",
);
for (const r of rows) {
  const fpt = flopsPerToken(r.shape.nLayers, r.shape.dModel, r.shape.nFeatures);
  const tps = r.B / r.fused;
  const ftps = r.B / r.floor;
  process.stdout.write(
    `${r.name.padEnd(24)}  ${tps.toFixed(0).padStart(11)}   ${ftps.toFixed(0).padStart(16)}   ${(100 * (tps / ftps)).toFixed(0).padStart(4)}%   ${((fpt * tps) / 1e9).toFixed(1).padStart(16)}   ${r.tfjs ? (r.B / r.tfjs).toFixed(0).padStart(14) : "-".padStart(14)}\n`,
  );
  process.stdout.write(`  ${(fpt / 1e6).toFixed(1)} MFLOP per training token\n`);
}
// estimate: GPT-2 small, 12 × 49,152 features, 100M tokens
const big = flopsPerToken(12, 768, 49152);
const total = big * 1e8;
const b = rows[1]!;
const cpuFlops = (flopsPerToken(b.shape.nLayers, b.shape.dModel, b.shape.nFeatures) * b.B) / b.fused;
const gpuTflops = Number(env.CLT_BENCH_GPU_TFLOPS ?? 10);
const params = 12 * (2 * 768 * 49152 + 2 * 49152) + 49152 * 768 * 78 + 12 * 768;
process.stdout.write(
  `\nestimate, GPT-2 small CLT 12×49,152 = 589,824 features, 100M tokens:\n` +
    `  ${(big / 1e9).toFixed(2)} GFLOP/token → ${(total / 1e18).toFixed(2)}e18 FLOP; ${(params / 1e9).toFixed(2)}B parameters ` +
    `(fp32 weights + grads + Adam m,v ≈ ${((params * 16) / 2 ** 30).toFixed(0)} GiB)\n` +
    `  this machine at the measured GPT-2-shaped rate (${(cpuFlops / 1e9).toFixed(0)} GFLOP/s): ${fmtS(total / cpuFlops)}\n` +
    `  GPU via tfjs-node-gpu at an assumed ${gpuTflops} TFLOP/s sustained fp32 (CLT_BENCH_GPU_TFLOPS): ${fmtS(total / (gpuTflops * 1e12))}\n`,
);
