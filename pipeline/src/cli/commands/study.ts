// `atlas study greater-than`: the greater-than study on a model + CLT (metrics, feature ranking,
// per-feature YY×ZZ heatmaps, descriptors, JSON, images, Markdown report).
import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { initBackend } from "../../backend/index.ts";
import { HELDOUT_NOUNS, TRAIN_NOUNS } from "../../data/demo-corpus.ts";
import { greaterThanStudy, HANNA_STYLE_NOUNS } from "../../study/index.ts";
import { cltModelOptions, loadCltAndModel, parseOptions } from "../options.ts";

const int = z.coerce.number().int();
const Args = z.object({
  clt: z.string().min(1),
  model: z.string().min(1).optional(),
  out: z.string().min(1),
  nouns: z.string().min(1).optional(),
  centuries: z
    .string()
    .regex(/^\d\d(,\d\d)*$/, "--centuries must be comma-separated two-digit prefixes, e.g. 16,17")
    .optional(),
  prompts: int.positive(),
  graphs: int.positive(),
  heatmapPerYy: int.positive(),
  top: int.positive(),
  svgFeatures: int.min(0),
  maxFeatureNodes: int.positive(),
  seed: int.min(0),
  quiet: z.boolean().optional(),
});

function nounList(spec: string | undefined, compactVocab: boolean): readonly string[] {
  if (spec === undefined) return compactVocab ? HELDOUT_NOUNS : HANNA_STYLE_NOUNS;
  if (spec === "heldout") return HELDOUT_NOUNS;
  if (spec === "train") return TRAIN_NOUNS;
  if (spec === "hanna") return HANNA_STYLE_NOUNS;
  let text: string;
  try {
    text = readFileSync(spec, "utf8");
  } catch {
    throw new Error(`--nouns: "${spec}" is not heldout | train | hanna or a readable file`);
  }
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s && !s.startsWith("#"));
}

export function register(program: Command): void {
  const study = program.command("study").description("studies on attribution graphs");
  cltModelOptions(
    study
      .command("greater-than")
      .description(
        "Hanna et al.'s greater-than task: metrics of the original and replacement model, features ranked by " +
          "influence over many graphs, per-feature YY×ZZ heatmaps and descriptors; JSON, PNG/SVG and report.md in --out",
      ),
    "CLT run directory",
  )
    .requiredOption("--out <dir>", "output directory")
    .option("--nouns <list>", "heldout | train | hanna | FILE (default: heldout for a compact-vocab model, else hanna)")
    .option("--centuries <list>", "century prefixes, e.g. 16,17 (default 11..18)")
    .option("--prompts <n>", "prompts for the task metrics (balanced over YY)", "490")
    .option("--graphs <n>", "attribution graphs for the feature ranking", "40")
    .option("--heatmap-per-yy <n>", "prompts per YY for the feature heatmaps", "6")
    .option("--top <n>", "features studied", "160")
    .option("--svg-features <n>", "top features that also get an SVG heatmap", "16")
    .option("--max-feature-nodes <n>", "feature-node cap per graph", "7500")
    .option("--seed <n>", "sampling seed", "0")
    .option("--quiet", "no progress output")
    .action(async (raw: unknown) => {
      const o = parseOptions(Args, raw, "study greater-than");
      const t0 = performance.now();
      const log = (m: string) => {
        if (!o.quiet) process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
      };
      await initBackend(undefined, { quiet: o.quiet });
      const { loaded, modelDir, model } = await loadCltAndModel(o, "study greater-than");
      const opts: Parameters<typeof greaterThanStudy>[0] = {
        model,
        clt: loaded.clt,
        modelName: basename(resolve(modelDir)), // a name, never a local path
        cltName: basename(o.clt.replace(/\/+$/, "")),
        nouns: nounList(o.nouns, model.vocab !== null),
        metricPrompts: o.prompts,
        graphPrompts: o.graphs,
        heatmapPromptsPerYY: o.heatmapPerYy,
        topN: o.top,
        svgFeatures: o.svgFeatures,
        maxFeatureNodes: o.maxFeatureNodes,
        seed: o.seed,
        outDir: o.out,
        onProgress: log,
      };
      if (o.centuries) opts.centuries = o.centuries.split(",").map(Number);
      const r = await greaterThanStudy(opts);
      log(`verdict: ${r.verdict.verdict} Goodfire's picture`);
      process.stdout.write(`${r.files.report}\n${r.files.json}\n`);
      process.stderr.write(`time: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    });
}
