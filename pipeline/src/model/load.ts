// HF GPT-2 checkpoint folders: config.json + model.safetensors (+ vocab_map.json for a compact
// vocabulary). Loading validates every tensor; saving writes the same layout atomically.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { sha256Files } from "../data/hash.ts";
import { readSafetensors, type TensorToWrite, writeSafetensors } from "../safetensors/index.ts";
import { UNK_ID } from "../tokenizer/index.ts";
import { GPT2, type GPT2Config, type GPT2Weights, parameterShapes, validateConfig } from "./gpt2.ts";

/** Number of GPT-2 (r50k) tokens; compact vocabularies map into [0, GPT2_VOCAB). */
export const GPT2_VOCAB = 50257;
export const VOCAB_MAP_FILE = "vocab_map.json";

const posInt = z.number().int().positive();
const HfConfig = z
  .object({
    n_embd: posInt,
    n_layer: posInt,
    n_head: posInt,
    n_inner: posInt.nullish(),
    n_positions: posInt.optional(),
    n_ctx: posInt.optional(),
    vocab_size: posInt,
    layer_norm_epsilon: z.number().positive().default(1e-5),
    activation_function: z.string().default("gelu_new"),
    atlas_vocab_map: z.string().optional(),
  })
  .passthrough();

// GPT-2 ids, plus UNK_ID (= GPT2_VOCAB) for a reserved `<unk>` row.
const VocabMap = z.array(z.number().int().min(0).max(UNK_ID));

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${path} (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: invalid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

function zodMessage(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

/** Parse an HF GPT-2 config.json object into our config (throws one clear error). */
export function parseHfConfig(raw: unknown, source = "config.json"): GPT2Config & { vocabMapFile?: string } {
  const r = HfConfig.safeParse(raw);
  if (!r.success) throw new Error(`${source}: ${zodMessage(r.error)}`);
  const c = r.data;
  if (c.activation_function !== "gelu_new") {
    throw new Error(`${source}: activation_function "${c.activation_function}" is not supported (only gelu_new)`);
  }
  const nCtx = c.n_positions ?? c.n_ctx;
  if (nCtx === undefined) throw new Error(`${source}: n_positions is missing`);
  if (c.n_embd % c.n_head !== 0)
    throw new Error(`${source}: n_embd (${c.n_embd}) is not divisible by n_head (${c.n_head})`);
  const config: GPT2Config & { vocabMapFile?: string } = {
    nLayers: c.n_layer,
    nHeads: c.n_head,
    dModel: c.n_embd,
    dHead: c.n_embd / c.n_head,
    dMlp: c.n_inner ?? 4 * c.n_embd,
    nCtx,
    vocabSize: c.vocab_size,
    lnEps: c.layer_norm_epsilon,
  };
  if (c.atlas_vocab_map !== undefined) config.vocabMapFile = c.atlas_vocab_map;
  return config;
}

/** Our config → HF config.json fields. */
export function toHfConfig(c: GPT2Config, vocabMapFile?: string): Record<string, unknown> {
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    activation_function: "gelu_new",
    n_embd: c.dModel,
    n_layer: c.nLayers,
    n_head: c.nHeads,
    n_inner: c.dMlp === 4 * c.dModel ? null : c.dMlp,
    n_positions: c.nCtx,
    n_ctx: c.nCtx,
    vocab_size: c.vocabSize,
    layer_norm_epsilon: c.lnEps,
    bos_token_id: 50256,
    eos_token_id: 50256,
    ...(vocabMapFile ? { atlas_vocab_map: vocabMapFile } : {}),
  };
}

// Causal-mask buffers in HF checkpoints: not parameters.
const IGNORED = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** Load an HF GPT-2 folder (config.json + model.safetensors, optional vocab_map.json). */
export async function loadModel(dir: string): Promise<GPT2> {
  const cfgPath = join(dir, "config.json");
  const config = parseHfConfig(readJson(cfgPath), cfgPath);
  const { vocabMapFile, ...modelConfig } = config;

  const stPath = join(dir, "model.safetensors");
  if (!existsSync(stPath)) throw new Error(`${stPath} not found (only safetensors checkpoints are supported)`);
  const file = readSafetensors(stPath);
  const shapes = parameterShapes(modelConfig);
  const seen = new Map<string, string>(); // canonical name → name in the file
  const weights: GPT2Weights = {};
  try {
    for (const [rawName, t] of file.tensors) {
      const name = rawName.startsWith("transformer.") ? rawName.slice("transformer.".length) : rawName;
      if (IGNORED.test(name)) continue;
      if (!shapes.has(name) && name !== "lm_head.weight") throw new Error(`${stPath}: unknown tensor "${rawName}"`);
      const prev = seen.get(name);
      if (prev) throw new Error(`${stPath}: tensor "${rawName}" duplicates "${prev}"`);
      seen.set(name, rawName);
      if (!(t.data instanceof Float32Array)) {
        throw new Error(`${stPath}: tensor "${rawName}" has dtype ${t.dtype}, expected a float dtype (F32/F16/BF16)`);
      }
      const want = name === "lm_head.weight" ? [modelConfig.vocabSize, modelConfig.dModel] : shapes.get(name)!;
      if (!tf.util.arraysEqual(t.shape, want)) {
        throw new Error(`${stPath}: tensor "${rawName}" has shape [${t.shape}], expected [${want}]`);
      }
      weights[name] = tf.tensor(t.data, t.shape, "float32");
    }
    for (const [name, shape] of shapes) {
      if (!weights[name]) throw new Error(`${stPath}: missing tensor "${name}" [${shape}]`);
    }
  } catch (err) {
    for (const t of Object.values(weights)) t.dispose();
    throw err;
  }

  let vocab: Int32Array | null = null;
  const mapPath = join(dir, vocabMapFile ?? VOCAB_MAP_FILE);
  if (vocabMapFile !== undefined || existsSync(mapPath)) {
    try {
      vocab = parseVocabMap(readJson(mapPath), modelConfig.vocabSize, mapPath);
    } catch (err) {
      for (const t of Object.values(weights)) t.dispose();
      throw err;
    }
  }
  return new GPT2(modelConfig, weights, vocab);
}

/** Validate a compact-vocabulary map: one distinct GPT-2 id (or UNK_ID) per model row. */
export function parseVocabMap(raw: unknown, vocabSize: number, source = VOCAB_MAP_FILE): Int32Array {
  const r = VocabMap.safeParse(raw);
  if (!r.success) throw new Error(`${source}: expected a JSON array of GPT-2 token ids (${zodMessage(r.error)})`);
  if (r.data.length !== vocabSize) {
    throw new Error(`${source}: ${r.data.length} entries, but the model's vocab_size is ${vocabSize}`);
  }
  const seen = new Set<number>();
  for (const id of r.data) {
    if (seen.has(id)) throw new Error(`${source}: GPT-2 token id ${id} appears twice`);
    seen.add(id);
  }
  return Int32Array.from(r.data);
}

export interface SaveOptions {
  /** Storage dtype of the weights (default F32). */
  dtype?: "F32" | "F16" | "BF16";
  /** Prefix tensor names with `transformer.` (as some HF exports do). */
  prefix?: boolean;
  /** Extra safetensors metadata. */
  metadata?: Record<string, string>;
}

type WeightLike = tf.Tensor | { shape: number[]; data: Float32Array };

/** Write an HF GPT-2 folder (config.json, model.safetensors, vocab_map.json when `vocab`). */
export function saveModel(
  dir: string,
  config: GPT2Config,
  weights: Record<string, WeightLike>,
  vocab?: ArrayLike<number> | null,
  opts: SaveOptions = {},
): void {
  validateConfig(config);
  mkdirSync(dir, { recursive: true });
  const shapes = parameterShapes(config);
  const tensors = new Map<string, TensorToWrite>();
  const names = [...shapes.keys(), ...("lm_head.weight" in weights ? ["lm_head.weight"] : [])];
  for (const name of Object.keys(weights)) {
    if (!shapes.has(name) && name !== "lm_head.weight") throw new Error(`saveModel: unknown tensor "${name}"`);
  }
  for (const name of names) {
    const w = weights[name];
    if (!w) throw new Error(`saveModel: missing tensor "${name}"`);
    const shape = w instanceof tf.Tensor ? w.shape : w.shape;
    const want = name === "lm_head.weight" ? [config.vocabSize, config.dModel] : shapes.get(name)!;
    if (!tf.util.arraysEqual(shape, want)) {
      throw new Error(`saveModel: tensor "${name}" has shape [${shape}], expected [${want}]`);
    }
    const data = w instanceof tf.Tensor ? (w.dataSync() as Float32Array) : w.data;
    const outName = name === "lm_head.weight" || !opts.prefix ? name : `transformer.${name}`;
    tensors.set(outName, { dtype: opts.dtype ?? "F32", shape: [...shape], data });
  }
  if (vocab) parseVocabMap(Array.from(vocab), config.vocabSize, "saveModel vocab");
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt", ...opts.metadata });
  if (vocab) writeJsonAtomic(join(dir, VOCAB_MAP_FILE), Array.from(vocab));
  else rmSync(join(dir, VOCAB_MAP_FILE), { force: true }); // a stale map would be picked up on load
  writeJsonAtomic(join(dir, "config.json"), toHfConfig(config, vocab ? VOCAB_MAP_FILE : undefined));
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = join(path, "..", `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/** A model named without a local path: its folder name and the sha256 of its weights file. */
export interface ModelId {
  name: string;
  sha256: string;
}

/** `ModelId` of an HF model folder (sha256 of model.safetensors, as the demo assets' READMEs quote it). */
export function modelId(dir: string): ModelId {
  const weights = join(dir, "model.safetensors");
  if (!existsSync(weights)) throw new Error(`model dir has no model.safetensors: ${dir}`);
  return { name: basename(resolve(dir)), sha256: sha256Files([weights]) };
}
