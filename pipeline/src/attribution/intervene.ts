// Interventions on CLT features (Ameisen et al. 2025 §"Validating"; circuit-tracer feature_intervention):
// set or scale chosen feature activations (×−1, ×0, +δ, = a) at chosen positions.
//  - constrained patching (default): the activation changes × decoder vectors are added to the
//    clean MLP outputs of the constrained layer range [c0, c1] and those MLP outputs are clamped
//    (no second-order effects inside the range); later MLPs run live;
//  - iterative patching: the changes are added on top of live MLP outputs, so downstream MLPs (and
//    features) respond;
//  - replacement: in the replacement model (every MLP output = CLT reconstruction from the live
//    resid_mid + the clean error), the chosen activations are overridden and every later feature is
//    recomputed through its JumpReLU — the non-linear counterpart of the graph's linear prediction.
// Attention patterns are frozen at their clean values or live; LN scales are frozen when
// attention is frozen and every layer up to the last is constrained (as circuit-tracer does).

import { softmax64 } from "../backend/index.ts";
import type { HookFn } from "../model/index.ts";
import { jumpReluActive, replacementHooks } from "../transcoder/index.ts";
import { decoderRow, encoderRow, preActivations } from "./clt.ts";
import type { PromptContext } from "./context.ts";
import { frozenRun } from "./frozen.ts";

export interface FeatureIntervention {
  layer: number;
  featureIndex: number;
  /** Positions to change (default: every position ≥ 1 where the feature is active). */
  positions?: number[];
  /** scale: a' = a·value; set: a' = value; add: a' = a + value. */
  mode: "scale" | "set" | "add";
  value: number;
}

export interface InterveneOptions {
  patching?: "constrained" | "iterative" | "replacement";
  freezeAttention?: boolean;
  /** Freeze the LN scales at their clean values (default: when attention is frozen and, for
   * constrained patching, every layer up to the last is constrained; never for iterative patching). */
  freezeLayerNorm?: boolean;
  /** Constrained layer range [c0, c1]; default [lowest intervened layer, last layer]. */
  constrainedLayers?: [number, number];
}

export interface InterventionResult {
  /** Logits / probabilities at the last position after the intervention. */
  logits: Float32Array;
  probabilities: Float64Array;
  /** Activation changes applied, per (layer, position, feature). */
  changes: { layer: number; position: number; featureIndex: number; from: number; to: number }[];
}

/** Clean activation of one feature at every position (JumpReLU of the clean pre-activation). */
export function featureActivations(ctx: PromptContext, layer: number, featureIndex: number): Float64Array {
  const { d, T, clt } = ctx;
  const enc = encoderRow(clt, layer, featureIndex);
  const out = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let z = clt.bEnc[layer]![featureIndex]!;
    for (let k = 0; k < d; k++) z += enc[k]! * ctx.residMid[layer]![t * d + k]!;
    out[t] = jumpReluActive(z, clt.threshold[layer]![featureIndex]!) ? z : 0;
  }
  return out;
}

export async function intervene(
  ctx: PromptContext,
  interventions: readonly FeatureIntervention[],
  options: InterveneOptions = {},
): Promise<InterventionResult> {
  const { L, T, d, clt } = ctx;
  const F = clt.shape.nFeatures;
  for (const iv of interventions) {
    if (!(Number.isInteger(iv.layer) && iv.layer >= 0 && iv.layer < L))
      throw new Error(`intervention layer ${iv.layer} is outside 0..${L - 1}`);
    if (!(Number.isInteger(iv.featureIndex) && iv.featureIndex >= 0 && iv.featureIndex < F)) {
      throw new Error(`feature index ${iv.featureIndex} is outside 0..${F - 1}`);
    }
    for (const p of iv.positions ?? []) {
      if (!(Number.isInteger(p) && p >= 0 && p < T))
        throw new Error(`intervention position ${p} is outside 0..${T - 1}`);
    }
    if (!Number.isFinite(iv.value)) throw new Error(`intervention value must be a finite number`);
  }
  const patching = options.patching ?? "constrained";
  const lowest = interventions.length ? Math.min(...interventions.map((i) => i.layer)) : L - 1;
  const [c0, c1] = options.constrainedLayers ?? [lowest, L - 1];
  if (!(c0 >= 0 && c1 < L && c0 <= c1)) throw new Error(`bad constrained layer range [${c0}, ${c1}]`);
  if (patching === "constrained" && c0 > lowest) {
    throw new Error(`the constrained range starts at layer ${c0}, after the intervened layer ${lowest}`);
  }
  const delta: (Float32Array | undefined)[] = Array.from({ length: L }, () => undefined);
  const changes: InterventionResult["changes"] = [];
  for (const iv of interventions) {
    const acts = featureActivations(ctx, iv.layer, iv.featureIndex);
    const positions = iv.positions ?? Array.from({ length: T - 1 }, (_, i) => i + 1).filter((p) => acts[p]! !== 0);
    for (const p of positions) {
      const a = acts[p]!;
      const to = iv.mode === "scale" ? a * iv.value : iv.mode === "set" ? iv.value : a + iv.value;
      if (to === a) continue;
      changes.push({ layer: iv.layer, position: p, featureIndex: iv.featureIndex, from: a, to });
      const last = patching === "constrained" ? c1 : L - 1;
      for (let j = iv.layer; j <= last; j++) {
        const row = decoderRow(clt, iv.layer, iv.featureIndex, j);
        delta[j] ??= new Float32Array(T * d);
        const dj = delta[j]!;
        for (let k = 0; k < d; k++) dj[p * d + k]! += (to - a) * row[k]!;
      }
    }
  }
  const freezeAttention = options.freezeAttention ?? true;
  let result: { lastLogits: Float32Array };
  if (patching === "constrained") {
    const mlpOut = Array.from({ length: L }, (_, j) => {
      if (j < c0 || j > c1) return undefined;
      const m = ctx.mlpOut[j]!.slice();
      const dj = delta[j];
      if (dj) for (let k = 0; k < m.length; k++) m[k]! += dj[k]!;
      return m;
    });
    result = await frozenRun(ctx, {
      mlpOut,
      freezeAttention,
      freezeLayerNorm: options.freezeLayerNorm ?? (freezeAttention && c1 === L - 1),
    });
  } else if (patching === "iterative") {
    result = await frozenRun(ctx, {
      mlpOutDelta: delta,
      freezeAttention,
      freezeLayerNorm: options.freezeLayerNorm ?? false,
    });
  } else {
    result = await frozenRun(ctx, {
      hooks: interventionHooks(ctx, changes),
      freezeAttention,
      freezeLayerNorm: options.freezeLayerNorm ?? freezeAttention,
    });
  }
  return { logits: result.lastLogits, probabilities: softmax64(result.lastLogits), changes };
}

/** Pre-activation of every feature of a layer at the clean run (for reporting). */
export function cleanPreActivations(ctx: PromptContext, layer: number): Float32Array {
  return preActivations(ctx.clt, layer, ctx.residMid[layer]!, ctx.T);
}

/** The replacement model with the given activation overrides, plus the clean error at every position
 * (so that with no override it reproduces the clean run). */
function interventionHooks(ctx: PromptContext, changes: InterventionResult["changes"]): Record<string, HookFn> {
  const F = ctx.clt.shape.nFeatures;
  return replacementHooks(ctx.clt, {
    batch: 1,
    positions: ctx.T,
    keepBos: false,
    error: ctx.mlpOut.map((m, l) => Float32Array.from(m, (v, k) => v - ctx.reconstruction[l]![k]!)),
    editActivations: (l, a) => {
      for (const c of changes) if (c.layer === l) a[c.position * F + c.featureIndex] = c.to;
    },
  });
}
