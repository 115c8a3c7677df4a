// `atlas lm …`: the small offline demo LM (training and greater-than evaluation).
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { z } from "zod";
import { initBackend } from "../../backend/index.ts";
import { GREATER_THAN_TEMPLATES, HELDOUT_NOUNS, TRAIN_NOUNS } from "../../data/demo-corpus.ts";
import { greaterThanDataset, greaterThanEval, warPromptEval } from "../../lm/eval.ts";
import { trainLm } from "../../lm/train.ts";
import { loadModel } from "../../model/load.ts";
import { parseOptions } from "../options.ts";

/** pipeline/assets/demo-model, wherever the CLI is started from. */
export const DEMO_MODEL_DIR = fileURLToPath(new URL("../../../assets/demo-model", import.meta.url));

const num = z.coerce.number();
const int = z.coerce.number().int();
const TrainArgs = z.object({
  out: z.string().min(1),
  seed: int.min(0).optional(),
  steps: int.positive().optional(),
  batchSize: int.positive().optional(),
  nCtx: int.min(8).optional(),
  layers: int.positive().optional(),
  dModel: int.positive().optional(),
  heads: int.positive().optional(),
  lr: num.positive().optional(),
  corpusTokens: int.positive().optional(),
  unkRate: num.min(0).max(0.5).optional(),
  init: z.string().min(1).optional(),
  warmupSteps: int.min(0).optional(),
  checkpointEvery: int.positive(),
  evalEvery: int.min(0),
  dtype: z.enum(["f32", "f16"]),
  resume: z.boolean().optional(),
  quiet: z.boolean().optional(),
});

const EvalArgs = z.object({
  n: int.positive(),
  nouns: z.enum(["heldout", "train"]),
  seed: int.min(0),
  template: z.enum(["hanna", "goodfire", "both"]),
});

export function register(program: Command): void {
  const lm = program.command("lm").description("the small offline demo language model");
  lm.command("train")
    .description(
      "train the demo GPT-2 (compact vocabulary) on the generated corpus; writes {out}/model (HF folder), " +
        "{out}/metrics.jsonl, {out}/summary.json and resumable checkpoints",
    )
    .option("--out <dir>", "run folder", "runs/demo-lm")
    .option("--seed <n>", "random seed (default 0)")
    .option("--steps <n>", "optimizer steps (default 1200)")
    .option("--batch-size <n>", "contexts per step (default 32)")
    .option("--n-ctx <n>", "context length (default 64)")
    .option("--layers <n>", "transformer blocks (default 4)")
    .option("--d-model <n>", "residual width (default 128)")
    .option("--heads <n>", "attention heads (default 4)")
    .option("--lr <x>", "peak learning rate (default 2e-3)")
    .option("--corpus-tokens <n>", "size of the generated training corpus (default 3000000)")
    .option(
      "--init <model-dir>",
      "start from this model's weights (same architecture; embedding rows matched by GPT-2 id)",
    )
    .option("--warmup-steps <n>", "linear LR warm-up steps (default 60)")
    .option("--unk-rate <x>", "fraction of training words replaced by <unk> (default 0.03; 0 = no <unk> row)")
    .option("--checkpoint-every <n>", "steps between checkpoints", "100")
    .option("--eval-every <n>", "steps between held-out greater-than evals (0 = end only)", "200")
    .option("--dtype <dtype>", "storage dtype of the exported model: f32 | f16", "f16")
    .option("--resume", "continue the run in --out from its checkpoint")
    .option("--quiet", "no progress output")
    .action(async (raw: unknown) => {
      const o = parseOptions(TrainArgs, raw, "lm train");
      const r = await trainLm({
        out: o.out,
        seed: o.seed,
        steps: o.steps,
        batchSize: o.batchSize,
        nCtx: o.nCtx,
        nLayers: o.layers,
        dModel: o.dModel,
        nHeads: o.heads,
        lr: o.lr,
        corpusTokens: o.corpusTokens,
        unkRate: o.unkRate,
        init: o.init,
        warmupSteps: o.warmupSteps,
        checkpointEvery: o.checkpointEvery,
        evalEvery: o.evalEvery,
        dtype: o.dtype === "f32" ? "F32" : "F16",
        resume: o.resume,
        quiet: o.quiet,
      });
      if (r.modelDir) process.stdout.write(`${r.modelDir}\n`);
    });
  lm.command("eval")
    .description(
      "greater-than PD and cutoff sharpness of a model folder on held-out (or train) event nouns, one JSON " +
        'line per template, then p(ZZ>11) and the top-5 next tokens of "The war lasted from the year 1711 to 17"',
    )
    .argument("[model-dir]", "HF model folder (default: the shipped demo model)", DEMO_MODEL_DIR)
    .option("--n <n>", "prompts (YY balanced over 02..98)", "490")
    .option("--nouns <which>", "heldout | train", "heldout")
    .option("--seed <n>", "dataset seed", "1234")
    .option("--template <which>", 'hanna ("… to the year {XX}") | goodfire ("… to {XX}") | both', "both")
    .action(async (dir: string, raw: unknown) => {
      const o = parseOptions(EvalArgs, raw, "lm eval");
      await initBackend(undefined, { quiet: true });
      const model = await loadModel(dir);
      const templates = o.template === "both" ? GREATER_THAN_TEMPLATES : [o.template];
      for (const template of templates) {
        const items = greaterThanDataset({
          n: o.n,
          nouns: o.nouns === "heldout" ? HELDOUT_NOUNS : TRAIN_NOUNS,
          seed: o.seed,
          template,
        });
        const r = greaterThanEval(model, items);
        process.stdout.write(
          `${JSON.stringify({ model: dir, template, nouns: o.nouns, n: r.n, pd: r.pd, sharpness: r.sharpness, yearMass: r.yearMass })}\n`,
        );
      }
      // Goodfire's headline prompt needs " war" in the vocabulary (absent from older compact vocabularies).
      let war: ReturnType<typeof warPromptEval> | null = null;
      try {
        war = warPromptEval(model);
      } catch (err) {
        process.stderr.write(`atlas: war prompt skipped: ${(err as Error).message}\n`);
      }
      model.dispose();
      if (war) process.stdout.write(`${JSON.stringify({ model: dir, ...war })}\n`);
    });
}
