// The build config: one file for everything `atlas build` does, validated with zod (which also
// emits its JSON schema, build.schema.json). Every field has a default, so `{}` is the offline demo.
import { readFileSync } from "node:fs";
import { z } from "zod";

const int = z.number().int();

export const DEFAULT_PROMPTS = [
  "The war lasted from the year 1711 to 17",
  "The pandemic lasted from the year 1732 to 17",
  "The expedition lasted from the year 1654 to 16",
];

export const BuildConfig = z
  .object({
    $schema: z.string().optional(),
    out: z.string().default("runs/atlas").describe("run folder (relative to the current directory)"),
    name: z
      .string()
      .regex(/^[A-Za-z0-9][\w.-]*$/)
      .optional()
      .describe(
        "atlas name: the transcoder id is `<name>-clt`, graph ids `<name>-prompt-NN` (default: the run folder's name)",
      ),
    model: z
      .string()
      .default("demo")
      .describe('"demo" (the shipped demo model), a local HF model folder, or a Hugging Face hub id such as "gpt2"'),
    parallelStages: int
      .positive()
      .default(2)
      .describe(
        "stages run side by side once their inputs are ready (eval, graphs, study and dashboards all read only the CLT); does not change any result",
      ),
    corpus: z
      .object({
        train: z
          .string()
          .default("demo")
          .describe('"demo" (generated offline) or a text / JSONL / Parquet path or glob, e.g. FineWeb shards'),
        heldout: z
          .string()
          .default("demo")
          .describe('"demo" (the held-out-noun split) or a path/glob of text the CLT never saw'),
        demoTokens: int.positive().default(1_000_000).describe("tokens generated for the demo training corpus"),
      })
      .prefault({}),
    clt: z
      .object({
        featuresPerLayer: int.positive().default(512),
        tokens: int.positive().default(600_000).describe("training tokens"),
        batchTokens: int.positive().optional(),
        extraArgs: z
          .array(z.string())
          .default([])
          .describe('further `atlas clt train` flags, e.g. ["--lambda", "0.8"]'),
      })
      .prefault({}),
    eval: z.object({ tokens: int.positive().default(32_768) }).prefault({}),
    features: z.object({ tokens: int.positive().default(40_000) }).prefault({}),
    labels: z
      .object({
        mode: z
          .enum(["auto", "llm", "heuristic"])
          .default("auto")
          .describe("auto: an LLM when OPENAI_BASE_URL is set, else the offline heuristic labeler"),
        llmModel: z.string().optional().describe("explainer model (default $ATLAS_LLM_MODEL or gpt-4o-mini)"),
        limit: int.positive().optional().describe("label at most this many features"),
      })
      .prefault({}),
    prompts: z.array(z.string().min(1)).min(1).default(DEFAULT_PROMPTS).describe("prompts traced into graphs"),
    trace: z
      .object({
        validate: int.min(0).default(8).describe("top-k features ablated per graph to check its predictions"),
        maxFeatureNodes: int.positive().default(7500),
      })
      .prefault({}),
    study: z
      .object({
        enabled: z.boolean().default(true),
        prompts: int.positive().default(490),
        graphs: int.positive().default(40),
        top: int.positive().default(160),
      })
      .prefault({}),
    ingest: z
      .object({
        enabled: z.boolean().default(true),
        virtualTopK: int.min(0).default(8).describe("top-k residual-direct virtual weights stored per feature"),
      })
      .prefault({}),
  })
  .strict();

export type BuildConfig = z.infer<typeof BuildConfig>;

/** The config in `path` (JSON), or the defaults; one error line naming the file and the bad fields. */
export function loadBuildConfig(path?: string): BuildConfig {
  if (!path) return BuildConfig.parse({});
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`build config ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const r = BuildConfig.safeParse(raw);
  if (!r.success) throw new Error(`build config ${path}: ${z.prettifyError(r.error).replace(/\n/g, "; ")}`);
  return r.data;
}

/** The JSON schema editors use for build config files (written to pipeline/build.schema.json). */
export function buildConfigJsonSchema(): object {
  return z.toJSONSchema(BuildConfig, { io: "input" });
}
