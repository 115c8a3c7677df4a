// `atlas features`: per-feature statistics for the dashboards (one streaming pass, resumable).
import { basename, join, resolve } from "node:path";
import { inRunFolder } from "@circuit-atlas/util";
import type { Command } from "commander";
import { z } from "zod";
import { initBackend } from "../../backend/index.ts";
import { openCorpus } from "../../data/index.ts";
import { computeFeatureStats, DEFAULT_STATS_PARAMS, FEATURES_DIR } from "../../features/index.ts";
import { loadModel } from "../../model/index.ts";
import { CLT } from "../../transcoder/index.ts";
import { cltModelOptions, parseOptions } from "../options.ts";

const int = z.coerce.number().int();
const Args = z.object({
  clt: z.string().min(1),
  model: z.string().optional(),
  corpus: z.string().min(1),
  out: z.string().min(1).optional(),
  tokens: int.positive(),
  nCtx: int.min(2).optional(),
  batchContexts: int.positive().optional(),
  transcoderId: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, "--transcoder-id may use letters, digits, '.', '_' and '-'")
    .optional(),
  topK: int.min(1).max(255).optional(),
  quantiles: int.min(1).optional(),
  perQuantile: int.min(1).optional(),
  negatives: int.min(0).optional(),
  windowBefore: int.min(0).optional(),
  windowAfter: int.min(0).optional(),
  histogramBins: int.min(2).optional(),
  logits: int.min(0).optional(),
  seed: int.optional(),
  checkpointEvery: z.coerce.number().positive().optional(),
  resume: z.boolean().optional(),
  quiet: z.boolean().optional(),
});

export function register(program: Command): void {
  cltModelOptions(
    program
      .command("features")
      .description(
        "feature statistics for every CLT feature in one streaming pass over held-out text: density, histogram, max, " +
          "top-k and quantile examples with per-token activations, negatives, logit effects → <out or clt>/features/",
      ),
  )
    .requiredOption("--corpus <path>", "held-out text (text / JSONL / Parquet, glob ok)")
    .requiredOption("--tokens <n>", "tokens to process (BOS excluded)")
    .option("--out <dir>", "folder that gets features/ (default: the CLT dir)")
    .option("--n-ctx <n>", "tokens per context incl. BOS (default: the model's context)")
    .option("--batch-contexts <n>", "contexts per model forward")
    .option("--transcoder-id <id>", "id qualifying feature ids across an atlas (default: the CLT dir's name)")
    .option("--top-k <n>", `top activating contexts kept per feature (default ${DEFAULT_STATS_PARAMS.topK})`)
    .option("--quantiles <n>", `activation-quantile intervals (default ${DEFAULT_STATS_PARAMS.nQuantiles})`)
    .option("--per-quantile <n>", `examples per interval (default ${DEFAULT_STATS_PARAMS.perQuantile})`)
    .option("--negatives <n>", `non-activating examples per feature (default ${DEFAULT_STATS_PARAMS.nNegatives})`)
    .option("--window-before <n>", `tokens shown before the peak (default ${DEFAULT_STATS_PARAMS.windowBefore})`)
    .option("--window-after <n>", `tokens shown after the peak (default ${DEFAULT_STATS_PARAMS.windowAfter})`)
    .option("--histogram-bins <n>", `histogram bins (even; default ${DEFAULT_STATS_PARAMS.histogramBins})`)
    .option("--logits <n>", `top/bottom logit effects per feature (default ${DEFAULT_STATS_PARAMS.logitsK})`)
    .option("--seed <n>", "sampling seed (reservoirs, negatives)", "0")
    .option("--checkpoint-every <sec>", "seconds between checkpoints", "60")
    .option("--resume", "continue the pass from <clt>/features/state/")
    .option("--quiet", "no progress bar")
    .action(async (raw: unknown) => {
      const o = parseOptions(Args, raw, "features");
      await initBackend(undefined, { quiet: true });
      const clt = CLT.load(o.clt);
      const modelDir = o.model ?? clt.modelDir;
      if (!modelDir) throw new Error("features: the CLT run records no model; pass --model");
      const model = await loadModel(modelDir);
      const corpus = await openCorpus(o.corpus);
      const params = Object.fromEntries(
        Object.entries({
          topK: o.topK,
          nQuantiles: o.quantiles,
          perQuantile: o.perQuantile,
          nNegatives: o.negatives,
          windowBefore: o.windowBefore,
          windowAfter: o.windowAfter,
          histogramBins: o.histogramBins,
          logitsK: o.logits,
          seed: o.seed,
        }).filter(([, v]) => v !== undefined),
      );
      const runDir = o.out ?? o.clt;
      // One writer of the statistics at a time; the CLT folder itself stays open to eval and labels.
      const r = await inRunFolder(
        join(runDir, FEATURES_DIR),
        { what: "atlas features", mode: "add", flag: "--clt" },
        () =>
          computeFeatureStats({
            clt,
            model,
            corpus,
            corpusPath: resolve(o.corpus),
            runDir,
            transcoderId: o.transcoderId ?? basename(resolve(o.clt)),
            modelDir: resolve(modelDir),
            tokens: o.tokens,
            ...(o.nCtx ? { nCtx: o.nCtx } : {}),
            ...(o.batchContexts ? { batchContexts: o.batchContexts } : {}),
            params,
            resume: o.resume ?? false,
            checkpointEverySec: o.checkpointEvery ?? 60,
            quiet: o.quiet ?? false,
          }),
      );
      const m = r.manifest!;
      process.stdout.write(
        `${JSON.stringify({ tokensSeen: m.tokensSeen, contexts: m.contexts, live: m.layers.map((e) => e.live), tokensPerSec: Math.round(r.tokensPerSec), stateBytesPerFeature: m.stateBytesPerFeature })}\n`,
      );
    });
}
