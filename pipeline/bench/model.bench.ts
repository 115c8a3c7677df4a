// GPT-2-small-shaped forward benchmark: tokens/s of GPT2.run (full logits) against the GEMM-only
// floor, i.e. the same matrix products issued straight to nblas sgemm, measured in the same run.
//
//   npm run bench:model [-- --batch 4 --seq 128 --reps 3 --layers 12]
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend, NO_TRANS as N, requireNativeSgemm, TRANS as TR } from "../src/backend/index.ts";
import { gpt2SmallConfig, randomGpt2 } from "./util.ts";

const { values: args } = parseArgs({
  options: {
    batch: { type: "string", default: "4" },
    seq: { type: "string", default: "128" },
    reps: { type: "string", default: "3" },
    layers: { type: "string", default: "12" },
    profile: { type: "boolean", default: false },
  },
});
const B = Number(args.batch);
const T = Number(args.seq);
const reps = Number(args.reps);

const config = gpt2SmallConfig(Number(args.layers));

const info = await initBackend(undefined, { quiet: true });
console.log(`backend: ${info.description}`);
if (info.name !== "blas") throw new Error("bench:model needs the blas backend (nblas) for the GEMM floor");

// Random weights in memory (a 0.5 GB checkpoint on disk would only measure the disk).
const model = randomGpt2(config);
const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7919 + t * 104729) % 50257));

function timeForward(): number {
  const t0 = performance.now();
  const { logits } = model.run(ids);
  logits!.dataSync();
  const dt = performance.now() - t0;
  logits!.dispose();
  return dt;
}

// GEMM floor: the same products through nblas directly (row-major, no tfjs).
const sgemm = requireNativeSgemm("bench:model (GEMM floor)");
const d = config.dModel;
const dh = config.dHead;
const H = config.nHeads;
const V = config.vocabSize;
const BT = B * T;
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const x = rand(BT * d);
const wQkv = rand(d * 3 * d);
const qkv = new Float32Array(BT * 3 * d);
const q = rand(T * dh);
const k = rand(T * dh);
const scores = new Float32Array(T * T);
const v = rand(T * dh);
const z = new Float32Array(T * dh);
const wProj = rand(d * d);
const y = new Float32Array(BT * d);
const wFc = rand(d * config.dMlp);
const hidden = new Float32Array(BT * config.dMlp);
const wFcProj = rand(config.dMlp * d);
const wte = rand(V * d);
const logits = new Float32Array(BT * V);

const floorParts = {
  linear: Number.POSITIVE_INFINITY,
  attention: Number.POSITIVE_INFINITY,
  unembed: Number.POSITIVE_INFINITY,
};

function floorPass(): number {
  const t0 = performance.now();
  let lin = 0;
  let att = 0;
  for (let l = 0; l < config.nLayers; l++) {
    let t = performance.now();
    sgemm(N, N, BT, 3 * d, d, 1, x, d, wQkv, 3 * d, 0, qkv, 3 * d);
    lin += performance.now() - t;
    t = performance.now();
    for (let i = 0; i < B * H; i++) {
      sgemm(N, TR, T, T, dh, 1, q, dh, k, dh, 0, scores, T);
      sgemm(N, N, T, dh, T, 1, scores, T, v, dh, 0, z, dh);
    }
    att += performance.now() - t;
    t = performance.now();
    sgemm(N, N, BT, d, d, 1, x, d, wProj, d, 0, y, d);
    sgemm(N, N, BT, config.dMlp, d, 1, x, d, wFc, config.dMlp, 0, hidden, config.dMlp);
    sgemm(N, N, BT, d, config.dMlp, 1, hidden, config.dMlp, wFcProj, d, 0, y, d);
    lin += performance.now() - t;
  }
  const t = performance.now();
  sgemm(N, TR, BT, V, d, 1, x, d, wte, d, 0, logits, V);
  const un = performance.now() - t;
  floorParts.linear = Math.min(floorParts.linear, lin);
  floorParts.attention = Math.min(floorParts.attention, att);
  floorParts.unembed = Math.min(floorParts.unembed, un);
  return performance.now() - t0;
}

// Interleaved repetitions, best of each: the machine is shared, so both see the same noise.
timeForward(); // warm-up (JIT, allocator)
floorPass();
const fwd: number[] = [];
const flo: number[] = [];
for (let r = 0; r < reps; r++) {
  fwd.push(timeForward());
  flo.push(floorPass());
}
const fwdMs = Math.min(...fwd);
const floorMs = Math.min(...flo);

const perLayer = 2 * BT * (d * 3 * d + d * d + 2 * d * config.dMlp) + 2 * 2 * B * H * T * T * dh;
const gflop = (config.nLayers * perLayer + 2 * BT * d * V) / 1e9;
const tps = (BT / fwdMs) * 1000;
const floorTps = (BT / floorMs) * 1000;
console.log(
  `model: ${config.nLayers} layers, d=${d}, ${H} heads, vocab ${V}; batch ${B} × ${T} tokens; best of ${reps}`,
);
console.log(
  `forward:     ${fwdMs.toFixed(0)} ms  ${tps.toFixed(0)} tokens/s  (${(gflop / (fwdMs / 1000)).toFixed(1)} GFLOP/s)`,
);
console.log(
  `GEMM floor:  ${floorMs.toFixed(0)} ms  ${floorTps.toFixed(0)} tokens/s  (${(gflop / (floorMs / 1000)).toFixed(1)} GFLOP/s)`,
);
console.log(
  `  floor parts (best): linear ${floorParts.linear.toFixed(0)} ms, attention ${floorParts.attention.toFixed(0)} ms, unembedding ${floorParts.unembed.toFixed(0)} ms`,
);
console.log(`ratio forward/floor (throughput): ${((100 * floorMs) / fwdMs).toFixed(1)}%`);

if (args.profile) {
  const prof = await tf.profile(() => {
    const { logits: l } = model.run(ids);
    l!.dataSync();
    l!.dispose();
  });
  const byKernel = new Map<string, number>();
  for (const kk of prof.kernels) byKernel.set(kk.name, (byKernel.get(kk.name) ?? 0) + (kk.kernelTimeMs as number));
  for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`  ${name.padEnd(20)} ${ms.toFixed(1)} ms`);
}
model.dispose();
