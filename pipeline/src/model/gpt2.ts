// GPT-2 (HF GPT2LMHeadModel, eval mode) in tfjs, with TransformerLens hook points.
//
//   x = wte[ids] + wpe[pos]
//   for each block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
//   logits = ln_f(x) · wteᵀ            (or lm_head.weightᵀ when the checkpoint has one)
//
// Weights use the HF names without the `transformer.` prefix; Conv1D weights are [in, out] and are
// used as x·W. Every hook point passes through `Hooks.at`, which can stop gradients, replace the
// value and cache it (see RunOptions).
import * as tf from "@tensorflow/tfjs";
import { CompactVocab } from "../tokenizer/vocab.ts";
import { attnMix, attnScores, causalSoftmax, geluNew, lnStats, normalize } from "./ops.ts";

export interface GPT2Config {
  nLayers: number;
  nHeads: number;
  dModel: number;
  dHead: number;
  dMlp: number;
  nCtx: number;
  vocabSize: number;
  lnEps: number;
}

/** Weights by HF name (no `transformer.` prefix), e.g. "h.0.attn.c_attn.weight". */
export type GPT2Weights = Record<string, tf.Tensor>;

/** A hook sees a hook point's value; returning a tensor replaces it, returning nothing keeps it. */
export type HookFn = (value: tf.Tensor, name: string) => tf.Tensor | undefined;
export type NameFilter = readonly string[] | ((name: string) => boolean);

export interface RunOptions {
  /** Hook points to return in `cache` (exact names, globs with `*`, or a predicate). */
  cache?: NameFilter;
  /** Hook functions by hook name (or glob). They see the value after stopGradient. */
  hooks?: Record<string, HookFn>;
  /** Hook points whose computed value is a constant for gradients (names, globs or a predicate). */
  stopGradient?: NameFilter;
  /** As TransformerLens' stop_at_layer: run only blocks < stopAtLayer; no final LN, no logits. */
  stopAtLayer?: number;
}

export interface RunResult {
  /** [batch, pos, vocab]; null with stopAtLayer. */
  logits: tf.Tensor3D | null;
  /** The requested hook values (final, i.e. after replacement). The caller owns (disposes) them. */
  cache: Record<string, tf.Tensor>;
}

/** Expected shape of every parameter tensor (lm_head.weight is optional: tied to wte otherwise). */
export function parameterShapes(c: GPT2Config): Map<string, number[]> {
  const d = c.dModel;
  const s = new Map<string, number[]>([
    ["wte.weight", [c.vocabSize, d]],
    ["wpe.weight", [c.nCtx, d]],
  ]);
  for (let l = 0; l < c.nLayers; l++) {
    s.set(`h.${l}.ln_1.weight`, [d]);
    s.set(`h.${l}.ln_1.bias`, [d]);
    s.set(`h.${l}.attn.c_attn.weight`, [d, 3 * d]);
    s.set(`h.${l}.attn.c_attn.bias`, [3 * d]);
    s.set(`h.${l}.attn.c_proj.weight`, [d, d]);
    s.set(`h.${l}.attn.c_proj.bias`, [d]);
    s.set(`h.${l}.ln_2.weight`, [d]);
    s.set(`h.${l}.ln_2.bias`, [d]);
    s.set(`h.${l}.mlp.c_fc.weight`, [d, c.dMlp]);
    s.set(`h.${l}.mlp.c_fc.bias`, [c.dMlp]);
    s.set(`h.${l}.mlp.c_proj.weight`, [c.dMlp, d]);
    s.set(`h.${l}.mlp.c_proj.bias`, [d]);
  }
  s.set("ln_f.weight", [d]);
  s.set("ln_f.bias", [d]);
  return s;
}

/** Check a config's internal consistency; throws one clear error. */
export function validateConfig(c: GPT2Config): void {
  for (const k of ["nLayers", "nHeads", "dModel", "dHead", "dMlp", "nCtx", "vocabSize"] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0)
      throw new Error(`GPT-2 config: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.nHeads * c.dHead !== c.dModel) {
    throw new Error(`GPT-2 config: nHeads (${c.nHeads}) × dHead (${c.dHead}) must equal dModel (${c.dModel})`);
  }
  if (!(c.lnEps > 0)) throw new Error(`GPT-2 config: lnEps must be > 0, got ${c.lnEps}`);
}

function toMatcher(f: NameFilter | undefined): (name: string) => boolean {
  if (!f) return () => false;
  if (typeof f === "function") return f;
  const exact = new Set(f.filter((p) => !p.includes("*")));
  const globs = f.filter((p) => p.includes("*")).map(globToRegExp);
  return (name) => exact.has(name) || globs.some((g) => g.test(name));
}

/** `*` matches any run of characters (dots included): "blocks.*.attn.hook_pattern". */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("*")
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`);
}

/** A constant copy of `x`: a fresh tensor with no tape history, so no gradient flows through it. */
function stopGradient(x: tf.Tensor): tf.Tensor {
  return tf.tensor(x.dataSync().slice(), x.shape, x.dtype);
}

/** Per-run hook dispatcher. */
class Hooks {
  readonly cache: Record<string, tf.Tensor> = {};
  private readonly wantCache: (n: string) => boolean;
  private readonly wantStop: (n: string) => boolean;
  private readonly fns: [(n: string) => boolean, HookFn][];

  constructor(opts: RunOptions) {
    this.wantCache = toMatcher(opts.cache);
    this.wantStop = toMatcher(opts.stopGradient);
    this.fns = Object.entries(opts.hooks ?? {}).map(([k, fn]) => [toMatcher([k]), fn]);
  }

  at<T extends tf.Tensor>(name: string, value: T): T {
    let v: tf.Tensor = value;
    if (this.wantStop(name)) v = stopGradient(v);
    for (const [match, fn] of this.fns) {
      if (!match(name)) continue;
      const r = fn(v, name);
      if (r) {
        if (!tf.util.arraysEqual(r.shape, value.shape)) {
          throw new Error(`hook ${name}: replacement has shape [${r.shape}], expected [${value.shape}]`);
        }
        v = r;
      }
    }
    // A clone, so disposing the cache never disposes a caller's own tensor returned by a hook.
    if (this.wantCache(name)) this.cache[name] = v.clone();
    return v as T;
  }
}

export class GPT2 {
  readonly config: GPT2Config;
  readonly weights: GPT2Weights;
  /** GPT-2 token id of each model vocab row (compact vocabulary), or null for the full GPT-2 vocab. */
  readonly vocab: Int32Array | null;
  /** The id maps of a compact vocabulary (null for the full GPT-2 vocab). */
  readonly compact: CompactVocab | null;

  constructor(config: GPT2Config, weights: GPT2Weights, vocab: Int32Array | null = null) {
    validateConfig(config);
    const shapes = parameterShapes(config);
    for (const [name, shape] of shapes) {
      const t = weights[name];
      if (!t) throw new Error(`GPT-2 weights: missing tensor "${name}" [${shape}]`);
      if (!tf.util.arraysEqual(t.shape, shape)) {
        throw new Error(`GPT-2 weights: tensor "${name}" has shape [${t.shape}], expected [${shape}]`);
      }
    }
    for (const [name, t] of Object.entries(weights)) {
      if (name === "lm_head.weight") {
        if (!tf.util.arraysEqual(t.shape, [config.vocabSize, config.dModel])) {
          throw new Error(
            `GPT-2 weights: tensor "lm_head.weight" has shape [${t.shape}], expected [${config.vocabSize},${config.dModel}]`,
          );
        }
      } else if (!shapes.has(name)) {
        throw new Error(`GPT-2 weights: unknown tensor "${name}"`);
      }
    }
    if (vocab && vocab.length !== config.vocabSize) {
      throw new Error(`GPT-2 vocab map: ${vocab.length} entries for a vocabulary of ${config.vocabSize}`);
    }
    this.config = config;
    this.weights = weights;
    this.vocab = vocab;
    this.compact = vocab ? new CompactVocab(vocab) : null;
  }

  /**
   * GPT-2 token ids → model vocab rows (identity without a compact vocabulary). With a compact
   * vocabulary, ids it lacks map to its `<unk>` row (UNK_ID in vocab_map.json) or are an error.
   */
  toModelIds(gpt2Ids: readonly number[]): number[] {
    if (this.compact) return Array.from(this.compact.toModel(gpt2Ids));
    return gpt2Ids.map((g) => {
      if (!Number.isInteger(g) || g < 0 || g >= this.config.vocabSize) {
        throw new Error(`token id ${g} is outside the model's vocabulary [0, ${this.config.vocabSize})`);
      }
      return g;
    });
  }

  /** Model vocab rows → GPT-2 token ids (UNK_ID for a compact vocabulary's `<unk>` row). */
  toGpt2Ids(modelIds: readonly number[]): number[] {
    if (this.compact) return Array.from(this.compact.toGpt2(modelIds));
    return modelIds.map((m) => {
      if (!Number.isInteger(m) || m < 0 || m >= this.config.vocabSize) {
        throw new Error(`model token id ${m} is outside [0, ${this.config.vocabSize})`);
      }
      return m;
    });
  }

  /** Forward pass on model ids [batch][pos]. Callable inside tf.grad / tf.variableGrads. */
  run(ids: readonly (readonly number[])[] | tf.Tensor2D, opts: RunOptions = {}): RunResult {
    const { nLayers, dModel, vocabSize, nCtx } = this.config;
    const idsT = ids instanceof tf.Tensor ? null : this.checkIds(ids);
    const [B, T] = ids instanceof tf.Tensor ? (ids.shape as [number, number]) : [ids.length, ids[0]?.length ?? 0];
    if (T > nCtx) throw new Error(`sequence of ${T} tokens is longer than the model's context (${nCtx})`);
    const stopAt = opts.stopAtLayer;
    if (stopAt !== undefined && !(Number.isInteger(stopAt) && stopAt >= 0 && stopAt <= nLayers)) {
      throw new Error(`stopAtLayer must be an integer in [0, ${nLayers}], got ${stopAt}`);
    }
    const hooks = new Hooks(opts);
    // tidy keeps the tensors inside the returned object (logits, cache) and frees the rest.
    const r = tf.tidy((): tf.TensorContainer => {
      const tok = ids instanceof tf.Tensor ? ids.toInt() : tf.tensor2d(idsT!, [B, T], "int32");
      const pos = tf.tensor2d(
        Int32Array.from({ length: B * T }, (_, i) => i % T),
        [B, T],
        "int32",
      );
      const embed = hooks.at("hook_embed", tf.gather(this.w("wte.weight"), tok) as tf.Tensor3D);
      const posEmbed = hooks.at("hook_pos_embed", tf.gather(this.w("wpe.weight"), pos) as tf.Tensor3D);
      let x: tf.Tensor3D = embed.add(posEmbed);
      const last = stopAt ?? nLayers;
      for (let l = 0; l < last; l++) x = this.block(l, x, hooks);
      if (stopAt !== undefined) return { cache: hooks.cache };
      const xf = this.layerNorm(x, "ln_f", "ln_final", hooks);
      const unembed = this.weights["lm_head.weight"] ?? this.w("wte.weight");
      const logits = tf.matMul(xf.reshape([B * T, dModel]), unembed, false, true).reshape([B, T, vocabSize]);
      return { logits, cache: hooks.cache };
    }) as unknown as { logits?: tf.Tensor3D; cache: Record<string, tf.Tensor> };
    return { logits: r.logits ?? null, cache: r.cache };
  }

  /** Free the weights. */
  dispose(): void {
    for (const t of Object.values(this.weights)) t.dispose();
  }

  private w(name: string): tf.Tensor {
    return this.weights[name]!;
  }

  private checkIds(ids: readonly (readonly number[])[]): Int32Array {
    const T = ids[0]?.length ?? 0;
    const V = this.config.vocabSize;
    if (ids.length === 0 || T === 0) throw new Error("run: empty batch");
    const out = new Int32Array(ids.length * T);
    ids.forEach((row, b) => {
      if (row.length !== T) throw new Error(`run: ragged batch (row ${b} has ${row.length} tokens, row 0 has ${T})`);
      row.forEach((id, t) => {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`run: token id ${id} outside [0, ${V})`);
        out[b * T + t] = id;
      });
    });
    return out;
  }

  private block(l: number, x: tf.Tensor3D, hooks: Hooks): tf.Tensor3D {
    const p = `blocks.${l}.`;
    x = hooks.at(`${p}hook_resid_pre`, x);
    const attnIn = this.layerNorm(x, `h.${l}.ln_1`, `${p}ln1`, hooks);
    const attnOut = hooks.at(`${p}hook_attn_out`, this.attention(l, attnIn, hooks));
    const mid = hooks.at(`${p}hook_resid_mid`, x.add(attnOut) as tf.Tensor3D);
    // As TransformerLens: hook_mlp_in is the MLP branch's own copy of resid_mid, before ln2 (a
    // replacement changes what the MLP sees, not the residual stream).
    const mlpIn = hooks.at(`${p}hook_mlp_in`, mid);
    const mlpOut = hooks.at(
      `${p}hook_mlp_out`,
      this.mlp(l, this.layerNorm(mlpIn, `h.${l}.ln_2`, `${p}ln2`, hooks), hooks),
    );
    return hooks.at(`${p}hook_resid_post`, mid.add(mlpOut) as tf.Tensor3D);
  }

  /**
   * LayerNorm with TransformerLens' hook points `<hookPrefix>.hook_scale` (the divisor
   * σ = sqrt(var + eps), [batch, pos, 1]) and `<hookPrefix>.hook_normalized` (the output, after the
   * gain and bias, [batch, pos, d]).
   */
  private layerNorm(x: tf.Tensor3D, prefix: string, hookPrefix: string, hooks: Hooks): tf.Tensor3D {
    const [xc, sigma] = lnStats(x, this.config.lnEps); // x − mean, sqrt(var + eps)
    const scale = hooks.at(`${hookPrefix}.hook_scale`, sigma);
    const y = normalize(xc, scale, this.w(`${prefix}.weight`), this.w(`${prefix}.bias`));
    return hooks.at(`${hookPrefix}.hook_normalized`, y);
  }

  /** x [rows, in] · W [in, out] + b, through the (BLAS) fused matmul kernel. 2-D keeps tfjs grads happy. */
  private linear(x2d: tf.Tensor2D, name: string): tf.Tensor2D {
    return tf.fused.matMul({
      a: x2d,
      b: this.w(`${name}.weight`) as tf.Tensor2D,
      bias: this.w(`${name}.bias`),
    }) as tf.Tensor2D;
  }

  private attention(l: number, x: tf.Tensor3D, hooks: Hooks): tf.Tensor3D {
    const [B, T, d] = x.shape;
    const { nHeads, dHead } = this.config;
    const qkv = this.linear(x.reshape([B * T, d]), `h.${l}.attn.c_attn`).reshape([B, T, 3 * d]); // q | k | v
    const scores = attnScores(qkv as tf.Tensor3D, nHeads); // [B, H, T, T] = q·kᵀ per head
    const pattern = hooks.at(`blocks.${l}.attn.hook_pattern`, causalSoftmax(scores, 1 / Math.sqrt(dHead)));
    const z = attnMix(pattern, qkv as tf.Tensor3D); // [B, T, d]: heads' pattern·v, concatenated
    return this.linear(z.reshape([B * T, d]), `h.${l}.attn.c_proj`).reshape([B, T, d]);
  }

  private mlp(l: number, x: tf.Tensor3D, hooks: Hooks): tf.Tensor3D {
    const [B, T, d] = x.shape;
    const dMlp = this.config.dMlp;
    const pre = hooks.at(
      `blocks.${l}.mlp.hook_pre`,
      this.linear(x.reshape([B * T, d]), `h.${l}.mlp.c_fc`).reshape([B, T, dMlp]),
    );
    const post = hooks.at(`blocks.${l}.mlp.hook_post`, geluNew(pre.reshape([B * T, dMlp])).reshape([B, T, dMlp]));
    return this.linear(post.reshape([B * T, dMlp]) as tf.Tensor2D, `h.${l}.mlp.c_proj`).reshape([B, T, d]);
  }
}
