// One JumpReLU rule everywhere: a circuit-tracer CLT with thresholds ≤ 0 (negative and exactly 0)
// is imported, and every path that computes its activations — the tfjs encode and the BLAS encode
// (evaluation), the training op (jumpRelu), attribution's context and replacement rows, and the
// interventions — agrees with the rule computed here in float64: a = z if z > θ, else 0.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { buildContext, featureActivations, intervene, jumpReluActivations } from "../src/attribution/index.ts";
import { initBackend } from "../src/backend/index.ts";
import type { GPT2 } from "../src/model/index.ts";
import { CLT, exportCircuitTracer, jumpRelu } from "../src/transcoder/index.ts";
import { randomClt, tinyModel } from "./attribution-helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "jumprelu-rule-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const L = 3;
const d = 16;
const F = 24;
let model: GPT2;
let clt: CLT;
let ids: number[];
let resid: Float32Array[]; // per layer [T, d] from the clean run
let pre64: Float64Array[]; // per layer [T, F] in float64
let T: number;

/** Thresholds per feature from a fixed cycle of values ≤ 0 and > 0, each nudged until no z is within 1e-3. */
function chooseThresholds(z: Float64Array[]): Float32Array[] {
  const cycle = [-0.4, 0, -1.2, 0.3, -0.05, 0];
  return z.map((zl) =>
    Float32Array.from({ length: F }, (_, i) => {
      let th = cycle[i % cycle.length]!;
      const near = (v: number) =>
        Array.from({ length: T }, (_, t) => zl[t * F + i]!).some((x) => Math.abs(x - v) < 1e-3);
      while (near(th)) th += 2.5e-3;
      return th;
    }),
  );
}

before(async () => {
  await initBackend(undefined, { quiet: true });
  model = tinyModel(3);
  ids = [0, 5, 9, 17, 3, 22, 40, 11];
  T = ids.length;
  const names = Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_mid`);
  const { logits, cache } = model.run([ids], { cache: names });
  logits!.dispose();
  resid = names.map((n) => {
    const v = cache[n]!.dataSync() as Float32Array;
    cache[n]!.dispose();
    return v.slice();
  });
  const w = randomClt(21, L, d, F);
  pre64 = resid.map((x, l) => {
    const out = new Float64Array(T * F);
    for (let t = 0; t < T; t++)
      for (let i = 0; i < F; i++) {
        let z = w.bEnc[l]![i]!;
        for (let k = 0; k < d; k++) z += w.wEnc[l]![i * d + k]! * x[t * d + k]!;
        out[t * F + i] = z;
      }
    return out;
  });
  w.threshold = chooseThresholds(pre64);
  // the case under test: some features active with a ≤ 0, thresholds exactly 0 included
  const negActive = pre64.some((z, l) => z.some((v, q) => v > w.threshold[l]![q % F]! && v <= 0));
  assert.ok(negActive, "the fixture has active features with negative activation");
  assert.ok(w.threshold.some((th) => th.includes(0)));
  exportCircuitTracer(w, join(dir, "ct"), "tiny");
  clt = CLT.load(join(dir, "ct"));
});

const expected = (l: number, t: number, i: number) => {
  const z = pre64[l]![t * F + i]!;
  return z > clt.weights.threshold[l]![i]! ? z : 0;
};

function assertActs(name: string, l: number, acts: ArrayLike<number>, rows = T): void {
  for (let t = 0; t < rows; t++)
    for (let i = 0; i < F; i++) {
      const want = expected(l, t, i);
      const got = acts[t * F + i]!;
      assert.ok(Math.abs(got - want) < 1e-4, `${name}: layer ${l} pos ${t} feature ${i}: ${got} vs ${want}`);
    }
}

test("transcoder encode (tfjs and BLAS) and the training JumpReLU op follow the rule with θ ≤ 0", () => {
  for (let l = 0; l < L; l++) {
    const x = tf.tensor2d(resid[l]!, [T, d]);
    const { pre, acts } = clt.encode(l, x);
    assertActs("CLT.encode", l, acts.dataSync());
    assertActs("CLT.encodeArray", l, clt.encodeArray(l, resid[l]!, T).acts);
    const train = jumpRelu(pre, tf.tensor1d(clt.weights.threshold[l]!), 0.1);
    assertActs("jumpRelu (training)", l, train.dataSync());
    tf.dispose([x, pre, acts, train]);
  }
});

test("attribution, interventions and the replacement model use the same activations", async () => {
  const ctx = await buildContext(model, clt.weights, ids);
  for (let l = 0; l < L; l++) assertActs("jumpReluActivations", l, jumpReluActivations(clt.weights, l, resid[l]!, T));
  // graph nodes: every nonzero activation at positions ≥ 1, negative ones included
  const want = new Map<string, number>();
  for (let l = 0; l < L; l++)
    for (let t = 1; t < T; t++)
      for (let i = 0; i < F; i++) if (expected(l, t, i) !== 0) want.set(`${l}_${i}_${t}`, expected(l, t, i));
  const got = new Map(ctx.features.map((f) => [`${f.layer}_${f.featureIndex}_${f.position}`, f.activation]));
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, v] of got) assert.ok(Math.abs(v - want.get(k)!) < 1e-4, k);
  assert.ok(
    [...got.values()].some((v) => v < 0),
    "negative activations are nodes",
  );
  for (let l = 0; l < L; l++)
    for (let i = 0; i < F; i++) {
      const a = featureActivations(ctx, l, i);
      for (let t = 0; t < T; t++)
        assert.ok(Math.abs(a[t]! - expected(l, t, i)) < 1e-4, `featureActivations ${l}_${i}@${t}`);
    }
  // The replacement model (live JumpReLU at every layer + the clean error) reproduces the clean
  // logits only if its activations are the ones the context's reconstruction used.
  const r = await intervene(ctx, [], { patching: "replacement", freezeAttention: false, freezeLayerNorm: false });
  for (let v = 0; v < r.logits.length; v++)
    assert.ok(Math.abs(r.logits[v]! - ctx.lastLogits[v]!) < 1e-3, `logit ${v}: ${r.logits[v]} vs ${ctx.lastLogits[v]}`);
  // Interventions by default touch every position where the feature is active, negative ones too.
  const [l, i, t] = [...want.entries()]
    .find(([, a]) => a < 0)![0]
    .split("_")
    .map(Number) as [number, number, number];
  const s = await intervene(ctx, [{ layer: l, featureIndex: i, mode: "scale", value: 0 }]);
  assert.ok(s.changes.some((c) => c.position === t && c.from < 0 && c.to === 0));
});
