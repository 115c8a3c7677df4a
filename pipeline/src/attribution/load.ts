// Loading a CLT for attribution through the transcoder's public entry point: a native run
// directory (config.json + clt.safetensors) or a circuit-tracer directory (config.yaml + per-layer
// W_enc_{l} / W_dec_{l} safetensors).
import { existsSync } from "node:fs";
import { CLT } from "../transcoder/index.ts";
import type { CltLike } from "./clt.ts";

export interface LoadedClt {
  clt: CltLike;
  /** Model recorded with the CLT (the run config's model directory), if any. */
  model: string | null;
}

export function loadCltDir(dir: string): LoadedClt {
  if (!existsSync(dir)) throw new Error(`CLT directory ${dir} does not exist`);
  const c = CLT.load(dir);
  return { clt: c.weights, model: c.modelDir };
}

export function loadCltRun(dir: string): CltLike {
  return loadCltDir(dir).clt;
}
