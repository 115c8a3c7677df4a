// Loading a CLT for attribution: a native run directory (config.json + clt.safetensors) or a
// circuit-tracer directory (W_enc_{l}.safetensors / W_dec_{l}.safetensors + config.yaml).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { importCircuitTracer, loadWeights, readRunConfig, WEIGHTS_FILE } from "../transcoder/io.ts";
import type { CltLike } from "./clt.ts";

export interface LoadedClt {
  clt: CltLike;
  /** Model recorded with the CLT (run config `model`, or circuit-tracer's model name), if any. */
  model: string | null;
}

export function loadCltDir(dir: string): LoadedClt {
  if (!existsSync(dir)) throw new Error(`CLT directory ${dir} does not exist`);
  if (existsSync(join(dir, WEIGHTS_FILE))) {
    const cfg = readRunConfig(dir);
    return { clt: loadWeights(join(dir, WEIGHTS_FILE)), model: cfg.model ?? null };
  }
  if (existsSync(join(dir, "W_enc_0.safetensors"))) {
    const { weights, modelName } = importCircuitTracer(dir);
    return { clt: weights, model: modelName };
  }
  throw new Error(`${dir} is neither a CLT run directory (${WEIGHTS_FILE}) nor a circuit-tracer CLT directory`);
}

export function loadCltRun(dir: string): CltLike {
  return loadCltDir(dir).clt;
}
