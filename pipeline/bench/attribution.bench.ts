// Attribution-graph benchmark: wall time of attribute() (clean run, all edge rows, additivity check,
// graph assembly) for a 20-token prompt
//   1. on the demo model + demo CLT (pipeline/assets/demo-model, pipeline/assets/demo-clt) when present;
//   2. on a GPT-2-small-shaped random model with a random CLT of `--features` per layer whose
//      thresholds are set from the prompt so that about `--l0` features are active per token summed
//      over layers (Ameisen et al. report L0 ≈ 88 for their 18-layer CLT).
//
//   npm run bench:attribution [-- --features 4096 --l0 100 --tokens 20 --batch 64 --skip-demo]
//                             [-- --demo-model DIR --demo-clt DIR]   (other demo locations)
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { engineProfile } from "../src/attribution/engine.ts";
import { attribute, type CltLike, preActivations } from "../src/attribution/index.ts";
import { hasNativeGemm, initBackend } from "../src/backend/index.ts";
import {
  graphScores,
  prunedGraphScores,
  pruneGraph,
  toCircuitTracerJson,
  writeCircuitTracerJson,
  writeGraphBinary,
} from "../src/graph/index.ts";
import { gpt2SmallConfig, randomGpt2 } from "./util.ts";

const { values: args } = parseArgs({
  options: {
    features: { type: "string", default: "4096" },
    l0: { type: "string", default: "100" },
    tokens: { type: "string", default: "20" },
    batch: { type: "string", default: "64" },
    "max-feature-nodes": { type: "string", default: "7500" },
    "skip-demo": { type: "boolean", default: false },
    "demo-model": { type: "string" },
    "demo-clt": { type: "string" },
    "skip-gpt2": { type: "boolean", default: false },
  },
});
const T = Number(args.tokens);
const F = Number(args.features);
const L0 = Number(args.l0);
const batchSize = Number(args.batch);
const maxFeatureNodes = Number(args["max-feature-nodes"]);

const info = await initBackend(undefined, { quiet: true });
console.log(`backend: ${info.description}; attribution GEMM: ${hasNativeGemm ? "nblas sgemm" : "plain JS"}`);

function report(name: string, r: Awaited<ReturnType<typeof attribute>>, seconds: number, target: number): void {
  const t = Object.entries(r.stats.timings)
    .map(([k, v]) => `${k} ${v.toFixed(2)}s`)
    .join(", ");
  console.log(
    `${name}: ${seconds.toFixed(2)} s for ${r.stats.nPositions} positions, ${r.stats.nActiveFeatures} active features ` +
      `(${r.stats.nSelectedFeatures} rows), ${r.stats.nLogits} logits — target < ${target} s: ${seconds < target ? "met" : "NOT met"}`,
  );
  console.log(`  phases: ${t}`);
  const p = engineProfile;
  console.log(
    `  edge rows: readout ${p.readout.toFixed(2)}s, attention backward ${p.attention.toFixed(2)}s (heads ${p.heads.toFixed(2)}s, LN ${p.layerNorm.toFixed(2)}s), ${p.batches} batches, ${p.rowsTimesLayers} row-layers`,
  );
  for (const k of Object.keys(p) as (keyof typeof p)[]) p[k] = 0;
  // Pruning, scores and both output files (not part of the graph-building time above).
  const t0 = performance.now();
  const prune = pruneGraph(r.graph);
  const full = graphScores(r.graph);
  const pruned = prunedGraphScores(r.graph, prune.nodeMask);
  const json = toCircuitTracerJson(r.graph, prune, { slug: "bench", scan: "bench" });
  const dir = mkdtempSync(join(tmpdir(), "atlas-bench-"));
  writeCircuitTracerJson(join(dir, "g.json"), json);
  writeGraphBinary(join(dir, "g.graph.safetensors"), r.graph);
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `  prune + scores + JSON + side file: ${((performance.now() - t0) / 1000).toFixed(2)} s; ${json.nodes.length} nodes, ` +
      `${json.links.length} links kept; replacement/completeness ${full.replacement.toFixed(3)}/${full.completeness.toFixed(3)} ` +
      `(pruned ${pruned.replacement.toFixed(3)}/${pruned.completeness.toFixed(3)})`,
  );
  if (r.additivity) {
    console.log(
      `  additivity: max residual feature ${r.additivity.maxFeatureResidual.toExponential(2)}, logit ${r.additivity.maxLogitResidual.toExponential(2)}, relative ${r.additivity.maxRelativeResidual.toExponential(2)}`,
    );
  }
}

// 1. Demo model + demo CLT.
const assets = join(import.meta.dirname, "..", "assets");
const demoModel = args["demo-model"] ?? join(assets, "demo-model");
const demoClt = args["demo-clt"] ?? join(assets, "demo-clt");
if (!args["skip-demo"]) {
  if (existsSync(join(demoModel, "config.json")) && existsSync(demoClt)) {
    const { loadModel } = await import("../src/model/index.ts");
    const { loadCltRun } = await import("../src/attribution/load.ts");
    const model = await loadModel(demoModel);
    const clt = loadCltRun(demoClt);
    // 20 tokens with BOS.
    const prompt = "The siege lasted from the year 1711 to the year 17, and the treaty from 1732";
    await attribute(model, clt, prompt, { checkAdditivity: false, maxFeatureNodes: 50 }); // warm-up
    for (const k of Object.keys(engineProfile) as (keyof typeof engineProfile)[]) engineProfile[k] = 0;
    const t0 = performance.now();
    const r = await attribute(model, clt, prompt, { batchSize, maxFeatureNodes });
    report("demo model", r, (performance.now() - t0) / 1000, 2);
  } else {
    console.log("demo model: skipped (pipeline/assets/demo-model or demo-clt not present)");
  }
}

// 2. GPT-2-small-shaped random model + random CLT.
if (!args["skip-gpt2"]) {
  const config = gpt2SmallConfig();
  const model = randomGpt2(config, 1);
  const ids = [50256, ...Array.from({ length: T - 1 }, (_, t) => (t * 104729 + 7919) % 50000)];
  const { nLayers: L, dModel: d } = config;

  let seed = 12345;
  const gauss = (n: number, scale: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      const u = (seed + 1) / 4294967297;
      seed = (seed * 1664525 + 1013904223) >>> 0;
      const v = seed / 4294967296;
      const r = Math.sqrt(-2 * Math.log(u)) * scale;
      out[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
    return out;
  };
  const t0 = performance.now();
  const clt: CltLike = {
    shape: { nLayers: L, dModel: d, nFeatures: F },
    wEnc: Array.from({ length: L }, () => gauss(F * d, 1 / Math.sqrt(d))),
    bEnc: Array.from({ length: L }, () => new Float32Array(F)),
    threshold: Array.from({ length: L }, () => new Float32Array(F)),
    wDec: Array.from({ length: L }, (_, l) => gauss(F * (L - l) * d, 0.02)),
    bDec: Array.from({ length: L }, () => new Float32Array(d)),
  };
  // Thresholds: per layer, the value that leaves ≈ L0/L features active per position ≥ 1.
  const names = Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_mid`);
  const { logits, cache } = model.run([ids], { cache: names });
  logits!.dispose();
  const perLayer = Math.max(1, Math.round(L0 / L));
  for (let l = 0; l < L; l++) {
    const x = cache[names[l]!]!.dataSync() as Float32Array;
    cache[names[l]!]!.dispose();
    const pre = preActivations(clt, l, x, T).subarray(F);
    const sorted = Float32Array.from(pre).sort();
    clt.threshold[l]!.fill(sorted[sorted.length - perLayer * (T - 1)]! - 1e-6);
  }
  console.log(
    `random CLT: ${F} features/layer, ≈${perLayer * L} active per token, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const t1 = performance.now();
  const r = await attribute(model, clt, ids, { batchSize, maxFeatureNodes });
  report("GPT-2-small-shaped random model", r, (performance.now() - t1) / 1000, 60);
}
