// The clean run of a prompt and everything the local replacement model freezes or needs:
// attention patterns, LN scales, resid_mid / mlp_out at every layer, CLT features, errors.
import * as tf from "@tensorflow/tfjs";
import type { GPT2 } from "../model/index.ts";
import { jumpReluActive } from "../transcoder/index.ts";
import { type CltLike, checkClt, decoderRow, preActivations } from "./clt.ts";

export interface ActiveFeature {
  layer: number;
  position: number;
  featureIndex: number;
  activation: number;
}

export interface PromptContext {
  model: GPT2;
  clt: CltLike;
  /** Model vocabulary ids [T] (BOS first). */
  modelIds: number[];
  /** GPT-2 ids [T]. */
  gpt2Ids: number[];
  T: number;
  L: number;
  d: number;
  H: number;
  dHead: number;
  /** Per layer [H, T, T] (query, key). */
  patterns: Float32Array[];
  /** Per layer [T]: σ of ln_1 / ln_2; ln_final [T]. */
  ln1Scale: Float32Array[];
  ln2Scale: Float32Array[];
  lnfScale: Float32Array;
  /** Per layer [T, d]. */
  residMid: Float32Array[];
  mlpOut: Float32Array[];
  /** Clean logits at the last position [V]. */
  lastLogits: Float32Array;
  /** Active CLT features at positions ≥ 1 (position 0 is excluded, as in circuit-tracer). */
  features: ActiveFeature[];
  /** Per layer [T, d]: CLT reconstruction incl. b_dec (all positions, features at 0 included). */
  reconstruction: Float32Array[];
  /** Per layer [T, d]: mlp_out − reconstruction, zero at position 0. */
  errors: Float32Array[];
}

async function toArray(t: tf.Tensor | undefined, name: string): Promise<Float32Array> {
  if (!t) throw new Error(`model did not return hook ${name}`);
  const v = (await t.data()) as Float32Array;
  t.dispose();
  return v;
}

export async function buildContext(model: GPT2, clt: CltLike, modelIds: number[]): Promise<PromptContext> {
  const { nLayers: L, dModel: d, nHeads: H, dHead } = model.config;
  checkClt(clt, L, d);
  const T = modelIds.length;
  if (T < 2) throw new Error("attribution needs at least one token after BOS");
  const cacheNames = ["ln_final.hook_scale"];
  for (let l = 0; l < L; l++) {
    for (const h of ["hook_resid_mid", "hook_mlp_out", "attn.hook_pattern", "ln1.hook_scale", "ln2.hook_scale"]) {
      cacheNames.push(`blocks.${l}.${h}`);
    }
  }
  const { logits, cache } = model.run([modelIds], { cache: cacheNames });
  const V = model.config.vocabSize;
  const lastT = tf.tidy(() => logits!.slice([0, T - 1, 0], [1, 1, V]).reshape([V]));
  logits!.dispose();
  const lastLogits = await toArray(lastT, "logits");
  const get = (n: string) => toArray(cache[n], n);
  const patterns: Float32Array[] = [];
  const ln1Scale: Float32Array[] = [];
  const ln2Scale: Float32Array[] = [];
  const residMid: Float32Array[] = [];
  const mlpOut: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    patterns.push(await get(`blocks.${l}.attn.hook_pattern`));
    ln1Scale.push(await get(`blocks.${l}.ln1.hook_scale`));
    ln2Scale.push(await get(`blocks.${l}.ln2.hook_scale`));
    residMid.push(await get(`blocks.${l}.hook_resid_mid`));
    mlpOut.push(await get(`blocks.${l}.hook_mlp_out`));
  }
  const lnfScale = await get("ln_final.hook_scale");

  // CLT features at every (layer, position) and the reconstruction of every MLP output.
  const F = clt.shape.nFeatures;
  const reconstruction = Array.from({ length: L }, (_, j) => {
    const r = new Float32Array(T * d);
    for (let t = 0; t < T; t++) r.set(clt.bDec[j]!, t * d);
    return r;
  });
  const features: ActiveFeature[] = [];
  for (let l = 0; l < L; l++) {
    const pre = preActivations(clt, l, residMid[l]!, T);
    const th = clt.threshold[l]!;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < F; i++) {
        const z = pre[t * F + i]!;
        // an active feature with a = 0 (possible when θ < 0) contributes nothing and is no node
        if (!jumpReluActive(z, th[i]!) || z === 0) continue;
        for (let j = l; j < L; j++) {
          const row = decoderRow(clt, l, i, j);
          const r = reconstruction[j]!;
          const off = t * d;
          for (let k = 0; k < d; k++) r[off + k]! += z * row[k]!;
        }
        if (t > 0) features.push({ layer: l, position: t, featureIndex: i, activation: z });
      }
    }
  }
  const errors = mlpOut.map((m, j) => {
    const e = new Float32Array(T * d);
    const r = reconstruction[j]!;
    for (let k = d; k < T * d; k++) e[k] = m[k]! - r[k]!;
    return e;
  });
  return {
    model,
    clt,
    modelIds,
    gpt2Ids: model.toGpt2Ids(modelIds),
    T,
    L,
    d,
    H,
    dHead,
    patterns,
    ln1Scale,
    ln2Scale,
    lnfScale,
    residMid,
    mlpOut,
    lastLogits,
    features,
    reconstruction,
    errors,
  };
}
