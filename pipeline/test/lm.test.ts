import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend/index.ts";
import { HELDOUT_NOUNS, TRAIN_NOUNS, WAR_PROMPT } from "../src/data/demo-corpus.ts";
import { Rng } from "../src/data/rng.ts";
import {
  AdamW,
  CompactVocab,
  clipGradients,
  crossEntropy,
  demoCompactVocab,
  greaterThanDataset,
  greaterThanEval,
  learningRate,
  probabilityDifference,
  promptEval,
  type TrainLmOptions,
  trainLm,
  twoDigitTokenIds,
  warPromptEval,
} from "../src/lm/index.ts";
import { fmtTime } from "../src/lm/progress.ts";
import { maskWordsWithUnk } from "../src/lm/unk.ts";
import { loadModel } from "../src/model/load.ts";
import { readSafetensors } from "../src/safetensors/index.ts";
import { BOS_ID, decode, decodeToken, encode, encodeWithBos, UNK_ID } from "../src/tokenizer/index.ts";

const tmp = mkdtempSync(join(tmpdir(), "atlas-lm-"));
const DEMO = join(import.meta.dirname, "..", "assets", "demo-model");
before(async () => {
  await initBackend(undefined, { quiet: true });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// Optimisation pieces against float64 re-computations

test("crossEntropy: value and gradient equal a float64 softmax cross-entropy", () => {
  const N = 5;
  const V = 7;
  const z = Array.from({ length: N * V }, (_, i) => Math.sin(i * 1.7) * 4);
  const targets = Int32Array.from([0, 6, 3, 3, 1]);
  let want = 0;
  const wantGrad = new Float64Array(N * V);
  for (let i = 0; i < N; i++) {
    const row = z.slice(i * V, (i + 1) * V);
    const lse = Math.log(row.reduce((s, x) => s + Math.exp(x), 0));
    want += (lse - (row[targets[i] as number] as number)) / N;
    for (let j = 0; j < V; j++) {
      wantGrad[i * V + j] = (Math.exp((row[j] as number) - lse) - (j === targets[i] ? 1 : 0)) / N;
    }
  }
  const logits = tf.tensor2d(z, [N, V]);
  const loss = crossEntropy(logits, targets).dataSync()[0] as number;
  assert.ok(Math.abs(loss - want) < 1e-5, `${loss} vs ${want}`);
  const grad = tf
    .grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor2D, targets).mul(3))(logits)
    .dataSync();
  for (let k = 0; k < N * V; k++) assert.ok(Math.abs((grad[k] as number) - 3 * (wantGrad[k] as number)) < 1e-6);
  // Same as tfjs' own op.
  const ref = tf.losses
    .softmaxCrossEntropy(tf.oneHot(tf.tensor1d(targets, "int32"), V), logits)
    .dataSync()[0] as number;
  assert.ok(Math.abs(loss - ref) < 1e-5);
});

test("AdamW: two steps equal a float64 re-computation; decay only where asked", () => {
  const cfg = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const opt = new AdamW(cfg, (n) => n === "w");
  const params = new Map([
    ["w", Float32Array.from([0.5, -1, 2])],
    ["b", Float32Array.from([0.1, 0.2, 0.3])],
  ]);
  const g1 = new Map([
    ["w", Float32Array.from([0.1, -0.2, 0.3])],
    ["b", Float32Array.from([1, 0, -1])],
  ]);
  const g2 = new Map([
    ["w", Float32Array.from([-0.3, 0.1, 0.2])],
    ["b", Float32Array.from([0.5, 0.5, 0.5])],
  ]);
  const ref = (p0: number[], gs: number[][], wd: number, lrs: number[]) => {
    const p = [...p0];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    gs.forEach((g, s) => {
      const t = s + 1;
      for (let i = 0; i < 3; i++) {
        m[i] = 0.9 * (m[i] as number) + 0.1 * (g[i] as number);
        v[i] = 0.95 * (v[i] as number) + 0.05 * (g[i] as number) ** 2;
        const mh = (m[i] as number) / (1 - 0.9 ** t);
        const vh = (v[i] as number) / (1 - 0.95 ** t);
        p[i] = (p[i] as number) - (lrs[s] as number) * (mh / (Math.sqrt(vh) + 1e-8) + wd * (p[i] as number));
      }
    });
    return p;
  };
  opt.step(params, g1, 0.01);
  opt.step(params, g2, 0.005);
  const w = ref([0.5, -1, 2], [Array.from(g1.get("w")!), Array.from(g2.get("w")!)], 0.1, [0.01, 0.005]);
  const b = ref([0.1, 0.2, 0.3], [Array.from(g1.get("b")!), Array.from(g2.get("b")!)], 0, [0.01, 0.005]);
  params.get("w")!.forEach((x, i) => {
    assert.ok(Math.abs(x - (w[i] as number)) < 1e-6);
  });
  params.get("b")!.forEach((x, i) => {
    assert.ok(Math.abs(x - (b[i] as number)) < 1e-6);
  });
  assert.equal(opt.t, 2);
  // Frozen rows are left exactly as they are (no step, no decay).
  const frozen = new AdamW(cfg, () => true);
  frozen.frozenRows.set("e", { rowSize: 2, frozen: Uint8Array.from([0, 1]) });
  const e = new Map([["e", Float32Array.from([1, 2, 3, 4])]]);
  frozen.step(e, new Map([["e", Float32Array.from([1, 1, 1, 1])]]), 0.1);
  assert.deepEqual(Array.from(e.get("e")!.slice(2)), [3, 4]);
  assert.ok(e.get("e")![0]! < 1 && e.get("e")![1]! < 2);
});

test("clipGradients and the warmup + cosine schedule", () => {
  const g = new Map([
    ["a", Float32Array.from([3, 0])],
    ["b", Float32Array.from([0, 4])],
  ]);
  assert.ok(Math.abs(clipGradients(g, 1) - 5) < 1e-9);
  assert.ok(Math.abs(Math.hypot(...g.get("a")!, ...g.get("b")!) - 1) < 1e-5);
  assert.ok(Math.abs(g.get("a")![0]! / g.get("b")![1]! - 0.75) < 1e-6);
  const small = new Map([["a", Float32Array.from([0.3, 0.4])]]);
  clipGradients(small, 1);
  assert.deepEqual(Array.from(small.get("a")!), [Math.fround(0.3), Math.fround(0.4)]);
  assert.equal(learningRate(0, 100, 1, 10, 0.1), 0.1);
  assert.equal(learningRate(9, 100, 1, 10, 0.1), 1);
  assert.ok(Math.abs(learningRate(10, 100, 1, 10, 0.1) - 1) < 1e-12);
  assert.ok(Math.abs(learningRate(55, 100, 1, 10, 0.1) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(100, 100, 1, 10, 0.1) - 0.1) < 1e-12);
  // Progress times round once (839.8 s is 14m00s, not 13m60s).
  assert.equal(fmtTime(839.8), "14m00s");
  assert.equal(fmtTime(59.6), "1m00s");
  assert.equal(fmtTime(125.2), "2m05s");
  assert.equal(fmtTime(7.4), "7s");
});

// ---------------------------------------------------------------------------------------------
// Vocabulary and eval

test("demo vocabulary: covers the texts, round-trips ids, unknown tokens → <unk> (or an error without it)", () => {
  const texts = ["The siege lasted from the year 1732 to the year 1745.", "Apples cost 3 dollars."];
  const v = demoCompactVocab(texts);
  assert.ok(v.has(BOS_ID));
  assert.ok(v.has(UNK_ID));
  assert.equal(v.unkRow, v.size - 1); // UNK_ID sorts last
  const zanzibar = encode(" Zanzibar");
  assert.ok(zanzibar.every((id) => !v.has(id)));
  const rows = v.toModel([BOS_ID, ...zanzibar, ...encode(" lasted")]);
  assert.deepEqual(
    Array.from(rows.subarray(1, 1 + zanzibar.length)),
    zanzibar.map(() => v.unkRow),
  );
  assert.deepEqual(Array.from(v.toGpt2(rows)).map(decodeToken), [
    "<|endoftext|>",
    ...zanzibar.map(() => "<unk>"),
    " lasted",
  ]);
  assert.throws(
    () => demoCompactVocab(texts, false).toModel(zanzibar),
    /not in the model's compact vocabulary \(\d+ tokens, no <unk> row\)/,
  );
  for (const id of twoDigitTokenIds()) assert.ok(v.has(id));
  assert.deepEqual(
    Array.from(v.gpt2Ids),
    [...v.gpt2Ids].sort((a, b) => a - b),
  );
  for (const t of texts) {
    const ids = encode(t);
    const rows = v.toModel(ids);
    assert.ok(rows.every((r) => r >= 0 && r < v.size));
    assert.deepEqual(Array.from(v.toGpt2(rows)), ids);
  }
  assert.throws(() => v.toGpt2([v.size]), /outside/);
  assert.throws(() => new CompactVocab([5, 5]), /appears twice/);
  assert.deepEqual(twoDigitTokenIds().slice(30, 33).map(decodeToken), ["30", "31", "32"]);
});

test("maskWordsWithUnk: whole words become <unk>, digits/punctuation/BOS never, at about the given rate", () => {
  const text = "The siege of Antwerpen lasted from the year 1732 to the year 1745, said Mr Smith.";
  const ids = encodeWithBos(text);
  const all = maskWordsWithUnk(Int32Array.from(ids), 1, new Rng(1));
  assert.equal(decode(Array.from(all)).slice(0, 18), "<|endoftext|><unk>");
  // rate 1: every letter token is <unk>, everything else is untouched
  Array.from(all).forEach((id, i) => {
    const word = /^ ?[A-Za-z]/.test(decodeToken(ids[i]!));
    assert.equal(id, word ? UNK_ID : ids[i], `token ${i} ${JSON.stringify(decodeToken(ids[i]!))}`);
  });
  assert.deepEqual(Array.from(maskWordsWithUnk(Int32Array.from(ids), 0, new Rng(1))), ids);
  // A multi-token word is replaced whole: " Antwerpen" is several tokens, all <unk> or none.
  const ant = encode(" Antwerpen");
  assert.ok(ant.length > 1);
  const start = ids.findIndex((_id, i) => ant.every((a, j) => ids[i + j] === a));
  const rng = new Rng(7);
  let words = 0;
  let masked = 0;
  for (let k = 0; k < 400; k++) {
    const m = maskWordsWithUnk(Int32Array.from(ids), 0.1, rng);
    const span = Array.from(m.subarray(start, start + ant.length));
    assert.ok(span.every((x) => x === UNK_ID) || span.every((x, j) => x === ant[j]), `split word ${span}`);
    words += text.match(/[A-Za-z]+/g)!.length;
    for (let i = 0; i < m.length; i++) {
      if (m[i] === UNK_ID && (i === 0 || m[i - 1] !== UNK_ID || /^ /.test(decodeToken(ids[i]!)))) masked++;
    }
  }
  assert.ok(Math.abs(masked / words - 0.1) < 0.02, `masked fraction ${masked / words}`);
});

test("probabilityDifference and the greater-than dataset", () => {
  const uniform = new Array(100).fill(0.01);
  const r = probabilityDifference(uniform, 32);
  assert.ok(Math.abs(r.pd - (67 - 33) / 100) < 1e-12);
  assert.ok(Math.abs(r.sharpness) < 1e-12);
  const ideal = Array.from({ length: 100 }, (_, z) => (z === 33 ? 1 : 0));
  assert.deepEqual(probabilityDifference(ideal, 32), { pd: 1, sharpness: 1 });
  const items = greaterThanDataset({ n: 194, nouns: HELDOUT_NOUNS, seed: 1 });
  assert.equal(items.length, 194);
  assert.deepEqual(
    items.slice(0, 97).map((i) => i.yy),
    Array.from({ length: 97 }, (_, i) => i + 2),
  );
  for (const it of items) {
    assert.ok(HELDOUT_NOUNS.includes(it.noun));
    assert.equal(it.ids[0], BOS_ID);
    assert.equal(decodeToken(it.ids.at(-1)!), ` ${it.century}`);
  }
  assert.ok(items.some((it) => it.noun === "war"));
  // Goodfire's template: same (noun, century, YY) draws, the prompt ends "… {XX}{YY} to {XX}".
  const g = greaterThanDataset({ n: 194, nouns: HELDOUT_NOUNS, seed: 1, template: "goodfire" });
  assert.deepEqual(
    g.map((it) => [it.noun, it.century, it.yy]),
    items.map((it) => [it.noun, it.century, it.yy]),
  );
  g.forEach((it, i) => {
    assert.deepEqual(it.ids.slice(-3).map(decodeToken), [String(it.yy).padStart(2, "0"), " to", ` ${it.century}`]);
    assert.deepEqual(items[i]!.ids.slice(-4).map(decodeToken), [" to", " the", " year", ` ${it.century}`]);
    assert.deepEqual(it.ids.slice(0, -2), items[i]!.ids.slice(0, -4));
  });
});

// ---------------------------------------------------------------------------------------------
// Training

const TINY: TrainLmOptions = {
  steps: 40,
  nLayers: 1,
  dModel: 32,
  nHeads: 2,
  nCtx: 16,
  batchSize: 8,
  lr: 3e-3,
  warmupSteps: 4,
  corpusTokens: 20_000,
  heldoutTokens: 2_000,
  shuffleBuffer: 16,
  evalEvery: 0,
  quiet: true,
  skipFinal: true,
};

test("a tiny training run lowers the loss", async () => {
  const r = await trainLm({ ...TINY, out: join(tmp, "tiny") });
  assert.equal(r.losses.length, 40);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(r.losses.slice(0, 5));
  const last = mean(r.losses.slice(-5));
  // Starts near ln(vocab) (uniform prediction) and drops clearly.
  assert.ok(Math.abs(r.losses[0]! - Math.log(r.vocabSize)) < 0.3, `${r.losses[0]} vs ln V ${Math.log(r.vocabSize)}`);
  assert.ok(last < first - 1, `first ${first}, last ${last}`);
  const metrics = readFileSync(join(tmp, "tiny", "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    metrics.map((m) => m.step),
    Array.from({ length: 40 }, (_, i) => i + 1),
  );
});

test("resuming from a checkpoint gives the same losses and weights as an uninterrupted run", async () => {
  const opts = { ...TINY, steps: 12, checkpointEvery: 4 };
  const full = await trainLm({ ...opts, out: join(tmp, "full") });
  const part1 = await trainLm({ ...opts, out: join(tmp, "split"), stopAfter: 5 });
  assert.equal(part1.step, 5);
  await assert.rejects(trainLm({ ...opts, out: join(tmp, "split") }), /already holds a training run/);
  await assert.rejects(trainLm({ ...opts, lr: 1e-3, out: join(tmp, "split"), resume: true }), /option lr/);
  const part2 = await trainLm({ ...opts, out: join(tmp, "split"), resume: true });
  assert.equal(part2.firstStep, 5);
  assert.deepEqual([...part1.losses, ...part2.losses], full.losses);
  const a = readSafetensors(join(tmp, "full", "checkpoint", "params.safetensors"));
  const b = readSafetensors(join(tmp, "split", "checkpoint", "params.safetensors"));
  for (const [name, t] of a.tensors) assert.deepEqual(b.tensors.get(name)?.data, t.data, name);
  const strip = (p: string) =>
    readFileSync(p, "utf8")
      .trim()
      .split("\n")
      .map((l) => ({ ...JSON.parse(l), sec: 0 }));
  assert.deepEqual(strip(join(tmp, "split", "metrics.jsonl")), strip(join(tmp, "full", "metrics.jsonl")));
  await assert.rejects(trainLm({ ...opts, out: join(tmp, "none"), resume: true }), /nothing to resume/);
});

test("export: the trained model is saved as an HF folder with its compact vocabulary", async () => {
  const out = join(tmp, "export");
  const r = await trainLm({ ...TINY, steps: 3, out, skipFinal: false, dtype: "F32" });
  assert.equal(r.modelDir, join(out, "model"));
  const model = await loadModel(r.modelDir!);
  assert.equal(model.config.vocabSize, r.vocabSize);
  assert.ok(model.vocab);
  const ids = encode("The siege lasted from the year 1732 to the year 17");
  assert.deepEqual(model.toGpt2Ids(model.toModelIds(ids)), ids);
  // The exported weights are the final checkpoint's.
  const ck = readSafetensors(join(out, "checkpoint", "params.safetensors"));
  assert.deepEqual(model.weights["h.0.mlp.c_fc.weight"]!.dataSync(), ck.tensors.get("param.h.0.mlp.c_fc.weight")?.data);
  // Embedding rows of tokens absent from the training text (held-out nouns) keep their initial
  // values: identical after 3 steps (this run) and 12 steps (the "full" run, same seed).
  const untrainedRow = model.toModelIds(encode(" siege"))[0]!;
  const trainedRow = model.toModelIds(encode(" The"))[0]!;
  const d = model.config.dModel;
  const wte12 = readSafetensors(join(tmp, "full", "checkpoint", "params.safetensors")).tensors.get("param.wte.weight")!
    .data as Float32Array;
  const wte3 = ck.tensors.get("param.wte.weight")!.data as Float32Array;
  const row = (w: Float32Array, r: number) => Array.from(w.subarray(r * d, (r + 1) * d));
  assert.deepEqual(row(wte3, untrainedRow), row(wte12, untrainedRow));
  assert.notDeepEqual(row(wte3, trainedRow), row(wte12, trainedRow));
  model.dispose();
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  assert.equal(summary.steps, 3);
  assert.equal(typeof summary.heldoutNouns.pd, "number");
});

// ---------------------------------------------------------------------------------------------
// The shipped demo model

test("the shipped demo model loads and solves greater-than on held-out nouns (PD ≥ 0.5)", async () => {
  assert.ok(existsSync(join(DEMO, "model.safetensors")), "assets/demo-model is missing");
  assert.ok(statSync(join(DEMO, "model.safetensors")).size < 5e6);
  const model = await loadModel(DEMO);
  assert.ok(model.vocab && model.vocab.length < 2000);
  const held = greaterThanEval(model, greaterThanDataset({ n: 97, nouns: HELDOUT_NOUNS, seed: 99 }));
  assert.ok(held.pd >= 0.5, `held-out PD ${held.pd}`);
  assert.ok(held.sharpness > 0, `sharpness ${held.sharpness}`);
  assert.ok(held.yearMass > 0.5, `year-token mass ${held.yearMass}`);
  // The prediction follows the start year: the expected end year ZZ moves up with YY.
  const items = greaterThanDataset({ n: 3 * 97, nouns: TRAIN_NOUNS, seed: 5 });
  const meanZZ = (yy: number) => {
    const sel = items.filter((i) => i.yy === yy);
    const r = greaterThanEval(model, sel);
    return (
      r.probs.reduce((s, p) => s + p.reduce((a, x, z) => a + x * z, 0) / p.reduce((a, x) => a + x, 0), 0) / sel.length
    );
  };
  const lo = meanZZ(10);
  const hi = meanZZ(80);
  assert.ok(lo > 10 && hi > 80 && hi - lo > 40, `E[ZZ | YY=10] = ${lo}, E[ZZ | YY=80] = ${hi}`);
  model.dispose();
});

test("the shipped demo model: Goodfire's template on held-out nouns and the war prompt", async () => {
  const model = await loadModel(DEMO);
  // " war" is in the compact vocabulary, so the exact headline prompt encodes (and round-trips).
  const ids = encodeWithBos(WAR_PROMPT);
  assert.deepEqual(model.toGpt2Ids(model.toModelIds(ids)), ids);
  const held = greaterThanEval(
    model,
    greaterThanDataset({ n: 97, nouns: HELDOUT_NOUNS, seed: 99, template: "goodfire" }),
  );
  assert.ok(held.pd >= 0.5, `held-out PD, "… to {XX}" template: ${held.pd}`);
  assert.ok(held.sharpness > 0, `sharpness ${held.sharpness}`);
  const war = warPromptEval(model);
  assert.equal(war.prompt, WAR_PROMPT);
  assert.equal(war.yy, 11);
  // The same prompt through the batched eval path gives the same distribution over "00".."99".
  const ref = greaterThanEval(model, [{ noun: "war", century: 17, yy: 11, ids }]);
  const p = ref.probs[0]!;
  let greater = 0;
  for (let z = 12; z < 100; z++) greater += p[z]!;
  assert.ok(Math.abs(war.pGreater - greater) < 1e-5, `${war.pGreater} vs ${greater}`);
  assert.ok(Math.abs(war.yearMass - ref.yearMass) < 1e-5);
  assert.ok(Math.abs(war.pd - ref.pd) < 1e-5);
  // Top-5: descending, and the best token is at least as likely as every two-digit token.
  assert.equal(war.top.length, 5);
  for (let i = 1; i < 5; i++) assert.ok(war.top[i - 1]!.p >= war.top[i]!.p);
  assert.ok(war.top[0]!.p >= Math.max(...p) - 1e-6);
  assert.equal(war.top[0]!.token, decodeToken(war.top[0]!.id));
  // More than half of the two-digit mass is on later years (ZZ > 11).
  assert.ok(war.greaterShare > 0.5, `p(ZZ>11) / p(two-digit) = ${war.greaterShare}`);
  assert.ok(war.yearMass > 0.5, `two-digit mass ${war.yearMass}`);
  // promptEval is the general form.
  assert.deepEqual(promptEval(model, WAR_PROMPT, 11).top, war.top);
  model.dispose();
});
