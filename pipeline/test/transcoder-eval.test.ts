// CLT evaluation metrics with known answers (synthetic arrays and a tiny random GPT-2), the
// inference API (encode / reconstruct) against float64 plain TS, and training through model hooks.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Rng } from "@circuit-atlas/util";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend/index.ts";
import { openCorpus } from "../src/data/index.ts";
import { GPT2, type GPT2Config, parameterShapes, saveModel } from "../src/model/index.ts";
import { BOS_ID, encode } from "../src/tokenizer/index.ts";
import { CLT } from "../src/transcoder/clt.ts";
import { parseTrainConfig } from "../src/transcoder/config.ts";
import { evalClt, ReconstructionMetrics, ReplacementMetrics } from "../src/transcoder/eval.ts";
import { HarvestSource, harvestBatch } from "../src/transcoder/harvest.ts";
import type { CltWeights } from "../src/transcoder/params.ts";
import { trainClt } from "../src/transcoder/train.ts";

await initBackend(undefined, { quiet: true });
const root = mkdtempSync(join(tmpdir(), "clt-eval-"));
after(() => rmSync(root, { recursive: true, force: true }));

const text = Array.from(
  { length: 40 },
  (_, i) =>
    `Paragraph ${i}: the year ${1700 + i * 7} came after the war of ${1650 + i}; numbers ${i * 13} and ${i * 29}.`,
).join("\n\n");
// compact vocabulary: exactly the GPT-2 tokens of the corpus (+ BOS), so logits stay small
const vocab = Int32Array.from(new Set([BOS_ID, ...encode(text)]));
const config: GPT2Config = {
  nLayers: 2,
  nHeads: 2,
  dModel: 16,
  dHead: 8,
  dMlp: 32,
  nCtx: 32,
  vocabSize: vocab.length,
  lnEps: 1e-5,
};

function randomModel(seed: number, constantMlp = false): GPT2 {
  const rng = new Rng(seed);
  const w: Record<string, tf.Tensor> = {};
  for (const [name, shape] of parameterShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    if (/ln_\d\.weight|ln_f\.weight/.test(name)) v = new Float32Array(n).fill(1);
    else if (constantMlp && /mlp\.c_(fc|proj)\.weight/.test(name)) v = new Float32Array(n);
    else v = Float32Array.from({ length: n }, () => rng.normal() * (/bias/.test(name) && !constantMlp ? 0.02 : 0.2));
    w[name] = tf.tensor(v, shape);
  }
  return new GPT2(config, w, vocab);
}

const corpusPath = join(root, "c.txt");
writeFileSync(corpusPath, text);

function zeroClt(F: number): CltWeights {
  const { nLayers: L, dModel: d } = config;
  return {
    shape: { nLayers: L, dModel: d, nFeatures: F },
    wEnc: Array.from({ length: L }, () => new Float32Array(F * d)),
    bEnc: Array.from({ length: L }, () => new Float32Array(F)),
    threshold: Array.from({ length: L }, () => new Float32Array(F).fill(1e9)),
    wDec: Array.from({ length: L }, (_, l) => new Float32Array(F * (L - l) * d)),
    bDec: Array.from({ length: L }, () => new Float32Array(d)),
  };
}

test("ReconstructionMetrics: exact reconstruction → FVU 0, mean predictor → FVU 1, hand-computed L0 and dead", () => {
  const m = new ReconstructionMetrics(2, 2, 3);
  const y = [1, 2, 3, 5, -1, 0];
  const mean = [1, 7 / 3];
  m.add(0, 3, y, y, [0, 2, 0, 1, 0, 0, 0, 0, 0]);
  m.add(1, 3, y, [...mean, ...mean, ...mean], [1, 1, 1, 0, 0, 0, 1, 0, 3]);
  const r = m.result();
  assert.equal(r.fvu.per_layer[0], 0);
  assert.ok(Math.abs(r.fvu.per_layer[1]! - 1) < 1e-12, "Math.abs(r.fvu.per_layer[1]! - 1) < 1e-12");
  assert.deepEqual(r.l0.per_layer, [2 / 3, 5 / 3]);
  assert.equal(r.l0.total, 7 / 3);
  assert.deepEqual(r.dead_fraction.per_layer, [1 / 3, 0]);
});

test("ReplacementMetrics: identical models → top-1 1, KL 0, CE recovered 1; hand-computed case", () => {
  const lp = (p: number[]) => p.map(Math.log);
  const o = [...lp([0.7, 0.2, 0.1]), ...lp([0.1, 0.3, 0.6])];
  const z = [...lp([1 / 3, 1 / 3, 1 / 3]), ...lp([1 / 3, 1 / 3, 1 / 3])];
  const same = new ReplacementMetrics();
  same.add(3, o, o, z, [0, -1]);
  const s = same.result();
  assert.equal(s.top1_agreement, 1);
  assert.ok(Math.abs(s.kl) < 1e-15, "Math.abs(s.kl) < 1e-15");
  assert.equal(s.ce_recovered, 1);
  const r2 = [...lp([0.2, 0.7, 0.1]), ...lp([0.1, 0.3, 0.6])];
  const m = new ReplacementMetrics();
  m.add(3, o, r2, z, [0, 2]);
  const r = m.result();
  assert.equal(r.top1_agreement, 0.5);
  const kl0 = 0.7 * Math.log(0.7 / 0.2) + 0.2 * Math.log(0.2 / 0.7);
  assert.ok(Math.abs(r.kl - kl0 / 2) < 1e-12, "Math.abs(r.kl - kl0 / 2) < 1e-12");
  const ce = {
    orig: -(Math.log(0.7) + Math.log(0.6)) / 2,
    repl: -(Math.log(0.2) + Math.log(0.6)) / 2,
    zero: Math.log(3),
  };
  assert.ok(
    Math.abs(r.ce_recovered - (ce.zero - ce.repl) / (ce.zero - ce.orig)) < 1e-12,
    "Math.abs(r.ce_recovered - (ce.zero - ce.repl) / (ce.zero - ce.orig)) < 1e-12",
  );
});

test("CLT.encode / reconstruct match a float64 plain-TS computation", () => {
  const { nLayers: L, dModel: d } = config;
  const F = 8;
  const rng = new Rng(4);
  const w = zeroClt(F);
  for (let l = 0; l < L; l++) {
    w.wEnc[l]!.set(Float32Array.from({ length: F * d }, () => rng.normal()));
    w.bEnc[l]!.set(Float32Array.from({ length: F }, () => rng.normal()));
    w.threshold[l]!.set(Float32Array.from({ length: F }, () => rng.next()));
    w.wDec[l]!.set(Float32Array.from({ length: F * (L - l) * d }, () => rng.normal()));
    w.bDec[l]!.set(Float32Array.from({ length: d }, () => rng.normal()));
  }
  const clt = new CLT(w);
  const n = 5;
  const xs = Array.from({ length: L }, () => Float32Array.from({ length: n * d }, () => rng.normal()));
  const acts = xs.map((x, l) => clt.encode(l, tf.tensor2d(x, [n, d])));
  const rec = clt.reconstruct(acts.map((a) => a.acts));
  const want64: number[][] = Array.from({ length: L }, (_, j) =>
    Array.from({ length: n * d }, (_, q) => w.bDec[j]![q % d]!),
  );
  for (let l = 0; l < L; l++) {
    const pre = acts[l]!.pre.dataSync();
    const a = acts[l]!.acts.dataSync();
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < F; i++) {
        let z = w.bEnc[l]![i]!;
        for (let r = 0; r < d; r++) z += xs[l]![t * d + r]! * w.wEnc[l]![i * d + r]!;
        assert.ok(Math.abs(pre[t * F + i]! - z) < 1e-4, "Math.abs(pre[t * F + i]! - z) < 1e-4");
        const act = z > w.threshold[l]![i]! ? z : 0;
        assert.ok(Math.abs(a[t * F + i]! - act) < 1e-4, "Math.abs(a[t * F + i]! - act) < 1e-4");
        for (let k = 0; k < L - l; k++) {
          for (let r = 0; r < d; r++) want64[l + k]![t * d + r]! += act * w.wDec[l]![(i * (L - l) + k) * d + r]!;
        }
      }
    }
  }
  for (let j = 0; j < L; j++) {
    const got = rec[j]!.dataSync();
    for (const [q, v] of want64[j]!.entries()) {
      assert.ok(Math.abs(got[q]! - v) < 1e-3 * Math.max(1, Math.abs(v)), `layer ${j}`);
    }
    const arr = clt.reconstructLayerArray(
      j,
      xs.map((x, l) => clt.encodeArray(l, x, n).acts),
      n,
    );
    for (const [q, v] of want64[j]!.entries()) {
      assert.ok(Math.abs(arr[q]! - v) < 1e-3 * Math.max(1, Math.abs(v)), `array path, layer ${j}`);
    }
    const single = clt
      .reconstructLayer(
        j,
        acts.map((a) => a.acts),
      )
      .dataSync();
    assert.deepEqual(Array.from(single), Array.from(got));
  }
  assert.throws(() => clt.decoderTo(1, 0), /earlier layer/);
  assert.deepEqual(clt.decoder(1).outputLayers, [1]);
});

test("evalClt on a tiny GPT-2: known answers for a silent CLT and for an exact replacement", async () => {
  const corpus = await openCorpus(corpusPath);
  const nCtx = 16;
  // 1) a CLT that never fires and has b_dec = 0: replacement = zero-ablation → CE recovered 0;
  //    ŷ = 0 → FVU = Σ‖y‖² / Σ‖y − ȳ‖² computed here from the harvested activations.
  const model = randomModel(1);
  const silent = new CLT(zeroClt(8));
  const r = await evalClt({ clt: silent, model, corpus, tokens: 4 * (nCtx - 1), nCtx, batchContexts: 2 });
  assert.equal(r.tokens, 60);
  assert.ok(r.replacement.ce_recovered === 0, String(r.replacement.ce_recovered)); // ±0
  assert.deepEqual(r.l0.per_layer, [0, 0]);
  assert.equal(r.dead_fraction.mean, 1);
  const { contexts } = await import("../src/data/index.ts");
  const ctxs = await contexts(corpus, { nCtx }).nextBatch(4);
  const h = harvestBatch(model, ctxs);
  const { nLayers: L, dModel: d } = config;
  for (let j = 0; j < L; j++) {
    let s2 = 0;
    const mu = new Float64Array(d);
    for (let t = 0; t < h.n; t++) {
      for (let q = 0; q < d; q++) {
        const v = h.y[t * L * d + j * d + q]!;
        s2 += v * v;
        mu[q]! += v / h.n;
      }
    }
    let c = 0;
    for (let t = 0; t < h.n; t++) for (let q = 0; q < d; q++) c += (h.y[t * L * d + j * d + q]! - mu[q]!) ** 2;
    assert.ok(
      Math.abs(r.fvu.per_layer[j]! - s2 / c) < 1e-4 * (s2 / c),
      `layer ${j}: ${r.fvu.per_layer[j]} vs ${s2 / c}`,
    );
  }
  // 2) a model whose MLPs output a constant v_j; a CLT with b_dec = v_j reconstructs them exactly:
  //    top-1 agreement 1, KL 0, CE recovered 1 (zero-ablation does change the output).
  const constModel = randomModel(2, true);
  const w = zeroClt(8);
  for (let j = 0; j < L; j++) w.bDec[j]!.set(constModel.weights[`h.${j}.mlp.c_proj.bias`]!.dataSync() as Float32Array);
  const exact = await evalClt({ clt: new CLT(w), model: constModel, corpus, tokens: 60, nCtx, batchContexts: 4 });
  assert.equal(exact.replacement.top1_agreement, 1);
  assert.ok(Math.abs(exact.replacement.kl) < 1e-6, `kl ${exact.replacement.kl}`);
  assert.ok(Math.abs(exact.replacement.ce_recovered - 1) < 1e-4, `ce ${exact.replacement.ce_recovered}`);
  assert.ok(
    Math.abs(exact.ce.zero - exact.ce.orig) > 1e-3,
    `zero-ablation CE ${exact.ce.zero} = orig ${exact.ce.orig}`,
  );
  // shape mismatch is one clear error
  const wrong = new CLT({ ...zeroClt(8), shape: { nLayers: 3, dModel: 16, nFeatures: 8 } });
  await assert.rejects(evalClt({ clt: wrong, model, corpus, tokens: 10, nCtx }), /does not match the model/);
});

test("training through model hooks (harvest source) on a tiny GPT-2 runs and writes a loadable CLT", async () => {
  const model = randomModel(3);
  const dir = join(root, "model");
  saveModel(dir, config, model.weights, vocab);
  const corpus = await openCorpus(corpusPath);
  const source = new HarvestSource(model, corpus, { nCtx: 16, batchContexts: 3, contextShuffle: 4, seed: 0 });
  const run = join(root, "run");
  const res = await trainClt({
    config: parseTrainConfig({
      model: dir,
      corpus: corpusPath,
      featuresPerLayer: 32,
      tokens: 32 * 8,
      batchTokens: 32,
      bufferTokens: 100,
      initTokens: 100,
      checkpointEvery: 3,
      logEvery: 2,
    }),
    outDir: run,
    source,
  });
  assert.equal(res.steps, 8);
  const clt = CLT.load(run);
  assert.deepEqual(clt.shape, { nLayers: 2, dModel: 16, nFeatures: 32 });
  const e = await evalClt({ clt, model, corpus, tokens: 30, nCtx: 16 });
  for (const v of [e.fvu.mean, e.l0.total, e.replacement.kl, e.replacement.top1_agreement])
    assert.ok(Number.isFinite(v), "Number.isFinite(v)");
});
