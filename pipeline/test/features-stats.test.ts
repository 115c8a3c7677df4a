// Feature statistics against an independent brute-force computation on a tiny random model + CLT:
// every activation of the pass is kept in memory (tfjs CLT.encode, not the Float32 fast path) and
// density, moments, top-k peaks, histogram, example windows, negatives and logit effects are
// recomputed directly. Also: an interrupted + resumed pass writes the same files.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { contexts, openCorpus, Rng } from "../src/data/index.ts";
import {
  computeFeatureStats,
  type FeatureStats,
  type FeatureStatsParams,
  readFeatureManifest,
  readFeatureStats,
} from "../src/features/index.ts";
import { GPT2 } from "../src/model/index.ts";
import { CLT } from "../src/transcoder/index.ts";
import { randomClt } from "./attribution-helpers.ts";
import { corpusModelWeights } from "./helpers/random-gpt2.ts";

const text = Array.from(
  { length: 60 },
  (_, i) =>
    `Item ${i}: the war lasted from ${1700 + ((i * 37) % 90)} to ${1790 + (i % 9)}; a red fox saw ${i * 11} birds.`,
).join("\n\n");
const rng = new Rng(3);
const { config, weights, vocab } = corpusModelWeights(text, { nLayers: 2, dModel: 16, nCtx: 16 }, () => rng.normal(), {
  scale: 0.3,
  gainNoise: 0.2,
});
const model = new GPT2(config, weights, vocab);
const F = 24;
const L = config.nLayers;
const T = config.nCtx;
const clt = new CLT(randomClt(5, L, config.dModel, F, 0.4));
const params: FeatureStatsParams = {
  topK: 5,
  nQuantiles: 4,
  perQuantile: 3,
  nNegatives: 5,
  windowBefore: 4,
  windowAfter: 2,
  histogramBins: 16,
  logitsK: 5,
  seed: 0,
};
const root = mkdtempSync(join(tmpdir(), "feat-stats-"));
const corpusPath = join(root, "c.txt");
writeFileSync(corpusPath, text);
const TOKENS = 40 * (T - 1);

async function runStats(runDir: string, extra: { stopAfterBatches?: number; resume?: boolean } = {}) {
  return computeFeatureStats({
    clt,
    model,
    corpus: await openCorpus(corpusPath),
    corpusPath,
    runDir,
    transcoderId: "tiny",
    modelDir: null,
    tokens: TOKENS,
    batchContexts: 4,
    params,
    quiet: true,
    checkpointEverySec: 3600,
    ...extra,
  });
}

/** acts[l][c][p][i] for every context c and position p ≥ 1 (index p−1), via tfjs model.run + CLT.encode. */
async function bruteForce(): Promise<{ ctxs: Int32Array[]; acts: number[][][][] }> {
  const corpus = await openCorpus(corpusPath);
  const ctxs = await contexts(corpus, { nCtx: T, seed: 0 }).nextBatch(TOKENS / (T - 1));
  const acts: number[][][][] = Array.from({ length: L }, () => []);
  for (const c of ctxs) {
    const ids = [model.toModelIds(Array.from(c))];
    const { cache, logits } = model.run(ids, { cache: (n) => n.endsWith("hook_resid_mid") });
    logits?.dispose();
    for (let l = 0; l < L; l++) {
      const x = cache[`blocks.${l}.hook_resid_mid`]!;
      const { pre, acts: a } = clt.encode(l, x);
      const rows = (a.arraySync() as number[][][])[0]!;
      acts[l]!.push(rows.slice(1));
      pre.dispose();
      a.dispose();
    }
    for (const t of Object.values(cache)) t.dispose();
  }
  return { ctxs, acts };
}

test("feature stats match a brute-force computation on a tiny CLT", async () => {
  const runDir = join(root, "run");
  const r = await runStats(runDir);
  assert.ok(r.finished && r.manifest);
  const { ctxs, acts } = await bruteForce();
  assert.equal(r.manifest.tokensSeen, ctxs.length * (T - 1));
  const got: FeatureStats[] = [];
  for await (const s of readFeatureStats(runDir)) got.push(s);
  assert.equal(got.length, L * F);
  const close = (a: number, b: number, tol: number, what: string) =>
    assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  let live = 0;
  const gamma = model.weights["ln_f.weight"]!.arraySync() as number[];
  const wU = model.weights["wte.weight"]!.arraySync() as number[][];
  for (const s of got) {
    const { layer: l, featureIndex: i } = s;
    const vals: number[] = [];
    const peaks: number[] = [];
    acts[l]!.forEach((rows) => {
      const a = rows.map((row) => row[i]!);
      for (const v of a) if (v > 0) vals.push(v);
      const m = Math.max(...a);
      if (m > 0) peaks.push(m);
    });
    const n = vals.length;
    if (n > 0) live++;
    assert.equal(s.activeTokens, n, `${s.featureId} activeTokens`);
    assert.equal(s.activeContexts, peaks.length, `${s.featureId} activeContexts`);
    close(s.density, n / (ctxs.length * (T - 1)), 1e-12, "density");
    if (n === 0) {
      assert.equal(s.topExamples.length, 0);
      continue;
    }
    const mean = vals.reduce((a, b) => a + b, 0) / n;
    const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
    close(s.maxActivation, Math.max(...vals), 1e-3, "max");
    close(s.minActivation, Math.min(...vals), 1e-3, "min");
    close(s.meanActivation, mean, 1e-3, "mean");
    close(s.stdActivation, std, 2e-3, "std");
    // histogram: recount with the reported bin width
    const w = s.histogram.binWidth;
    const counts = new Array(s.histogram.counts.length).fill(0);
    for (const v of vals) counts[Math.floor(v / w)]++;
    assert.deepEqual(s.histogram.counts, counts, `${s.featureId} histogram`);
    assert.ok(Math.max(...vals) < w * counts.length);
    // top-k: the k largest per-context peaks, strongest first, windows from the corpus
    const wantTop = [...peaks].sort((a, b) => b - a).slice(0, params.topK);
    s.topExamples.forEach((e, j) => {
      close(e.maxActivation, wantTop[j]!, 1e-3, `${s.featureId} top ${j}`);
    });
    const checkWindow = (e: FeatureStats["topExamples"][number], zero: boolean) => {
      const c = ctxs[e.contextIndex]!;
      assert.deepEqual(e.tokenIds, Array.from(c.subarray(e.start, e.start + e.tokenIds.length)), "window tokens");
      e.acts.forEach((a, j) => {
        const truth = acts[l]![e.contextIndex]![e.start + j - 1]![i]!;
        if (zero) assert.ok(!(truth > 0), "negatives have no activation");
        // per-token activations are quantized to 1/255 of the window's maximum
        else
          assert.ok(
            Math.abs(a - truth) <= Math.max(...e.acts) / 255 + 1e-3 * truth,
            `${s.featureId} act ${a} vs ${truth}`,
          );
        if (!zero) assert.equal(a > 0, truth > 0, "activity preserved");
      });
    };
    for (const e of s.topExamples) checkWindow(e, false);
    // quantile samples: min(n, R) real activating tokens, intervals ascending
    const q = s.quantiles.flatMap((g) => g.examples);
    assert.equal(q.length, Math.min(n, params.nQuantiles * params.perQuantile));
    for (const e of q) {
      checkWindow(e, false);
      close(e.maxActivation, acts[l]![e.contextIndex]![e.start + e.maxIndex - 1]![i]!, 1e-3, "quantile sample value");
    }
    for (let g = 1; g < s.quantiles.length; g++) assert.ok(s.quantiles[g]!.lower >= s.quantiles[g - 1]!.upper);
    for (const e of s.negativeExamples) checkWindow(e, true);
    // logit effects: Σ_j W_dec[ℓ→j], centred, × γ, through W_U (float64 here)
    const u = new Array(config.dModel).fill(0);
    for (let j = 0; j < L - l; j++)
      for (let c = 0; c < config.dModel; c++) u[c] += clt.weights.wDec[l]![(i * (L - l) + j) * config.dModel + c]!;
    const mu = u.reduce((a, b) => a + b, 0) / u.length;
    const eff = wU.map((row) => row.reduce((acc, wv, c) => acc + wv * (u[c]! - mu) * gamma[c]!, 0));
    const order = eff.map((v, r) => [v, r] as const).sort((a, b) => b[0] - a[0]);
    s.logits.top.forEach((t, j) => {
      close(t.value, order[j]![0], 1e-3, "top logit");
      assert.equal(t.tokenId, vocab[order[j]![1]]);
    });
    close(s.logits.bottom[0]!.value, order[order.length - 1]![0], 1e-3, "bottom logit");
  }
  assert.ok(live > 10, `only ${live} live features: the fixture should activate many`);
  assert.equal(
    readFeatureManifest(runDir).layers.reduce((a, e) => a + e.live, 0),
    live,
  );
});

test("feature stats: an interrupted and resumed pass writes the same files", async () => {
  const a = join(root, "a");
  const b = join(root, "b");
  await runStats(a);
  const first = await runStats(b, { stopAfterBatches: 3 });
  assert.equal(first.finished, false);
  assert.throws(() => readFeatureManifest(b), /not found/);
  const resumed = await runStats(b, { resume: true });
  assert.ok(resumed.finished);
  for (let l = 0; l < L; l++) {
    const fa = gunzipSync(readFileSync(join(a, "features", `layer-${l}.jsonl.gz`))).toString();
    const fb = gunzipSync(readFileSync(join(b, "features", `layer-${l}.jsonl.gz`))).toString();
    assert.equal(fb, fa, `layer ${l} differs after resume`);
  }
  assert.equal(readFeatureManifest(b).tokensSeen, readFeatureManifest(a).tokensSeen);
});
