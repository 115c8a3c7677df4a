// Forward passes of the local replacement model through the model's own run() with hooks:
// attention patterns and LN scales replaced by their clean-run values (frozen), chosen MLP outputs
// and the token embedding replaced by given values. Used for the constant terms of the additivity
// check, for the exactness test of the replacement model and for interventions.
import * as tf from "@tensorflow/tfjs";
import type { HookFn } from "../model/index.ts";
import type { PromptContext } from "./context.ts";

export interface FrozenRunOptions {
  /** [T, d] replacing hook_embed (token embeddings). */
  embed?: Float32Array;
  /** Per layer [T, d] replacing blocks.ℓ.hook_mlp_out (undefined entries stay live). */
  mlpOut?: (Float32Array | undefined)[];
  /** Per layer [T, d] added to the live blocks.ℓ.hook_mlp_out (iterative patching). */
  mlpOutDelta?: (Float32Array | undefined)[];
  /** Replace attention patterns by the clean ones (default true). */
  freezeAttention?: boolean;
  /** Replace ln_1 / ln_2 / ln_final scales by the clean ones (default true). */
  freezeLayerNorm?: boolean;
  /** Return resid_mid of every layer. */
  residMid?: boolean;
  /** Extra hooks (run after the replacements above for the same names). */
  hooks?: Record<string, HookFn>;
}

export interface FrozenRunResult {
  /** Logits at the last position [V]. */
  lastLogits: Float32Array;
  residMid?: Float32Array[];
}

export async function frozenRun(ctx: PromptContext, o: FrozenRunOptions = {}): Promise<FrozenRunResult> {
  const { T, L, d, H } = ctx;
  const hooks: Record<string, HookFn> = {};
  const constant =
    (data: Float32Array, shape: number[]): HookFn =>
    () =>
      tf.tensor(data, shape);
  if (o.embed) hooks.hook_embed = constant(o.embed, [1, T, d]);
  for (let l = 0; l < L; l++) {
    const m = o.mlpOut?.[l];
    const dm = o.mlpOutDelta?.[l];
    if (m) hooks[`blocks.${l}.hook_mlp_out`] = constant(m, [1, T, d]);
    else if (dm) hooks[`blocks.${l}.hook_mlp_out`] = (v) => v.add(tf.tensor(dm, [1, T, d]));
    if (o.freezeAttention ?? true) hooks[`blocks.${l}.attn.hook_pattern`] = constant(ctx.patterns[l]!, [1, H, T, T]);
    if (o.freezeLayerNorm ?? true) {
      hooks[`blocks.${l}.ln1.hook_scale`] = constant(ctx.ln1Scale[l]!, [1, T, 1]);
      hooks[`blocks.${l}.ln2.hook_scale`] = constant(ctx.ln2Scale[l]!, [1, T, 1]);
    }
  }
  if (o.freezeLayerNorm ?? true) hooks["ln_final.hook_scale"] = constant(ctx.lnfScale, [1, T, 1]);
  for (const [name, fn] of Object.entries(o.hooks ?? {})) {
    const prev = hooks[name];
    hooks[name] = prev ? (v, n) => fn(prev(v, n) ?? v, n) : fn;
  }
  const cache = o.residMid ? Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_mid`) : [];
  const { logits, cache: c } = ctx.model.run([ctx.modelIds], { hooks, cache });
  const V = ctx.model.config.vocabSize;
  const last = tf.tidy(() => logits!.slice([0, T - 1, 0], [1, 1, V]).reshape([V]));
  logits!.dispose();
  const lastLogits = (await last.data()) as Float32Array;
  last.dispose();
  const out: FrozenRunResult = { lastLogits };
  if (o.residMid) {
    out.residMid = [];
    for (const name of cache) {
      out.residMid.push((await c[name]!.data()) as Float32Array);
      c[name]!.dispose();
    }
  }
  return out;
}

/** MLP outputs of the replacement model: reconstruction + error (= the clean mlp_out up to rounding). */
export function replacementMlpOut(ctx: PromptContext): Float32Array[] {
  return ctx.reconstruction.map((r, j) => {
    const e = ctx.errors[j]!;
    const m = ctx.mlpOut[j]!;
    const out = new Float32Array(r.length);
    // Position 0 keeps the true MLP output (its features and error are not nodes).
    for (let k = 0; k < ctx.d; k++) out[k] = m[k]!;
    for (let k = ctx.d; k < r.length; k++) out[k] = r[k]! + e[k]!;
    return out;
  });
}

/** The constant part of every MLP output in the graph's linear model: b_dec at positions ≥ 1,
 * the whole (clean) MLP output at position 0. */
export function constantMlpOut(ctx: PromptContext): Float32Array[] {
  return ctx.mlpOut.map((m, j) => {
    const out = new Float32Array(m.length);
    for (let k = 0; k < ctx.d; k++) out[k] = m[k]!;
    for (let t = 1; t < ctx.T; t++) out.set(ctx.clt.bDec[j]!, t * ctx.d);
    return out;
  });
}
