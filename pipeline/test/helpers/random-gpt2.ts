// Test helpers: random GPT-2 checkpoints (written with our own safetensors writer) and an
// independent float64 reference forward in plain TypeScript arrays (no tfjs).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { GPT2Config } from "../../src/model/gpt2.ts";
import { parameterShapes } from "../../src/model/gpt2.ts";
import { toHfConfig } from "../../src/model/load.ts";
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  type TensorToWrite,
  writeSafetensors,
} from "../../src/safetensors/index.ts";
import { mulberry32 } from "../../src/study/rng.ts";
import { BOS_ID, encode } from "../../src/tokenizer/index.ts";

export interface RawTensor {
  shape: number[];
  data: Float32Array;
}
export type RawWeights = Record<string, RawTensor>;

/** Standard normal draws (Box–Muller, one per two uniforms) from a uniform [0, 1) source. */
export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/** Deterministic PRNG (mulberry32) with a Box–Muller normal. */
export function rng(seed: number): { uniform(): number; normal(): number } {
  const uniform = mulberry32(seed);
  return { uniform, normal: gaussian(uniform) };
}

export function makeConfig(c: Partial<GPT2Config> & { nLayers: number; dModel: number; nHeads: number }): GPT2Config {
  return {
    nCtx: 32,
    vocabSize: 50,
    lnEps: 1e-5,
    dMlp: 4 * c.dModel,
    dHead: c.dModel / c.nHeads,
    ...c,
  };
}

/**
 * Random weights with O(1) activations: matrices ~ N(0, 1/fan_in), biases and LN β ~ N(0, 0.1²),
 * LN γ ~ 1 + N(0, 0.1²), embeddings ~ N(0, 1) / N(0, 0.5²).
 */
export function randomWeights(config: GPT2Config, seed = 1, opts: { lmHead?: boolean } = {}): RawWeights {
  const r = rng(seed);
  const out: RawWeights = {};
  const shapes = parameterShapes(config);
  if (opts.lmHead) shapes.set("lm_head.weight", [config.vocabSize, config.dModel]);
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let f: () => number;
    if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name === "ln_f.weight")
      f = () => 1 + 0.1 * r.normal();
    else if (name.endsWith(".bias")) f = () => 0.1 * r.normal();
    else if (name === "wte.weight" || name === "lm_head.weight") f = () => r.normal();
    else if (name === "wpe.weight") f = () => 0.5 * r.normal();
    else f = () => r.normal() / Math.sqrt(shape[0]!);
    for (let i = 0; i < n; i++) data[i] = f();
    out[name] = { shape, data };
  }
  return out;
}

export interface RandomCheckpoint {
  dir: string;
  config: GPT2Config;
  /** The weights exactly as stored (after F16/BF16 rounding), canonical names. */
  weights: RawWeights;
  cleanup(): void;
}

export interface RandomCheckpointOptions {
  seed?: number;
  dtype?: "F32" | "F16" | "BF16";
  /** Prefix parameter names with `transformer.`. */
  prefix?: boolean;
  /** Add the HF causal-mask buffers h.N.attn.bias / h.N.attn.masked_bias. */
  attnBias?: boolean;
  /** Store an untied lm_head.weight. */
  lmHead?: boolean;
  /** Compact vocabulary: GPT-2 token id of each model row (written to vocab_map.json). */
  vocab?: number[];
  /** Folder to write to (default: a fresh temp folder). */
  dir?: string;
}

/** Write a random GPT-2 checkpoint folder (config.json + model.safetensors [+ vocab_map.json]). */
export function writeRandomGpt2(config: GPT2Config, opts: RandomCheckpointOptions = {}): RandomCheckpoint {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "atlas-gpt2-"));
  mkdirSync(dir, { recursive: true });
  const dtype = opts.dtype ?? "F32";
  const weights = randomWeights(config, opts.seed ?? 1, { lmHead: opts.lmHead ?? false });
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of Object.entries(weights)) {
    // What a reader gets back: round through the storage dtype.
    if (dtype === "F16") t.data = f16ToF32(f32ToF16(t.data));
    if (dtype === "BF16") t.data = bf16ToF32(f32ToBf16(t.data));
    const stored = opts.prefix && name !== "lm_head.weight" ? `transformer.${name}` : name;
    tensors.set(stored, { dtype, shape: t.shape, data: t.data });
  }
  if (opts.attnBias) {
    const n = config.nCtx;
    const mask = new Float32Array(n * n);
    for (let q = 0; q < n; q++) for (let k = 0; k <= q; k++) mask[q * n + k] = 1;
    for (let l = 0; l < config.nLayers; l++) {
      const p = opts.prefix ? "transformer." : "";
      tensors.set(`${p}h.${l}.attn.bias`, { dtype: "U8", shape: [1, 1, n, n], data: Uint8Array.from(mask) });
      tensors.set(`${p}h.${l}.attn.masked_bias`, { dtype: "F32", shape: [], data: new Float32Array([-1e4]) });
    }
  }
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify(toHfConfig(config, opts.vocab ? "vocab_map.json" : undefined)),
  );
  if (opts.vocab) writeFileSync(join(dir, "vocab_map.json"), JSON.stringify(opts.vocab));
  return { dir, config, weights, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------------
// Float64 reference forward (plain arrays), following HF GPT2LMHeadModel literally.

export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

/** Reference hook: may return a replacement (same shape) for the named value. */
export type RefHook = (name: string, value: RefTensor) => RefTensor | undefined;

export interface RefResult {
  /** [batch][pos] → logits over the vocab. */
  logits: Float64Array[][];
  /** Every hook value, by TransformerLens name. */
  hooks: Record<string, RefTensor>;
}

/** Weights for the reference: float32 as stored, or float64 copies (finite differences on weights). */
export type RefWeights = Record<string, { shape: number[]; data: ArrayLike<number> }>;

function get(w: RefWeights, name: string): ArrayLike<number> {
  const t = w[name];
  if (!t) throw new Error(`reference: missing ${name}`);
  return t.data;
}

/** y[r][o] = Σ_i x[r][i]·W[i][o] + b[o] with W stored [in, out] (Conv1D). */
function conv1d(
  x: Float64Array,
  rows: number,
  nIn: number,
  W: ArrayLike<number>,
  b: ArrayLike<number>,
  nOut: number,
): Float64Array {
  const y = new Float64Array(rows * nOut);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < nOut; o++) {
      let s = b[o]!;
      for (let i = 0; i < nIn; i++) s += x[r * nIn + i]! * W[i * nOut + o]!;
      y[r * nOut + o] = s;
    }
  }
  return y;
}

export function referenceForward(
  config: GPT2Config,
  w: RefWeights,
  ids: number[][],
  hook?: RefHook,
  opts: { stopAtLayer?: number } = {},
): RefResult {
  const { nLayers, nHeads: H, dModel: d, dHead: dh, dMlp, vocabSize: V, lnEps } = config;
  const B = ids.length;
  const T = ids[0]!.length;
  const N = B * T;
  const hooks: Record<string, RefTensor> = {};
  const at = (name: string, shape: number[], data: Float64Array): Float64Array => {
    let t: RefTensor = { shape, data };
    const r = hook?.(name, t);
    if (r) t = r;
    hooks[name] = t;
    return t.data;
  };
  const layerNorm = (
    x: Float64Array,
    g: ArrayLike<number>,
    beta: ArrayLike<number>,
    hookName: string,
  ): Float64Array => {
    const xc = new Float64Array(N * d);
    const sigma = new Float64Array(N);
    for (let r = 0; r < N; r++) {
      let mean = 0;
      for (let i = 0; i < d; i++) mean += x[r * d + i]!;
      mean /= d;
      let v = 0;
      for (let i = 0; i < d; i++) {
        const c = x[r * d + i]! - mean;
        xc[r * d + i] = c;
        v += c * c;
      }
      sigma[r] = Math.sqrt(v / d + lnEps);
    }
    const s = at(hookName, [B, T, 1], sigma);
    const y = new Float64Array(N * d);
    for (let r = 0; r < N; r++) for (let i = 0; i < d; i++) y[r * d + i] = (xc[r * d + i]! / s[r]!) * g[i]! + beta[i]!;
    return at(hookName.replace(/hook_scale$/, "hook_normalized"), [B, T, d], y);
  };
  const wte = get(w, "wte.weight");
  const wpe = get(w, "wpe.weight");
  const emb = new Float64Array(N * d);
  const pos = new Float64Array(N * d);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const id = ids[b]![t]!;
      for (let i = 0; i < d; i++) {
        emb[(b * T + t) * d + i] = wte[id * d + i]!;
        pos[(b * T + t) * d + i] = wpe[t * d + i]!;
      }
    }
  }
  const e = at("hook_embed", [B, T, d], emb);
  const p = at("hook_pos_embed", [B, T, d], pos);
  let x: Float64Array = e.map((v, i) => v + p[i]!);
  const last = opts.stopAtLayer ?? nLayers;
  for (let l = 0; l < last; l++) {
    const pre = `blocks.${l}.`;
    const hw = (n: string) => get(w, `h.${l}.${n}`);
    x = at(`${pre}hook_resid_pre`, [B, T, d], x);
    const a = layerNorm(x, hw("ln_1.weight"), hw("ln_1.bias"), `${pre}ln1.hook_scale`);
    const qkv = conv1d(a, N, d, hw("attn.c_attn.weight"), hw("attn.c_attn.bias"), 3 * d);
    const pattern = new Float64Array(B * H * T * T);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let q = 0; q < T; q++) {
          const row = new Float64Array(T).fill(Number.NEGATIVE_INFINITY);
          let max = Number.NEGATIVE_INFINITY;
          for (let k = 0; k <= q; k++) {
            let s = 0;
            for (let j = 0; j < dh; j++) {
              s += qkv[(b * T + q) * 3 * d + h * dh + j]! * qkv[(b * T + k) * 3 * d + d + h * dh + j]!;
            }
            row[k] = s / Math.sqrt(dh);
            max = Math.max(max, row[k]!);
          }
          let z = 0;
          for (let k = 0; k <= q; k++) z += Math.exp(row[k]! - max);
          for (let k = 0; k <= q; k++) pattern[((b * H + h) * T + q) * T + k] = Math.exp(row[k]! - max) / z;
        }
      }
    }
    const pat = at(`${pre}attn.hook_pattern`, [B, H, T, T], pattern);
    const merged = new Float64Array(N * d);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let q = 0; q < T; q++) {
          for (let j = 0; j < dh; j++) {
            let s = 0;
            for (let k = 0; k < T; k++)
              s += pat[((b * H + h) * T + q) * T + k]! * qkv[(b * T + k) * 3 * d + 2 * d + h * dh + j]!;
            merged[(b * T + q) * d + h * dh + j] = s;
          }
        }
      }
    }
    const attnOut = at(
      `${pre}hook_attn_out`,
      [B, T, d],
      conv1d(merged, N, d, hw("attn.c_proj.weight"), hw("attn.c_proj.bias"), d),
    );
    const mid = at(
      `${pre}hook_resid_mid`,
      [B, T, d],
      x.map((v, i) => v + attnOut[i]!),
    );
    const mlpIn = at(`${pre}hook_mlp_in`, [B, T, d], mid.slice());
    const ln2 = layerNorm(mlpIn, hw("ln_2.weight"), hw("ln_2.bias"), `${pre}ln2.hook_scale`);
    const hPre = at(
      `${pre}mlp.hook_pre`,
      [B, T, dMlp],
      conv1d(ln2, N, d, hw("mlp.c_fc.weight"), hw("mlp.c_fc.bias"), dMlp),
    );
    const hidden = at(
      `${pre}mlp.hook_post`,
      [B, T, dMlp],
      hPre.map((u) => 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3)))),
    );
    const mlpOut = at(
      `${pre}hook_mlp_out`,
      [B, T, d],
      conv1d(hidden, N, dMlp, hw("mlp.c_proj.weight"), hw("mlp.c_proj.bias"), d),
    );
    x = at(
      `${pre}hook_resid_post`,
      [B, T, d],
      mid.map((v, i) => v + mlpOut[i]!),
    );
  }
  const logits: Float64Array[][] = [];
  if (opts.stopAtLayer !== undefined) return { logits, hooks };
  const xf = layerNorm(x, get(w, "ln_f.weight"), get(w, "ln_f.bias"), "ln_final.hook_scale");
  const U = w["lm_head.weight"]?.data ?? wte;
  for (let b = 0; b < B; b++) {
    const rowOut: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const o = new Float64Array(V);
      for (let v = 0; v < V; v++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += xf[(b * T + t) * d + i]! * U[v * d + i]!;
        o[v] = s;
      }
      rowOut.push(o);
    }
    logits.push(rowOut);
  }
  return { logits, hooks };
}

/** max |a − b| / max(max |b|, floor): a relative error against the reference's scale. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/** Random token ids [batch][pos] in [0, vocab). */
export function randomIds(batch: number, pos: number, vocab: number, seed = 7): number[][] {
  const r = rng(seed);
  return Array.from({ length: batch }, () => Array.from({ length: pos }, () => Math.floor(r.uniform() * vocab)));
}

/**
 * A tiny random GPT-2 whose compact vocabulary is exactly BOS + the GPT-2 tokens of `text` (so
 * logits stay small): the config and tf weights (LayerNorm gains 1 + gainNoise·N(0,1), all other
 * parameters scale·N(0,1), drawn from `normal` in parameter order).
 */
export function corpusModelWeights(
  text: string,
  shape: { nLayers: number; dModel: number; nCtx: number },
  normal: () => number,
  o: { scale: number; gainNoise: number },
): { config: GPT2Config; weights: Record<string, tf.Tensor>; vocab: Int32Array } {
  const vocab = Int32Array.from(new Set([BOS_ID, ...encode(text)]));
  const config: GPT2Config = {
    nHeads: 2,
    dHead: shape.dModel / 2,
    dMlp: 2 * shape.dModel,
    vocabSize: vocab.length,
    lnEps: 1e-5,
    ...shape,
  };
  const weights: Record<string, tf.Tensor> = {};
  for (const [name, s] of parameterShapes(config)) {
    const n = s.reduce((a, b) => a * b, 1);
    const v = /ln_\d\.weight|ln_f\.weight/.test(name)
      ? o.gainNoise === 0
        ? new Float32Array(n).fill(1)
        : Float32Array.from({ length: n }, () => 1 + o.gainNoise * normal())
      : Float32Array.from({ length: n }, () => normal() * o.scale);
    weights[name] = tf.tensor(v, s);
  }
  return { config, weights, vocab };
}
