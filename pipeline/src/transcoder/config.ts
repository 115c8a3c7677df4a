// Training configuration: one zod schema for config files (JSON/YAML), CLI flags and the effective
// config written into the run dir. Defaults are the demo settings documented in CLT.md.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

const pos = () => z.number().positive();
const posInt = () => z.number().int().positive();

export const CltTrainConfigSchema = z
  .object({
    /** HF GPT-2 model dir the activations come from (recorded so later tools default to it). */
    model: z.string().min(1),
    /** Corpus path or glob (text / JSONL / Parquet). */
    corpus: z.string().min(1),
    featuresPerLayer: posInt(),
    /** Training tokens (BOS positions excluded). */
    tokens: posInt(),
    /** Tokens per optimizer step. */
    batchTokens: posInt().default(2048),
    /** Tokens per context when packing the corpus (BOS included); 0 = min(model nCtx, 128). */
    contextLength: z.number().int().min(0).default(0),
    /** Contexts per model forward when harvesting. */
    harvestContexts: posInt().default(64),
    /** Context-level shuffle buffer of the corpus stream (contexts). */
    contextShuffle: z.number().int().min(0).default(256),
    /** Token-level activation shuffle buffer (tokens held in memory). */
    bufferTokens: posInt().default(65536),
    lr: pos().default(1e-3),
    /** Fraction of the run at the end over which the LR decays linearly to 0. */
    lrDecayFraction: z.number().min(0).max(1).default(0.2),
    /** LR warm-up steps (linear from 0). */
    lrWarmupSteps: z.number().int().min(0).default(50),
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.999),
    adamEps: pos().default(1e-8),
    weightDecay: z.number().min(0).default(0),
    /** Global-norm gradient clipping (0 = off). */
    gradClip: z.number().min(0).default(1),
    /** Final sparsity coefficient λ (ramped linearly from 0 over the whole run). */
    lambda: z.number().min(0).default(0.6),
    /** tanh scale c in λ·tanh(c·‖W_dec,i‖·a_i). */
    c: pos().default(4),
    /** Pre-activation loss coefficient λ_P. */
    lambdaPre: z.number().min(0).default(3e-6),
    /** JumpReLU pseudo-gradient bandwidth ε (normalized units, where z has unit std at init). */
    bandwidth: pos().default(0.5),
    /** Initial threshold θ (normalized units). */
    thresholdInit: pos().default(1),
    /** Data-dependent init: fraction of tokens each feature fires on at step 0. */
    initFiringRate: z.number().gt(0).lt(1).default(0.03),
    /** Initial norm of each feature's concatenated decoder. */
    decoderInitNorm: pos().default(0.1),
    /** Tokens used to estimate the normalization scalars and the data-dependent init. */
    initTokens: posInt().default(8192),
    /** EMA window (tokens) of the per-feature firing frequency used for dead-feature stats. */
    deadWindowTokens: posInt().default(1_000_000),
    seed: z.number().int().min(0).default(0),
    checkpointEvery: z.number().int().min(0).default(500),
    /** Steps between metrics.jsonl lines. */
    logEvery: posInt().default(10),
    /** "fused": hand-fused step on BLAS sgemm (fast); "tfjs": tfjs autodiff reference (slow). */
    engine: z.enum(["fused", "tfjs"]).default("fused"),
    /**
     * Fused engine: "auto" picks dense GEMMs or sparse row operations per layer and step by the
     * measured fraction of candidate features (CLT.md, Engine); "dense" / "sparse" force one path.
     */
    fusedPath: z.enum(["auto", "dense", "sparse"]).default("auto"),
  })
  .strict();

export type CltTrainConfig = z.infer<typeof CltTrainConfigSchema>;
export type CltTrainConfigInput = z.input<typeof CltTrainConfigSchema>;

/** Parses a JSON or YAML config file into a plain object (validated later, after CLI overrides). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read config file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new Error(`config file ${path} is not valid ${/\.ya?ml$/i.test(path) ? "YAML" : "JSON"}: ${String(err)}`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new Error(`config file ${path} must hold an object of options`);
  }
  return data as Record<string, unknown>;
}

/** Validates a merged config; one error line listing every bad field. */
export function parseTrainConfig(input: unknown, where = "config"): CltTrainConfig {
  const r = CltTrainConfigSchema.safeParse(input);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`invalid CLT ${where}: ${msg}`);
  }
  return r.data;
}
