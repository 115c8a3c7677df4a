// Option helpers shared by the CLI commands: zod validation of commander's raw options with one
// error line, the --clt/--model pair, and loading a CLT run together with its model.
import { readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { type LoadedClt, loadCltDir } from "../attribution/index.ts";
import { sha256Files } from "../data/index.ts";
import { type GPT2, loadModel } from "../model/index.ts";

/** Validate commander's options; a failure throws one line `<what>: <problems joined by "; ">`. */
export function parseOptions<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new Error(`${what}: ${z.prettifyError(r.error).replace(/\n/g, "; ")}`);
  return r.data;
}

/** `--clt <dir>` (required) and `--model <dir>` (default: the model recorded in the CLT run config). */
export function cltModelOptions(cmd: Command, cltHelp = "CLT run directory"): Command {
  return cmd
    .requiredOption("--clt <dir>", cltHelp)
    .option("--model <dir>", "model folder (default: the model recorded in the CLT run config)");
}

/** The CLT in `o.clt` and the model in `o.model`, or else the one its run config records. */
export async function loadCltAndModel(
  o: { clt: string; model?: string | undefined },
  what: string,
): Promise<{ loaded: LoadedClt; modelDir: string; model: GPT2 }> {
  const loaded = loadCltDir(o.clt);
  const modelDir = o.model ?? loaded.model;
  if (!modelDir) throw new Error(`${what}: the CLT run records no model; pass --model`);
  return { loaded, modelDir, model: await loadModel(modelDir) };
}

/** A model or transcoder named without a local path: its folder name and the sha256 of its weights. */
export interface SourceId {
  name: string;
  sha256: string;
}

/** The folder's name and the sha256 of its top-level .safetensors files (sorted by name). */
export function sourceId(dir: string): SourceId {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".safetensors"))
    .sort();
  if (files.length === 0) throw new Error(`${dir} holds no .safetensors weights`);
  return { name: basename(resolve(dir)), sha256: sha256Files(files.map((f) => join(dir, f))) };
}
