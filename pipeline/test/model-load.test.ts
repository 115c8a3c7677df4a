// HF checkpoint folders: name variants, dtypes, compact vocabularies, and bad checkpoints.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend/index.ts";
import { loadModel, parameterShapes, saveModel, toHfConfig } from "../src/model/index.ts";
import { readSafetensors, type TensorToWrite, writeSafetensors } from "../src/safetensors/index.ts";
import {
  makeConfig,
  maxRelErr,
  randomIds,
  randomWeights,
  referenceForward,
  writeRandomGpt2,
} from "./helpers/random-gpt2.ts";

const root = mkdtempSync(join(tmpdir(), "atlas-load-"));
before(async () => {
  await initBackend(undefined, { quiet: true });
});
after(() => rmSync(root, { recursive: true, force: true }));

const cfg = makeConfig({ nLayers: 2, dModel: 16, nHeads: 4, vocabSize: 30 });
let n = 0;
const fresh = () => join(root, `m${n++}`);

describe("loadModel: HF name variants and dtypes", () => {
  const variants = [
    { label: "plain F32", opts: {} },
    { label: "transformer. prefix + attn.bias buffers", opts: { prefix: true, attnBias: true } },
    { label: "F16", opts: { dtype: "F16" as const } },
    { label: "BF16 + lm_head.weight", opts: { dtype: "BF16" as const, lmHead: true } },
    { label: "attn.bias buffers, no prefix", opts: { attnBias: true, lmHead: true } },
  ];
  for (const v of variants) {
    test(v.label, async () => {
      const ck = writeRandomGpt2(cfg, { ...v.opts, seed: 4, dir: fresh() });
      const model = await loadModel(ck.dir);
      assert.deepEqual(model.config, cfg);
      assert.equal("lm_head.weight" in model.weights, v.opts.lmHead === true);
      const ids = randomIds(2, 6, cfg.vocabSize);
      const { logits } = model.run(ids);
      const want = Float64Array.from(
        referenceForward(cfg, ck.weights, ids).logits.flatMap((r) => r.flatMap((x) => [...x])),
      );
      assert.ok(maxRelErr(logits!.dataSync(), want) <= 1e-4);
      logits!.dispose();
      model.dispose();
    });
  }

  test("saveModel → loadModel round trip, with a compact vocabulary", async () => {
    const dir = fresh();
    const w = randomWeights(cfg, 6);
    const vocab = Array.from({ length: cfg.vocabSize }, (_, i) => (i * 1009 + 13) % 50257);
    const tensors = Object.fromEntries(Object.entries(w).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
    saveModel(dir, cfg, tensors, vocab);
    tf.dispose(Object.values(tensors));
    const hf = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
    assert.equal(hf.n_inner, null);
    assert.equal(hf.activation_function, "gelu_new");
    assert.equal(hf.atlas_vocab_map, "vocab_map.json");
    const model = await loadModel(dir);
    assert.deepEqual(Array.from(model.vocab!), vocab);
    for (const [k, t] of Object.entries(w))
      assert.deepEqual(Array.from(model.weights[k]!.dataSync()), Array.from(t.data), k);
    assert.deepEqual(model.toModelIds([vocab[5]!]), [5]);
    model.dispose();
    // Saving again without a vocabulary removes the stale map.
    saveModel(dir, cfg, w);
    assert.ok(!existsSync(join(dir, "vocab_map.json")));
    const plain = await loadModel(dir);
    assert.equal(plain.vocab, null);
    plain.dispose();
    assert.throws(() => saveModel(dir, cfg, { ...w, "h.9.foo": w["ln_f.bias"]! }), /unknown tensor "h\.9\.foo"/);
  });

  test("n_inner, n_ctx and layer_norm_epsilon come from config.json", async () => {
    const c = makeConfig({ nLayers: 1, dModel: 8, nHeads: 2, dMlp: 12, nCtx: 10, lnEps: 1e-3 });
    const ck = writeRandomGpt2(c, { dir: fresh() });
    const model = await loadModel(ck.dir);
    assert.deepEqual(model.config, c);
    model.dispose();
  });
});

describe("loadModel: bad checkpoints are one clear error", () => {
  function writeCase(mutate: (t: Map<string, TensorToWrite>) => void, hf: Record<string, unknown> = toHfConfig(cfg)) {
    const dir = fresh();
    const ck = writeRandomGpt2(cfg, { dir });
    const file = readSafetensors(join(dir, "model.safetensors"));
    const t = new Map<string, TensorToWrite>();
    for (const [k, v] of file.tensors) t.set(k, { dtype: "F32", shape: v.shape, data: v.data as Float32Array });
    mutate(t);
    writeSafetensors(join(dir, "model.safetensors"), t);
    writeFileSync(join(dir, "config.json"), JSON.stringify(hf));
    return ck.dir;
  }

  test("missing, mis-shaped, unknown, duplicate and non-float tensors", async () => {
    await assert.rejects(
      loadModel(writeCase((t) => t.delete("h.1.mlp.c_fc.bias"))),
      /missing tensor "h\.1\.mlp\.c_fc\.bias"/,
    );
    await assert.rejects(
      loadModel(
        writeCase((t) =>
          t.set("h.0.attn.c_attn.weight", { dtype: "F32", shape: [48, 16], data: new Float32Array(768) }),
        ),
      ),
      /tensor "h\.0\.attn\.c_attn\.weight" has shape \[48,16\], expected \[16,48\]/,
    );
    await assert.rejects(
      loadModel(writeCase((t) => t.set("h.0.attn.q_proj.weight", { dtype: "F32", shape: [1], data: [1] }))),
      /unknown tensor "h\.0\.attn\.q_proj\.weight"/,
    );
    await assert.rejects(
      loadModel(
        writeCase((t) => t.set("transformer.ln_f.bias", { dtype: "F32", shape: [16], data: new Float32Array(16) })),
      ),
      /tensor "transformer\.ln_f\.bias" duplicates "ln_f\.bias"/,
    );
    await assert.rejects(
      loadModel(writeCase((t) => t.set("ln_f.bias", { dtype: "I64", shape: [16], data: new Array(16).fill(0) }))),
      /tensor "ln_f\.bias" has dtype I64, expected a float dtype/,
    );
    await assert.rejects(
      loadModel(
        writeCase((t) => t.set("lm_head.weight", { dtype: "F32", shape: [16, 30], data: new Float32Array(480) })),
      ),
      /tensor "lm_head\.weight" has shape \[16,30\], expected \[30,16\]/,
    );
  });

  test("config.json problems", async () => {
    const base = toHfConfig(cfg);
    await assert.rejects(
      loadModel(writeCase(() => {}, { ...base, activation_function: "relu" })),
      /activation_function "relu" is not supported/,
    );
    const { n_embd: _drop, ...noEmbd } = base;
    await assert.rejects(loadModel(writeCase(() => {}, noEmbd)), /config\.json: n_embd/);
    await assert.rejects(
      loadModel(writeCase(() => {}, { ...base, n_head: 3 })),
      /n_embd \(16\) is not divisible by n_head \(3\)/,
    );
    // Shapes follow the config: a wrong vocab_size names the first tensor that disagrees.
    await assert.rejects(
      loadModel(writeCase(() => {}, { ...base, vocab_size: 31 })),
      /tensor "wte\.weight" has shape \[30,16\], expected \[31,16\]/,
    );
    const dir = fresh();
    mkdirSync(dir);
    writeFileSync(join(dir, "config.json"), "{oops");
    await assert.rejects(loadModel(dir), /config\.json: invalid JSON/);
    rmSync(join(dir, "config.json"));
    await assert.rejects(loadModel(dir), /cannot read .*config\.json/);
    writeFileSync(join(dir, "config.json"), JSON.stringify(base));
    await assert.rejects(loadModel(dir), /model\.safetensors not found/);
  });

  test("vocab_map.json problems", async () => {
    const bad: [unknown, RegExp][] = [
      [[1, 2, 3], /3 entries, but the model's vocab_size is 30/],
      [Array.from({ length: 30 }, () => 7), /GPT-2 token id 7 appears twice/],
      [Array.from({ length: 30 }, (_, i) => (i === 3 ? 50258 : i)), /expected a JSON array of GPT-2 token ids/],
      [{ ids: [] }, /expected a JSON array/],
    ];
    for (const [map, re] of bad) {
      const ck = writeRandomGpt2(cfg, { dir: fresh(), vocab: Array.from({ length: 30 }, (_, i) => i) });
      writeFileSync(join(ck.dir, "vocab_map.json"), JSON.stringify(map));
      await assert.rejects(loadModel(ck.dir), re);
    }
    const ck = writeRandomGpt2(cfg, { dir: fresh(), vocab: Array.from({ length: 30 }, (_, i) => i) });
    rmSync(join(ck.dir, "vocab_map.json"));
    await assert.rejects(loadModel(ck.dir), /cannot read .*vocab_map\.json/);
  });

  test("the expected parameter list is GPT-2's (148 tensors for 12 layers)", () => {
    const small = parameterShapes(makeConfig({ nLayers: 12, dModel: 768, nHeads: 12, vocabSize: 50257, nCtx: 1024 }));
    assert.equal(small.size, 148);
    let params = 0;
    for (const s of small.values()) params += s.reduce((a, b) => a * b, 1);
    assert.equal(params, 124_439_808);
  });
});
