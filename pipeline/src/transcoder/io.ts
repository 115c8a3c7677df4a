// Files: the native run dir (config.json, clt.safetensors, checkpoint/, metrics.jsonl, eval.json),
// circuit-tracer's CLT directory format.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "@circuit-atlas/util";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { z } from "zod";
import { corpusId, openCorpus } from "../data/sources.ts";
import { modelId } from "../model/load.ts";
import { readSafetensors, type SafetensorsFile, type TensorToWrite, writeSafetensors } from "../safetensors/index.ts";
import { FEATURE_INPUT_HOOK, FEATURE_OUTPUT_HOOK } from "./hooks.ts";
import type { CltShape, CltWeights } from "./params.ts";

export { FEATURE_INPUT_HOOK, FEATURE_OUTPUT_HOOK };
export const WEIGHTS_FILE = "clt.safetensors";
export const RUN_CONFIG_FILE = "config.json";

export type WeightDtype = "F32" | "F16";

function tensor(shape: number[], data: Float32Array, dtype: WeightDtype): TensorToWrite {
  return { dtype, shape, data };
}

function get(file: SafetensorsFile, name: string, where: string, shape?: number[]): Float32Array {
  const t = file.tensors.get(name);
  if (!t) throw new Error(`${where}: missing tensor ${name}`);
  if (!(t.data instanceof Float32Array)) throw new Error(`${where}: tensor ${name} is ${t.dtype}, expected a float`);
  if (shape && (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]))) {
    throw new Error(`${where}: tensor ${name} has shape [${t.shape}], expected [${shape}]`);
  }
  return t.data;
}

/** Native weights file: circuit-tracer tensor names and shapes, all layers in one file. */
export function saveWeights(
  path: string,
  w: CltWeights,
  dtype: WeightDtype = "F32",
  meta: Record<string, string> = {},
): void {
  const { nLayers: L, dModel: d, nFeatures: F } = w.shape;
  const t = new Map<string, TensorToWrite>();
  for (let l = 0; l < L; l++) {
    t.set(`W_enc_${l}`, tensor([F, d], w.wEnc[l]!, dtype));
    t.set(`b_enc_${l}`, tensor([F], w.bEnc[l]!, dtype));
    t.set(`threshold_${l}`, tensor([F], w.threshold[l]!, dtype));
    t.set(`b_dec_${l}`, tensor([d], w.bDec[l]!, dtype));
    t.set(`W_dec_${l}`, tensor([F, L - l, d], w.wDec[l]!, dtype));
  }
  writeSafetensors(path, t, {
    format: "circuit-atlas-clt",
    n_layers: String(L),
    d_model: String(d),
    n_features: String(F),
    feature_input_hook: FEATURE_INPUT_HOOK,
    feature_output_hook: FEATURE_OUTPUT_HOOK,
    ...meta,
  });
}

function shapeFrom(file: SafetensorsFile, where: string): CltShape {
  let L = 0;
  while (file.tensors.has(`W_enc_${L}`)) L++;
  const first = file.tensors.get("W_enc_0");
  if (L === 0 || !first || first.shape.length !== 2) throw new Error(`${where}: no W_enc_0 [F, d] tensor`);
  return { nLayers: L, nFeatures: first.shape[0]!, dModel: first.shape[1]! };
}

export function loadWeights(path: string): CltWeights {
  if (!existsSync(path)) throw new Error(`CLT weights not found: ${path}`);
  const f = readSafetensors(path);
  const shape = shapeFrom(f, path);
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const w: CltWeights = { shape, wEnc: [], bEnc: [], threshold: [], wDec: [], bDec: [] };
  for (let l = 0; l < L; l++) {
    w.wEnc.push(get(f, `W_enc_${l}`, path, [F, d]));
    w.bEnc.push(get(f, `b_enc_${l}`, path, [F]));
    w.threshold.push(get(f, `threshold_${l}`, path, [F]));
    w.bDec.push(get(f, `b_dec_${l}`, path, [d]));
    w.wDec.push(get(f, `W_dec_${l}`, path, [F, L - l, d]));
  }
  return w;
}

/**
 * circuit-tracer's CLT layout: W_enc_{i}.safetensors {W_enc_i [F,d], b_enc_i [F], b_dec_i [d],
 * threshold_i [F]}, W_dec_{i}.safetensors {W_dec_i [F, L−i, d]}, config.yaml.
 */
export function exportCircuitTracer(w: CltWeights, dir: string, modelName: string, dtype: WeightDtype = "F32"): void {
  mkdirSync(dir, { recursive: true });
  const { nLayers: L, dModel: d, nFeatures: F } = w.shape;
  for (let l = 0; l < L; l++) {
    const enc = new Map<string, TensorToWrite>();
    enc.set(`W_enc_${l}`, tensor([F, d], w.wEnc[l]!, dtype));
    enc.set(`b_enc_${l}`, tensor([F], w.bEnc[l]!, dtype));
    enc.set(`b_dec_${l}`, tensor([d], w.bDec[l]!, dtype));
    enc.set(`threshold_${l}`, tensor([F], w.threshold[l]!, dtype));
    writeSafetensors(join(dir, `W_enc_${l}.safetensors`), enc);
    writeSafetensors(
      join(dir, `W_dec_${l}.safetensors`),
      new Map([[`W_dec_${l}`, tensor([F, L - l, d], w.wDec[l]!, dtype)]]),
    );
  }
  const cfg = {
    model_name: modelName,
    model_kind: "cross_layer_transcoder",
    feature_input_hook: FEATURE_INPUT_HOOK,
    feature_output_hook: FEATURE_OUTPUT_HOOK,
  };
  writeFileAtomic(join(dir, "config.yaml"), stringifyYaml(cfg));
}

const CtConfigSchema = z.object({
  model_name: z.string().optional(),
  model_kind: z.literal("cross_layer_transcoder"),
  feature_input_hook: z.string().default(FEATURE_INPUT_HOOK),
  feature_output_hook: z.string().default(FEATURE_OUTPUT_HOOK),
});

export function importCircuitTracer(dir: string): { weights: CltWeights; modelName: string | null } {
  const cfgPath = join(dir, "config.yaml");
  if (!existsSync(cfgPath)) throw new Error(`not a circuit-tracer CLT dir (no config.yaml): ${dir}`);
  const parsed = CtConfigSchema.safeParse(parseYaml(readFileSync(cfgPath, "utf8")));
  if (!parsed.success) {
    throw new Error(`${cfgPath}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const c = parsed.data;
  if (c.feature_input_hook !== FEATURE_INPUT_HOOK || c.feature_output_hook !== FEATURE_OUTPUT_HOOK) {
    throw new Error(
      `${cfgPath}: only ${FEATURE_INPUT_HOOK} → ${FEATURE_OUTPUT_HOOK} CLTs are supported (got ${c.feature_input_hook} → ${c.feature_output_hook})`,
    );
  }
  const enc0 = join(dir, "W_enc_0.safetensors");
  if (!existsSync(enc0)) throw new Error(`${dir}: missing W_enc_0.safetensors`);
  let L = 0;
  while (existsSync(join(dir, `W_enc_${L}.safetensors`))) L++;
  const first = readSafetensors(enc0).tensors.get("W_enc_0");
  if (first?.shape.length !== 2) throw new Error(`${enc0}: no W_enc_0 [F, d] tensor`);
  const [F, d] = first.shape as [number, number];
  const w: CltWeights = {
    shape: { nLayers: L, dModel: d, nFeatures: F },
    wEnc: [],
    bEnc: [],
    threshold: [],
    wDec: [],
    bDec: [],
  };
  for (let l = 0; l < L; l++) {
    const ep = join(dir, `W_enc_${l}.safetensors`);
    const dp = join(dir, `W_dec_${l}.safetensors`);
    if (!existsSync(dp)) throw new Error(`${dir}: missing W_dec_${l}.safetensors`);
    const ef = readSafetensors(ep);
    w.wEnc.push(get(ef, `W_enc_${l}`, ep, [F, d]));
    w.bEnc.push(get(ef, `b_enc_${l}`, ep, [F]));
    w.bDec.push(get(ef, `b_dec_${l}`, ep, [d]));
    const th = ef.tensors.get(`threshold_${l}`);
    if (!th) throw new Error(`${ep}: missing threshold_${l} (only JumpReLU CLTs are supported)`);
    if (th.shape.reduce((a, b) => a * b, 1) !== F) throw new Error(`${ep}: threshold_${l} has shape [${th.shape}]`);
    w.threshold.push(get(ef, `threshold_${l}`, ep));
    w.wDec.push(get(readSafetensors(dp), `W_dec_${l}`, dp, [F, L - l, d]));
  }
  return { weights: w, modelName: c.model_name ?? null };
}

/** config.json of a run dir (only the fields later tools rely on are validated strictly). */
export const RunConfigSchema = z
  .object({
    kind: z.literal("clt"),
    version: z.literal(1),
    model: z.string().nullable(),
    modelName: z.string().nullable().optional(),
    shape: z.object({ nLayers: z.number().int(), dModel: z.number().int(), nFeatures: z.number().int() }),
    featureInputHook: z.string(),
    featureOutputHook: z.string(),
    train: z.record(z.string(), z.unknown()).nullable(),
  })
  .passthrough();

export type RunConfig = z.infer<typeof RunConfigSchema>;

export function readRunConfig(runDir: string): RunConfig {
  const p = join(runDir, RUN_CONFIG_FILE);
  if (!existsSync(p)) throw new Error(`not a CLT run dir (no ${RUN_CONFIG_FILE}): ${runDir}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, "utf8"));
  } catch (err) {
    throw new Error(`${p} is not valid JSON: ${String(err)}`);
  }
  const r = RunConfigSchema.safeParse(raw);
  if (!r.success) throw new Error(`${p}: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const cfg = r.data;
  // `model` is stored relative to the run dir (so a run dir shipped inside the repo keeps working
  // in any clone); `modelId` names it by folder name + weights sha256. A run dir moved on its own
  // needs --model. (Older run configs may still carry `modelAbsolute`: used when the relative path
  // does not resolve.)
  if (cfg.model && !isAbsolute(cfg.model)) {
    const rel = resolve(runDir, cfg.model);
    const abs = typeof cfg.modelAbsolute === "string" ? cfg.modelAbsolute : null;
    cfg.model = existsSync(rel) || !abs || !existsSync(abs) ? rel : abs;
  }
  return cfg;
}

/**
 * The `train` section as written to config.json: the model and corpus as ids (name + content sha256)
 * instead of local paths, so shipped and published run configs name what they were trained on
 * without a machine's directories. The checkpoint keeps the paths for --resume.
 */
async function trainForRunConfig(train: Record<string, unknown> | null): Promise<Record<string, unknown> | null> {
  if (!train) return null;
  const out: Record<string, unknown> = { ...train };
  if (typeof train.model === "string" && existsSync(join(train.model, "model.safetensors"))) {
    out.model = modelId(train.model);
  }
  if (typeof train.corpus === "string") {
    try {
      out.corpus = corpusId(await openCorpus(train.corpus));
    } catch {
      out.corpus = { name: basename(train.corpus) };
    }
  }
  return out;
}

export async function writeRunConfig(runDir: string, cfg: RunConfig): Promise<void> {
  mkdirSync(runDir, { recursive: true });
  const { modelAbsolute: _dropped, ...out }: RunConfig = { ...cfg };
  if (cfg.model) {
    const abs = resolve(cfg.model);
    out.model = relative(resolve(runDir), abs) || ".";
    if (existsSync(join(abs, "model.safetensors"))) out.modelId = modelId(abs);
  }
  out.train = await trainForRunConfig(cfg.train);
  writeJsonAtomic(join(runDir, RUN_CONFIG_FILE), out);
}

/** Native run dir from weights (used by import and by training). */
export async function writeRunDir(
  runDir: string,
  w: CltWeights,
  opts: {
    model: string | null;
    modelName?: string | null;
    train?: Record<string, unknown> | null;
    dtype?: WeightDtype;
  },
): Promise<void> {
  mkdirSync(runDir, { recursive: true });
  saveWeights(join(runDir, WEIGHTS_FILE), w, opts.dtype ?? "F32");
  await writeRunConfig(runDir, {
    kind: "clt",
    version: 1,
    model: opts.model ? resolve(opts.model) : null,
    modelName: opts.modelName ?? null,
    shape: { ...w.shape },
    featureInputHook: FEATURE_INPUT_HOOK,
    featureOutputHook: FEATURE_OUTPUT_HOOK,
    train: opts.train ?? null,
  });
}
