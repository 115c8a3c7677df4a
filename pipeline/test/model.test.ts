// GPT-2 forward, hooks and gradients against the independent float64 reference in plain arrays.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { type BackendPref, hasNativeGemm, initBackend } from "../src/backend/index.ts";
import { GPT2, type GPT2Config, type GPT2Weights } from "../src/model/index.ts";
import { BOS_ID, decode, decodeToken, encode, UNK_ID } from "../src/tokenizer/index.ts";
import {
  makeConfig,
  maxRelErr,
  type RawWeights,
  type RefHook,
  type RefTensor,
  randomIds,
  randomWeights,
  referenceForward,
  rng,
} from "./helpers/random-gpt2.ts";

before(async () => {
  await initBackend(undefined, { quiet: true });
});

function toTensors(w: RawWeights, variables = false): GPT2Weights {
  const out: GPT2Weights = {};
  for (const [k, v] of Object.entries(w)) {
    const t = tf.tensor(v.data, v.shape, "float32");
    out[k] = variables ? tf.variable(t, true, `w_${k}_${Math.random()}`) : t;
    if (variables) t.dispose();
  }
  return out;
}

function flatLogits(ref: Float64Array[][]): Float64Array {
  return Float64Array.from(ref.flatMap((r) => r.flatMap((x) => Array.from(x))));
}

interface Case {
  name: string;
  config: GPT2Config;
  batch: number;
  pos: number;
  lmHead?: boolean;
}

const CASES: Case[] = [
  { name: "2 layers d=16 4 heads", config: makeConfig({ nLayers: 2, dModel: 16, nHeads: 4 }), batch: 2, pos: 7 },
  {
    name: "3 layers d=32 2 heads dMlp=48",
    config: makeConfig({ nLayers: 3, dModel: 32, nHeads: 2, dMlp: 48, vocabSize: 40 }),
    batch: 1,
    pos: 12,
  },
  {
    name: "1 layer d=24 3 heads, untied lm_head",
    config: makeConfig({ nLayers: 1, dModel: 24, nHeads: 3, vocabSize: 30 }),
    batch: 3,
    pos: 5,
    lmHead: true,
  },
  {
    name: "4 layers d=64 8 heads",
    config: makeConfig({ nLayers: 4, dModel: 64, nHeads: 8, nCtx: 24, lnEps: 1e-3 }),
    batch: 2,
    pos: 16,
  },
];

describe("GPT-2 forward vs float64 reference", () => {
  for (const c of CASES) {
    test(`logits: ${c.name}`, () => {
      const w = randomWeights(c.config, 3, { lmHead: c.lmHead ?? false });
      const model = new GPT2(c.config, toTensors(w));
      const ids = randomIds(c.batch, c.pos, c.config.vocabSize);
      const { logits } = model.run(ids);
      assert.deepEqual(logits!.shape, [c.batch, c.pos, c.config.vocabSize]);
      const err = maxRelErr(logits!.dataSync(), flatLogits(referenceForward(c.config, w, ids).logits));
      assert.ok(err <= 1e-4, `max rel err ${err}`);
      logits!.dispose();
      model.dispose();
    });
  }

  const cfg = CASES[0]!.config;
  const w = randomWeights(cfg, 5);
  const ids = randomIds(2, 6, cfg.vocabSize, 9);

  test("every hook point: names, shapes and values match the reference", () => {
    const model = new GPT2(cfg, toTensors(w));
    const { logits, cache } = model.run(ids, { cache: () => true });
    const ref = referenceForward(cfg, w, ids);
    assert.deepEqual(Object.keys(cache).sort(), Object.keys(ref.hooks).sort());
    // per block: resid_pre, ln1.{scale,normalized}, attn.hook_pattern, attn_out, resid_mid, mlp_in,
    // ln2.{scale,normalized}, mlp.{hook_pre,hook_post}, mlp_out, resid_post; then ln_final.{scale,normalized}
    assert.equal(Object.keys(cache).length, 2 + 13 * cfg.nLayers + 2);
    for (const [name, t] of Object.entries(ref.hooks)) {
      assert.deepEqual(cache[name]!.shape, t.shape, name);
      const err = maxRelErr(cache[name]!.dataSync(), t.data);
      assert.ok(err <= 1e-4, `${name}: ${err}`);
    }
    // TransformerLens semantics: hook_mlp_in is a copy of resid_mid (pre-LN).
    assert.deepEqual(cache["blocks.1.hook_mlp_in"]!.dataSync(), cache["blocks.1.hook_resid_mid"]!.dataSync());
    // Hook shapes per the contract.
    assert.deepEqual(cache["blocks.1.attn.hook_pattern"]!.shape, [2, cfg.nHeads, 6, 6]);
    assert.deepEqual(cache["blocks.0.ln2.hook_scale"]!.shape, [2, 6, 1]);
    assert.deepEqual(cache["blocks.0.mlp.hook_post"]!.shape, [2, 6, cfg.dMlp]);
    tf.dispose([logits!, ...Object.values(cache)]);
    model.dispose();
  });

  test("cache filters: names, globs; only what is asked is returned", () => {
    const model = new GPT2(cfg, toTensors(w));
    const { logits, cache } = model.run(ids, { cache: ["hook_embed", "blocks.*.hook_mlp_out"] });
    assert.deepEqual(Object.keys(cache).sort(), ["blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out", "hook_embed"]);
    tf.dispose([logits!, ...Object.values(cache)]);
    model.dispose();
  });

  test("replacement hooks splice into the forward exactly like the reference", () => {
    const model = new GPT2(cfg, toTensors(w));
    const base = flatLogits(referenceForward(cfg, w, ids).logits);
    const check = (hooks: Record<string, (v: tf.Tensor) => tf.Tensor | undefined>, refHook: RefHook, label: string) => {
      const { logits } = model.run(ids, { hooks });
      const got = logits!.dataSync();
      const want = flatLogits(referenceForward(cfg, w, ids, refHook).logits);
      assert.ok(maxRelErr(got, want) <= 1e-4, `${label}: ${maxRelErr(got, want)}`);
      assert.ok(maxRelErr(want, base) > 1e-3, `${label}: the intervention should change the logits`);
      logits!.dispose();
    };
    const zeros = (t: RefTensor): RefTensor => ({ shape: t.shape, data: new Float64Array(t.data.length) });
    // MLPs removed.
    check(
      { "blocks.*.hook_mlp_out": (v) => tf.zerosLike(v) },
      (n, t) => (n.endsWith("hook_mlp_out") ? zeros(t) : undefined),
      "mlp_out = 0",
    );
    // Uniform causal attention in layer 1: the replaced pattern must drive the value mixing.
    const T = 6;
    const uniform = new Float64Array(2 * cfg.nHeads * T * T);
    for (let i = 0; i < 2 * cfg.nHeads; i++) {
      for (let q = 0; q < T; q++) for (let k = 0; k <= q; k++) uniform[(i * T + q) * T + k] = 1 / (q + 1);
    }
    check(
      { "blocks.1.attn.hook_pattern": () => tf.tensor(Float32Array.from(uniform), [2, cfg.nHeads, T, T]) },
      (n, t) => (n === "blocks.1.attn.hook_pattern" ? { shape: t.shape, data: uniform } : undefined),
      "uniform pattern",
    );
    // LN1 divisor frozen to 2 in layer 0.
    check(
      { "blocks.0.ln1.hook_scale": (v) => tf.fill(v.shape, 2) },
      (n, t) =>
        n === "blocks.0.ln1.hook_scale" ? { shape: t.shape, data: new Float64Array(t.data.length).fill(2) } : undefined,
      "ln1 scale = 2",
    );
    // hook_mlp_in (TransformerLens: the MLP branch's copy of resid_mid, before ln2) plus a ramp in
    // layer 0 (LN removes a constant or a scale, not a ramp): the MLP sees it, the residual does not.
    const d = cfg.dModel;
    const ramp = tf.tensor1d(Float32Array.from({ length: d }, (_, i) => 0.2 * i));
    const plusRamp = (v: tf.Tensor) => v.add(ramp);
    check(
      { "blocks.0.hook_mlp_in": plusRamp },
      (n, t) =>
        n === "blocks.0.hook_mlp_in" ? { shape: t.shape, data: t.data.map((v, i) => v + 0.2 * (i % d)) } : undefined,
      "mlp_in + ramp",
    );
    {
      const { logits, cache } = model.run(ids, {
        cache: ["blocks.0.*"],
        hooks: { "blocks.0.hook_mlp_in": plusRamp },
      });
      const c = (n: string) => cache[`blocks.0.${n}`]!.dataSync();
      const mid = c("hook_resid_mid");
      const out = c("hook_mlp_out");
      const post = c("hook_resid_post");
      assert.ok(
        maxRelErr(
          c("hook_mlp_in"),
          Float64Array.from(mid, (v, i) => v + 0.2 * (i % d)),
        ) <= 1e-6,
      );
      assert.ok(
        maxRelErr(
          post,
          Float64Array.from(mid, (v, i) => v + out[i]!),
        ) <= 1e-5,
      );
      tf.dispose([logits!, ...Object.values(cache)]);
    }
    // ln2.hook_normalized is what the MLP reads: replacing it in layer 1 changes the logits.
    check(
      { "blocks.1.ln2.hook_normalized": (v) => v.mul(-1) },
      (n, t) => (n === "blocks.1.ln2.hook_normalized" ? { shape: t.shape, data: t.data.map((v) => -v) } : undefined),
      "ln2 normalized × −1",
    );
    // A hook that returns nothing keeps the value.
    let seen = 0;
    const { logits } = model.run(ids, {
      hooks: {
        "blocks.0.hook_resid_post": () => {
          seen++;
          return undefined;
        },
      },
    });
    assert.equal(seen, 1);
    assert.ok(maxRelErr(logits!.dataSync(), base) <= 1e-4);
    logits!.dispose();
    assert.throws(
      () => model.run(ids, { hooks: { "blocks.0.hook_mlp_out": () => tf.zeros([1, 2, 3]) } }),
      /hook blocks\.0\.hook_mlp_out: replacement has shape \[1,2,3\], expected \[2,6,16\]/,
    );
    model.dispose();
  });

  test("stopAtLayer runs only the first blocks (no logits), values as in the full run", () => {
    const model = new GPT2(cfg, toTensors(w));
    const { logits, cache } = model.run(ids, { cache: () => true, stopAtLayer: 1 });
    assert.equal(logits, null);
    assert.ok("blocks.0.hook_resid_post" in cache);
    assert.ok(!Object.keys(cache).some((k) => k.startsWith("blocks.1.") || k.startsWith("ln_final")));
    const ref = referenceForward(cfg, w, ids);
    assert.ok(maxRelErr(cache["blocks.0.hook_mlp_out"]!.dataSync(), ref.hooks["blocks.0.hook_mlp_out"]!.data) <= 1e-4);
    tf.dispose(Object.values(cache));
    const zero = model.run(ids, { cache: () => true, stopAtLayer: 0 });
    assert.deepEqual(Object.keys(zero.cache).sort(), ["hook_embed", "hook_pos_embed"]);
    tf.dispose(Object.values(zero.cache));
    assert.throws(() => model.run(ids, { stopAtLayer: 3 }), /stopAtLayer must be an integer in \[0, 2\]/);
    model.dispose();
  });

  test("ids as an int32 tensor; bad ids are clear errors", () => {
    const model = new GPT2(cfg, toTensors(w));
    const a = model.run(ids).logits!;
    const idsT = tf.tensor2d(ids, undefined, "int32");
    const b = model.run(idsT).logits!;
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
    tf.dispose([a, b, idsT]);
    assert.throws(() => model.run([[1, 2, 50]]), /token id 50 outside \[0, 50\)/);
    assert.throws(() => model.run([[1, 2], [3]]), /ragged batch/);
    assert.throws(() => model.run([Array(33).fill(1)]), /longer than the model's context \(32\)/);
    model.dispose();
  });

  test("no tensor leaks: plain runs, hooks, stopGradient, and inside tf.grad", () => {
    const model = new GPT2(cfg, toTensors(w));
    const opts = {
      cache: ["blocks.1.hook_resid_mid"],
      stopGradient: ["blocks.*.attn.hook_pattern", "*.hook_scale"],
      hooks: { "blocks.0.hook_mlp_out": (v: tf.Tensor) => v.mul(0.5) },
    };
    for (let i = 0; i < 2; i++) {
      const before = tf.memory().numTensors;
      const { logits, cache } = model.run(ids, opts);
      tf.dispose([logits!, ...Object.values(cache)]);
      assert.equal(tf.memory().numTensors, before, "run");
      const delta = tf.zeros([2, 6, cfg.dModel]);
      const g = tf.grad((d: tf.Tensor) => {
        const r = model.run(ids, { ...opts, cache: [], hooks: { "blocks.0.hook_resid_mid": (v) => v.add(d) } });
        return r.logits!.sum();
      })(delta);
      tf.dispose([g, delta]);
      assert.equal(tf.memory().numTensors, before, "grad");
    }
    model.dispose();
  });
});

describe("GPT-2 gradients vs float64 finite differences", () => {
  const cfg = CASES[0]!.config;
  const w = randomWeights(cfg, 8);
  const B = 2;
  const T = 5;
  const ids = randomIds(B, T, cfg.vocabSize, 4);
  const r = rng(99);
  const R = Float64Array.from({ length: B * T * cfg.vocabSize }, () => r.normal());
  const objective = (logits: Float64Array[][]) => {
    const f = flatLogits(logits);
    let s = 0;
    for (let i = 0; i < f.length; i++) s += f[i]! * R[i]!;
    return s;
  };
  const D = B * T * cfg.dModel;
  const SITE = "blocks.0.hook_resid_mid";

  /** Central differences of δ ↦ objective(reference with δ added at SITE, extra hook). */
  function fdGrad(extra?: RefHook): Float64Array {
    const g = new Float64Array(D);
    const h = 1e-4;
    for (let i = 0; i < D; i++) {
      const at = (s: number): number =>
        objective(
          referenceForward(cfg, w, ids, (name, t) => {
            if (name === SITE) {
              const data = Float64Array.from(t.data);
              data[i]! += s;
              return { shape: t.shape, data };
            }
            return extra?.(name, t);
          }).logits,
        );
      g[i] = (at(h) - at(-h)) / (2 * h);
    }
    return g;
  }

  function tfGrad(model: GPT2, stopGradient?: string[]): Float32Array {
    const Rt = tf.tensor(Float32Array.from(R), [B, T, cfg.vocabSize]);
    const delta = tf.zeros([B, T, cfg.dModel]);
    const g = tf.grad((d: tf.Tensor) => {
      const { logits } = model.run(ids, { stopGradient, hooks: { [SITE]: (v) => v.add(d) } });
      return logits!.mul(Rt).sum();
    })(delta);
    const out = Float32Array.from(g.dataSync());
    tf.dispose([Rt, delta, g]);
    return out;
  }

  test("full gradient w.r.t. a residual hook", () => {
    const model = new GPT2(cfg, toTensors(w));
    const err = maxRelErr(tfGrad(model), fdGrad());
    assert.ok(err <= 1e-4, `${err}`);
    model.dispose();
  });

  test("gradient with attention patterns and LN scales stopped = derivative of the frozen function", () => {
    const model = new GPT2(cfg, toTensors(w));
    // The frozen function: patterns and σ's fixed at their values in the unperturbed forward.
    const frozen = referenceForward(cfg, w, ids).hooks;
    const freeze: RefHook = (name) => (/hook_pattern|hook_scale/.test(name) ? frozen[name] : undefined);
    const want = fdGrad(freeze);
    const got = tfGrad(model, ["blocks.*.attn.hook_pattern", "*.hook_scale"]);
    const err = maxRelErr(got, want);
    assert.ok(err <= 1e-4, `${err}`);
    // ...and freezing matters: the full gradient is different.
    assert.ok(maxRelErr(tfGrad(model), want) > 1e-2);
    model.dispose();
  });

  test("weight gradients (tied wte, wpe, LN γ, MLP, attention) via tf.variableGrads", () => {
    const vars = toTensors(w, true);
    const model = new GPT2(cfg, vars);
    const Rt = tf.tensor(Float32Array.from(R), [B, T, cfg.vocabSize]);
    const { grads, value } = tf.variableGrads(() => model.run(ids).logits!.mul(Rt).sum() as tf.Scalar);
    const byName = new Map(Object.entries(vars).map(([k, v]) => [(v as tf.Variable).name, k]));
    const g: Record<string, Float32Array> = {};
    for (const [vn, t] of Object.entries(grads)) g[byName.get(vn)!] = Float32Array.from(t.dataSync());
    const picks: [string, number][] = [
      ["wte.weight", ids[0]![0]! * cfg.dModel + 3], // used as an input embedding and in the unembedding
      ["wte.weight", 7 * cfg.dModel + 1], // maybe only in the unembedding
      ["wpe.weight", 2 * cfg.dModel + 5],
      ["h.1.ln_1.weight", 4],
      ["h.0.ln_2.bias", 9],
      ["h.0.attn.c_attn.weight", 3 * (3 * cfg.dModel) + 17], // a key column
      ["h.1.attn.c_proj.bias", 2],
      ["h.1.mlp.c_fc.weight", 5 * cfg.dMlp + 11],
      ["ln_f.weight", 6],
    ];
    const h = 1e-4;
    for (const [name, idx] of picks) {
      const at = (s: number) => {
        const data = Float64Array.from(w[name]!.data);
        data[idx]! += s;
        return objective(referenceForward(cfg, { ...w, [name]: { shape: w[name]!.shape, data } }, ids).logits);
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      const got = g[name]![idx]!;
      assert.ok(Math.abs(got - fd) <= 1e-3 * Math.max(1, Math.abs(fd)), `${name}[${idx}]: ${got} vs ${fd}`);
    }
    tf.dispose([Rt, value, ...Object.values(grads)]);
    model.dispose();
  });
});

describe("backends agree (blas, cpu, wasm)", () => {
  // blas is optional (nblas + OpenBLAS; `npm test` installs them as root): compare what is available.
  const backends: BackendPref[] = hasNativeGemm ? ["blas", "cpu", "wasm"] : ["cpu", "wasm"];
  test(`forward logits and a hook gradient (${backends.join(", ")})`, async () => {
    const cfg = makeConfig({ nLayers: 2, dModel: 32, nHeads: 4 });
    const w = randomWeights(cfg, 21);
    const ids = randomIds(2, 9, cfg.vocabSize, 22);
    const results: Record<string, [Float32Array, Float32Array]> = {};
    for (const be of backends) {
      await initBackend(be, { quiet: true });
      const model = new GPT2(cfg, toTensors(w));
      const logits = model.run(ids).logits!;
      const delta = tf.zeros([2, 9, cfg.dModel]);
      const g = tf.grad((d: tf.Tensor) =>
        model
          .run(ids, { hooks: { "blocks.0.hook_resid_post": (v) => v.add(d) } })
          .logits!.square()
          .mean(),
      )(delta);
      results[be] = [Float32Array.from(logits.dataSync()), Float32Array.from(g.dataSync())];
      tf.dispose([logits, delta, g]);
      model.dispose();
    }
    await initBackend(undefined, { quiet: true });
    const ref = flatLogits(referenceForward(cfg, w, ids).logits);
    for (const be of backends) {
      assert.ok(maxRelErr(results[be]![0], ref) <= 1e-4, `${be} logits`);
      assert.ok(maxRelErr(results[be]![1], results.cpu![1]) <= 1e-4, `${be} gradient vs cpu`);
    }
  });
});

describe("compact vocabulary ids", () => {
  test("toModelIds / toGpt2Ids", () => {
    const cfg = makeConfig({ nLayers: 1, dModel: 8, nHeads: 2, vocabSize: 4 });
    const model = new GPT2(cfg, toTensors(randomWeights(cfg)), Int32Array.from([50256, 13, 464, 3290]));
    assert.deepEqual(model.toModelIds([464, 50256, 3290]), [2, 0, 3]);
    assert.deepEqual(model.toGpt2Ids([2, 0, 3, 1]), [464, 50256, 3290, 13]);
    assert.throws(
      () => model.toModelIds([465]),
      /GPT-2 token id 465 is not in the model's compact vocabulary \(4 tokens, no <unk> row\)/,
    );
    assert.throws(() => model.toGpt2Ids([4]), /model token id 4 is outside \[0, 4\)/);
    model.dispose();
    const full = new GPT2(cfg, toTensors(randomWeights(cfg)));
    assert.deepEqual(full.toModelIds([3, 1]), [3, 1]);
    assert.throws(() => full.toModelIds([4]), /token id 4 is outside the model's vocabulary \[0, 4\)/);
    full.dispose();
  });

  test('<unk>: GPT-2 ids outside the vocabulary map to the <unk> row and back to UNK_ID / "<unk>"', () => {
    const cfg = makeConfig({ nLayers: 1, dModel: 8, nHeads: 2, vocabSize: 5 });
    const model = new GPT2(cfg, toTensors(randomWeights(cfg)), Int32Array.from([13, 464, 3290, 50256, UNK_ID]));
    const gpt2 = encode("The pandemic."); // "The", " pand", "emic", "."
    assert.deepEqual(gpt2.map(decodeToken), ["The", " pand", "emic", "."]);
    const rows = model.toModelIds([BOS_ID, ...gpt2]);
    assert.deepEqual(rows, [3, 1, 4, 4, 0]);
    assert.deepEqual(model.toGpt2Ids(rows), [BOS_ID, 464, UNK_ID, UNK_ID, 13]);
    assert.equal(decode(model.toGpt2Ids(rows)), "<|endoftext|>The<unk><unk>.");
    assert.deepEqual(model.toGpt2Ids(rows).map(decodeToken), ["<|endoftext|>", "The", "<unk>", "<unk>", "."]);
    assert.deepEqual(model.toModelIds([UNK_ID]), [4]); // <unk> itself maps to its row
    assert.throws(() => model.toModelIds([50258]), /token id 50258 is outside the GPT-2 vocabulary/);
    assert.throws(() => model.toModelIds([-1]), /outside the GPT-2 vocabulary/);
    const { logits } = model.run([rows]); // the <unk> row is an ordinary embedding row
    assert.deepEqual(logits!.shape, [1, 5, 5]);
    logits!.dispose();
    model.dispose();
  });
});
