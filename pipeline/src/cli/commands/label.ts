// `atlas label`: feature labels — offline heuristic or LLM explainer + scorers; Neuronpedia JSONL export/import.
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { inRunFolder } from "@circuit-atlas/util";
import type { Command } from "commander";
import { z } from "zod";
import {
  exportNeuronpedia,
  importNeuronpedia,
  labelFeatures,
  StudyFeatureInputSchema,
} from "../../autointerp/index.ts";
import { LABELS_DIR, readFeatureManifest } from "../../features/index.ts";
import { parseOptions } from "../options.ts";

export const DEFAULT_LLM = "gpt-4o-mini";

const int = z.coerce.number().int();
const num = z.coerce.number();
const Args = z.object({
  clt: z.string().min(1),
  limit: int.positive().optional(),
  features: z
    .string()
    .transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .optional(),
  offline: z.boolean().optional(),
  llm: z.string().min(1).optional(),
  scorer: z.string().min(1).optional(),
  concurrency: int.positive().optional(),
  rpm: num.nonnegative().optional(),
  timeout: num.positive().optional(),
  retries: int.nonnegative().optional(),
  temperature: num.min(0).max(2).optional(),
  maxTokens: int.positive().optional(),
  maxCost: num.positive().optional(),
  priceIn: num.nonnegative().optional(),
  priceOut: num.nonnegative().optional(),
  seed: int.default(0),
  relabel: z.boolean().optional(),
  study: z.string().optional(),
  export: z.string().optional(),
  import: z.string().optional(),
  modelId: z.string().optional(),
  history: z.boolean().optional(),
  quiet: z.boolean().optional(),
});

export function register(program: Command): void {
  program
    .command("label")
    .description(
      "label CLT features from their statistics (<clt>/features/): an LLM explainer with detection and fuzzing scores at an " +
        "OpenAI-compatible endpoint (OPENAI_BASE_URL, OPENAI_API_KEY), or the offline heuristic labeler (--offline, or when " +
        "neither variable is set); labels go to <clt>/labels/labels.jsonl",
    )
    .requiredOption("--clt <dir>", "folder with features/ (the CLT dir, or the --out of atlas features)")
    .option("--limit <n>", "label at most n features this run (finished ones are skipped)")
    .option("--features <ids>", "only these feature ids, comma-separated (e.g. 0_12,3_7)")
    .option("--offline", "use the heuristic labeler (source: heuristic), no endpoint")
    .option("--llm <model>", `explainer model (default $ATLAS_LLM_MODEL or ${DEFAULT_LLM})`)
    .option("--scorer <model>", "scorer model (default: the explainer model)")
    .option("--concurrency <n>", "features in flight (default 4)")
    .option("--rpm <n>", "max requests per minute (default unlimited)")
    .option("--timeout <sec>", "per-request timeout (default 60)")
    .option("--retries <n>", "retries of 429/5xx/timeouts per request (default 4)")
    .option("--temperature <x>", "sampling temperature (default 0)")
    .option("--max-tokens <n>", "budget: stop starting features after this many tokens")
    .option("--max-cost <usd>", "budget: stop starting features after this estimated cost")
    .option("--price-in <usd>", "USD per 1M prompt tokens (cost estimate)")
    .option("--price-out <usd>", "USD per 1M completion tokens (cost estimate)")
    .option("--seed <n>", "sampling seed (example order, fuzzing highlights)", "0")
    .option("--relabel", "label again even when a label from the same inputs exists (history is kept)")
    .option("--study <file>", "greater-than study JSON (greater-than.json) for the heuristic greater-than labels")
    .option("--export <file>", "write the current labels as Neuronpedia explanation JSONL instead of labeling")
    .option("--history", "with --export: every label, not only the current one")
    .option("--model-id <id>", "Neuronpedia modelId for --export (default: the model dir's name)")
    .option("--import <file>", "append the labels of a Neuronpedia explanation JSONL file (source: imported)")
    .option("--quiet", "no progress bar")
    .action(async (raw: unknown) => {
      const o = parseOptions(Args, raw, "label");
      if (o.export) {
        const m = readFeatureManifest(o.clt);
        const modelId = o.modelId ?? (m.model.dir ? basename(m.model.dir) : m.transcoder.id);
        const n = await exportNeuronpedia(o.clt, o.export, { modelId, history: o.history ?? false });
        process.stderr.write(`label: exported ${n} explanations to ${o.export}\n`);
        return;
      }
      // Labeling and importing write labels/: one writer at a time (the CLT folder stays open to others).
      const own = <T>(work: () => Promise<T>) =>
        inRunFolder(join(o.clt, LABELS_DIR), { what: "atlas label", mode: "add", flag: "--clt" }, work);
      if (o.import) {
        if (!existsSync(o.import)) throw new Error(`label --import: ${o.import} does not exist`);
        const file = o.import;
        const n = await own(() => importNeuronpedia(o.clt, file));
        process.stderr.write(`label: imported ${n} explanations from ${o.import}\n`);
        return;
      }
      const endpointConfigured = Boolean(process.env.OPENAI_BASE_URL || process.env.OPENAI_API_KEY);
      const mode = o.offline || !endpointConfigured ? "heuristic" : "llm";
      if (mode === "heuristic" && !o.offline)
        process.stderr.write("label: no OPENAI_BASE_URL/OPENAI_API_KEY set, using the offline heuristic labeler\n");
      let study: z.infer<typeof StudyFeatureInputSchema>[] | undefined;
      if (o.study) {
        if (!existsSync(o.study)) throw new Error(`label --study: ${o.study} does not exist`);
        let parsed: unknown;
        try {
          parsed = JSON.parse(readFileSync(o.study, "utf8"));
        } catch (e) {
          throw new Error(`label --study: ${o.study} is not valid JSON (${(e as Error).message})`);
        }
        const r = z.object({ features: z.array(StudyFeatureInputSchema) }).safeParse(parsed);
        if (!r.success)
          throw new Error(
            `label --study: ${o.study} is not a greater-than study result (${r.error.issues[0]?.message})`,
          );
        study = r.data.features;
      }
      const model = o.llm ?? (process.env.ATLAS_LLM_MODEL || DEFAULT_LLM);
      const summary = await own(() =>
        labelFeatures({
          runDir: o.clt,
          mode,
          ...(o.features ? { features: o.features } : {}),
          ...(o.limit !== undefined ? { limit: o.limit } : {}),
          llm: {
            model,
            ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
            ...(o.timeout !== undefined ? { timeoutMs: o.timeout * 1000 } : {}),
            ...(o.retries !== undefined ? { maxRetries: o.retries } : {}),
            ...(o.concurrency !== undefined ? { concurrency: o.concurrency * 2 } : {}),
            ...(o.rpm !== undefined ? { requestsPerMinute: o.rpm } : {}),
            seed: o.seed,
          },
          ...(o.scorer ? { scorerModel: o.scorer } : {}),
          seed: o.seed,
          relabel: o.relabel ?? false,
          ...(o.maxTokens !== undefined ? { maxTokens: o.maxTokens } : {}),
          ...(o.maxCost !== undefined ? { maxCostUsd: o.maxCost } : {}),
          ...(o.priceIn !== undefined ? { priceIn: o.priceIn } : {}),
          ...(o.priceOut !== undefined ? { priceOut: o.priceOut } : {}),
          ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
          ...(study ? { study } : {}),
          quiet: o.quiet ?? false,
        }),
      );
      process.stdout.write(`${JSON.stringify({ mode, ...summary })}\n`);
      if (summary.failed > 0)
        process.stderr.write(
          `label: ${summary.failed} features failed; see ${o.clt}/labels/failures.jsonl (rerun to retry them)\n`,
        );
      if (summary.budgetReached)
        process.stderr.write("label: budget reached; rerun with a higher --max-tokens/--max-cost to continue\n");
    });
}
