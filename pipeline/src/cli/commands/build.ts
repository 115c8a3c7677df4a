// `atlas build`: the whole pipeline into a run folder and Neo4j, each stage skipped when up to date.
import { existsSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { inRunFolder, writeJsonAtomic } from "@circuit-atlas/util";
import type { Command } from "commander";
import { z } from "zod";
import { initBackend } from "../../backend/index.ts";
import {
  buildConfigJsonSchema,
  buildSummary,
  estimateStages,
  formatEstimate,
  formatSummary,
  loadBuildConfig,
  type ModelShape,
  type PlanContext,
  planActions,
  runBuild,
} from "../../build/index.ts";
import { modelId, parseHfConfig, pullModel } from "../../model/index.ts";
import { parseOptions } from "../options.ts";
import { DEMO_MODEL_DIR } from "./lm.ts";

// Shapes of the public GPT-2 checkpoints, for a dry run before anything is downloaded.
const KNOWN_SHAPES: Record<string, ModelShape> = {
  gpt2: { nLayers: 12, dModel: 768, nParams: 124_439_808, nCtx: 1024 },
  "openai-community/gpt2": { nLayers: 12, dModel: 768, nParams: 124_439_808, nCtx: 1024 },
  "gpt2-medium": { nLayers: 24, dModel: 1024, nParams: 354_823_168, nCtx: 1024 },
};

interface ResolvedModel {
  dir: string;
  key: string;
  shape: ModelShape;
}

/** The model folder, what identifies its weights, and its shape for estimates. */
async function resolveModel(spec: string, dryRun: boolean): Promise<ResolvedModel> {
  let dir: string;
  let key: string | undefined;
  if (spec === "demo") dir = DEMO_MODEL_DIR;
  else if (existsSync(spec)) dir = resolve(spec);
  else {
    // A dry run downloads nothing: the cache, or the known shape of a public checkpoint.
    let pulled: Awaited<ReturnType<typeof pullModel>>;
    try {
      pulled = await pullModel(spec, { offline: dryRun });
    } catch (err) {
      const known = KNOWN_SHAPES[spec];
      if (!dryRun || !known) throw err;
      return { dir: `${spec} (hub, not downloaded yet)`, key: spec, shape: known };
    }
    dir = pulled.dir;
    key = `${pulled.repoId}@${pulled.commit}`;
  }
  if (!existsSync(join(dir, "config.json"))) throw new Error(`--model ${spec}: ${dir} holds no config.json`);
  key ??= modelId(dir).sha256;
  const c = parseHfConfig(JSON.parse(readFileSync(join(dir, "config.json"), "utf8")), join(dir, "config.json"));
  const nParams =
    c.vocabSize * c.dModel + c.nCtx * c.dModel + c.nLayers * (4 * c.dModel * c.dModel + 2 * c.dModel * c.dMlp);
  return { dir, key, shape: { nLayers: c.nLayers, dModel: c.dModel, nParams, nCtx: c.nCtx } };
}

export function register(program: Command): void {
  program
    .command("build")
    .description(
      "the whole pipeline: corpus → CLT training and eval → attribution graphs → greater-than study → feature dashboards → labels → Neo4j; stages already up to date are skipped, an interrupted run resumes",
    )
    .option("--config <file>", "build config JSON (schema: pipeline/build.schema.json); flags override it")
    .option("--out <dir>", "run folder (default runs/atlas)")
    .option("--name <name>", "atlas name; the transcoder id is <name>-clt (default: the run folder's name)")
    .option("--model <model>", 'model: "demo", a local HF folder, or a hub id such as "gpt2"')
    .option("--corpus <path>", "training corpus (text / JSONL / Parquet, glob ok); default: the generated demo corpus")
    .option(
      "--dry-run",
      "print the plan (run / resume / skip per stage) and the time and memory estimates, run nothing",
    )
    .option("--schema", "print the build config's JSON schema (pipeline/build.schema.json) and exit")
    .option("--summary <file>", "also write the final summary as JSON here (default: <out>/summary.json)")
    .option(
      "--site-url <url>",
      "list this site URL (and --api-url) in the final summary; npm start passes what it serves next",
    )
    .option("--api-url <url>", "the GraphQL URL to list in the final summary")
    .action(async (raw: unknown) => {
      const o = parseOptions(
        z.object({
          config: z.string().optional(),
          out: z.string().optional(),
          name: z.string().optional(),
          model: z.string().optional(),
          corpus: z.string().optional(),
          dryRun: z.boolean().optional(),
          summary: z.string().optional(),
          schema: z.boolean().optional(),
          siteUrl: z.string().url().optional(),
          apiUrl: z.string().url().optional(),
        }),
        raw,
        "build",
      );
      if (o.schema) {
        process.stdout.write(`${JSON.stringify(buildConfigJsonSchema(), null, 2)}\n`);
        return;
      }
      const cfg = loadBuildConfig(o.config);
      if (o.out) cfg.out = o.out;
      if (o.name) cfg.name = o.name;
      if (o.model) cfg.model = o.model;
      if (o.corpus) cfg.corpus.train = o.corpus;
      const backend = await initBackend(undefined, { quiet: true });
      const model = await resolveModel(cfg.model, Boolean(o.dryRun));
      const out = resolve(cfg.out);
      const ctx: PlanContext = {
        out,
        name: cfg.name ?? basename(out),
        modelDir: model.dir,
        modelKey: model.key,
        llmAvailable: Boolean(process.env.OPENAI_BASE_URL),
      };
      const log = (l: string) => process.stderr.write(`${l}\n`);
      log(`build: ${ctx.out} (model ${cfg.model === "demo" ? "demo" : model.dir}, backend ${backend.name})`);
      const estimates = estimateStages(cfg, model.shape, backend.name);
      log(`estimate (${backend.name}):\n${formatEstimate(estimates)}`);
      if (o.dryRun) {
        for (const { stage, action } of planActions(cfg, ctx))
          process.stdout.write(`${stage.name.padEnd(9)} ${action.padEnd(6)} ${stage.title}\n`);
        return;
      }
      // "add": a rerun continues the folder's build (stages decide what to redo); a second build into
      // the same folder at the same time is refused with the first one's pid.
      const t0 = Date.now();
      const summary = await inRunFolder(out, { what: "atlas build", mode: "add" }, async () => {
        const reports = await runBuild({
          config: cfg,
          context: ctx,
          estimates: Object.fromEntries(estimates.map((e) => [e.stage, e.seconds])),
        });
        const s = await buildSummary(ctx, reports, { model: cfg.model, seconds: (Date.now() - t0) / 1000 });
        writeJsonAtomic(o.summary ?? join(ctx.out, "summary.json"), s);
        return s;
      });
      const urls = [
        ...(o.siteUrl ? [`site          ${o.siteUrl}`] : []),
        ...(o.apiUrl ? [`GraphQL       ${o.apiUrl}`] : []),
      ];
      process.stdout.write(`${formatSummary(summary, urls)}\n`);
    });
}
