// `atlas clt …`: cross-layer transcoders — train, eval, export/import circuit-tracer files.
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { initBackend } from "../../backend/index.ts";
import { corpusId, openCorpus } from "../../data/index.ts";
import { loadModel, modelId } from "../../model/index.ts";
import {
  CLT,
  checkpointTrainConfig,
  type EvalResult,
  evalClt,
  exportCircuitTracer,
  importCircuitTracer,
  parseTrainConfig,
  readConfigFile,
  readRunConfig,
  trainClt,
  writeRunDir,
} from "../../transcoder/index.ts";
import { writeJsonAtomic } from "../../transcoder/io.ts";
import { parseOptions } from "../options.ts";

const num = z.coerce.number();
const int = z.coerce.number().int();
// CLI flag → config key (numbers are coerced here, validated by the config schema)
const TRAIN_FLAGS = {
  model: z.string(),
  corpus: z.string(),
  featuresPerLayer: int,
  tokens: int,
  batchTokens: int,
  lr: num,
  lambda: num,
  c: num,
  lambdaPre: num,
  bandwidth: num,
  seed: int,
  checkpointEvery: int,
  bufferTokens: int,
  contextLength: int,
  engine: z.string(),
  fusedPath: z.string(),
} as const;
const TrainArgs = z.object({
  ...Object.fromEntries(Object.entries(TRAIN_FLAGS).map(([k, v]) => [k, v.optional()])),
  out: z.string().min(1),
  config: z.string().optional(),
  resume: z.boolean().optional(),
  quiet: z.boolean().optional(),
});

function printTable(r: EvalResult, extra: { tokens: number; ce: { orig: number; repl: number; zero: number } }): void {
  const out: string[] = [];
  out.push(`evaluated on ${extra.tokens} tokens (position 0 excluded)`);
  out.push("layer   FVU      L0      dead%");
  r.fvu.per_layer.forEach((f, l) => {
    out.push(
      `${String(l).padStart(5)}   ${f.toFixed(4)}   ${r.l0.per_layer[l]!.toFixed(1).padStart(6)}   ${(100 * r.dead_fraction.per_layer[l]!).toFixed(1).padStart(5)}`,
    );
  });
  out.push(
    `  all   ${r.fvu.mean.toFixed(4)}   ${r.l0.total.toFixed(1).padStart(6)}   ${(100 * r.dead_fraction.mean).toFixed(1).padStart(5)}   (FVU mean, L0 summed, dead mean)`,
  );
  out.push("replacement model (all MLP outputs from the CLT, attention live):");
  out.push(`  top-1 agreement  ${(100 * r.replacement.top1_agreement).toFixed(2)}%`);
  out.push(`  KL(orig‖repl)    ${r.replacement.kl.toFixed(4)} nats/token`);
  out.push(
    `  CE recovered     ${(100 * r.replacement.ce_recovered).toFixed(2)}%  (CE orig ${extra.ce.orig.toFixed(4)}, repl ${extra.ce.repl.toFixed(4)}, zero-ablated ${extra.ce.zero.toFixed(4)})`,
  );
  process.stdout.write(`${out.join("\n")}\n`);
}

export function register(program: Command): void {
  const clt = program.command("clt").description("cross-layer transcoders: train, evaluate, circuit-tracer files");

  clt
    .command("train")
    .description(
      "train a CLT on activations harvested on the fly (resid_mid → mlp_out, every layer); writes config.json, " +
        "clt.safetensors, checkpoint/, metrics.jsonl in --out",
    )
    .requiredOption("--out <dir>", "run dir")
    .option("--model <dir>", "HF GPT-2 model dir")
    .option("--corpus <path>", "training corpus (text / JSONL / Parquet, glob ok)")
    .option("--features-per-layer <n>", "features per layer")
    .option("--tokens <n>", "training tokens")
    .option("--config <file>", "JSON or YAML file with any training option (flags override)")
    .option("--resume", "continue the run in --out from its checkpoint (exactly)")
    .option("--batch-tokens <n>", "tokens per step (default 2048)")
    .option("--lr <x>", "Adam learning rate")
    .option("--lambda <x>", "final sparsity coefficient λ (ramped from 0)")
    .option("--c <x>", "tanh scale c")
    .option("--lambda-pre <x>", "pre-activation loss coefficient")
    .option("--bandwidth <x>", "JumpReLU pseudo-gradient bandwidth ε")
    .option("--seed <n>", "random seed")
    .option("--checkpoint-every <n>", "steps between checkpoints")
    .option("--buffer-tokens <n>", "token-level activation shuffle buffer size")
    .option("--context-length <n>", "tokens per packed context (BOS included)")
    .option("--engine <name>", "fused (BLAS, default) | tfjs (reference)")
    .option("--fused-path <p>", "auto (default: dense or sparse per layer by active fraction) | dense | sparse")
    .option("--quiet", "no progress bar")
    .action(async (raw: unknown) => {
      const o = parseOptions(TrainArgs, raw, "clt train") as Record<string, unknown> & z.infer<typeof TrainArgs>;
      let base: Record<string, unknown> = {};
      const runCfg = join(o.out, "config.json");
      if (o.resume && existsSync(runCfg)) {
        // config.json names model and corpus by id; the checkpoint keeps the paths the run used.
        const train = checkpointTrainConfig(o.out) ?? readRunConfig(o.out).train;
        if (train) base = { ...train };
      }
      if (o.config) base = { ...base, ...readConfigFile(o.config) };
      for (const k of Object.keys(TRAIN_FLAGS)) if (o[k] !== undefined) base[k] = o[k];
      for (const k of ["model", "corpus", "featuresPerLayer", "tokens"]) {
        if (base[k] === undefined)
          throw new Error(`clt train: --${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is required`);
      }
      const config = parseTrainConfig(base, "training config");
      let stop = false;
      const onSig = () => {
        if (stop) process.exit(130);
        stop = true;
        process.stderr.write("\ninterrupt: finishing the step and writing a checkpoint (Ctrl-C again to abort)\n");
      };
      process.on("SIGINT", onSig);
      try {
        const r = await trainClt({
          config,
          outDir: o.out,
          resume: o.resume,
          shouldStop: () => stop,
          progress: o.quiet ? undefined : process.stderr,
        });
        process.stderr.write(
          `${r.interrupted ? "stopped" : "done"}: ${r.steps}/${r.totalSteps} steps, ${r.tokens} tokens, ${r.seconds.toFixed(1)} s ` +
            `(${Math.round(r.tokensPerSecond)} tok/s)${r.interrupted ? " — continue with --resume" : ""}\n`,
        );
        process.stdout.write(`${r.runDir}\n`);
      } finally {
        process.off("SIGINT", onSig);
      }
    });

  clt
    .command("eval")
    .description(
      "FVU, L0, dead features and replacement-model metrics on held-out text; writes eval.json in the run dir",
    )
    .argument("<run-dir>", "CLT run dir")
    .requiredOption("--corpus <path>", "held-out corpus")
    .option("--tokens <n>", "evaluation tokens", "32768")
    .option("--model <dir>", "model dir (default: the one recorded in the run config)")
    .option("--context-length <n>", "tokens per context (default: the training context length)")
    .option("--json", "print the metrics as JSON")
    .action(async (runDir: string, raw: unknown) => {
      const o = parseOptions(
        z.object({
          corpus: z.string(),
          tokens: int.positive(),
          model: z.string().optional(),
          contextLength: int.min(2).optional(),
          json: z.boolean().optional(),
        }),
        raw,
        "clt eval",
      );
      const rc = readRunConfig(runDir);
      const modelDir = o.model ?? rc.model;
      if (!modelDir) throw new Error("clt eval: the run config records no model dir; pass --model");
      if (!existsSync(join(modelDir, "config.json")))
        throw new Error(`model dir not found or not a model: ${modelDir}`);
      await initBackend(undefined, { quiet: true });
      const clt = CLT.fromRunDir(runDir);
      const model = await loadModel(modelDir);
      const corpus = await openCorpus(o.corpus);
      const trainCtx = Number((rc.train as { contextLength?: unknown } | null)?.contextLength ?? 0);
      const nCtx = o.contextLength ?? (trainCtx > 0 ? trainCtx : Math.min(model.config.nCtx, 128));
      const r = await evalClt({
        clt,
        model,
        corpus,
        tokens: o.tokens,
        nCtx,
        onProgress: o.json ? undefined : (t) => process.stderr.write(`\reval ${t}/${o.tokens} tokens`),
      });
      if (!o.json) process.stderr.write("\n");
      const metrics: EvalResult = { fvu: r.fvu, l0: r.l0, dead_fraction: r.dead_fraction, replacement: r.replacement };
      writeJsonAtomic(join(runDir, "eval.json"), {
        ...metrics,
        // ids, not local paths: eval.json ships with CLTs and is published
        details: {
          tokens: r.tokens,
          contexts: r.contexts,
          n_ctx: r.nCtx,
          ce: r.ce,
          corpus: corpusId(corpus),
          model: modelId(modelDir),
        },
      });
      if (o.json) process.stdout.write(`${JSON.stringify(metrics)}\n`);
      else printTable(metrics, r);
    });

  clt
    .command("export")
    .description("write the CLT in circuit-tracer's format (W_enc_i / W_dec_i safetensors + config.yaml)")
    .argument("<run-dir>", "CLT run dir")
    .requiredOption("--out <dir>", "output dir")
    .option("--format <name>", "only circuit-tracer", "circuit-tracer")
    .option("--model-name <name>", "model_name in config.yaml (default: from the run config)")
    .option("--dtype <dtype>", "f32 | f16", "f32")
    .action((runDir: string, raw: unknown) => {
      const o = parseOptions(
        z.object({
          out: z.string(),
          format: z.literal("circuit-tracer"),
          modelName: z.string().optional(),
          dtype: z.enum(["f32", "f16"]),
        }),
        raw,
        "clt export",
      );
      const rc = readRunConfig(runDir);
      const clt = CLT.fromRunDir(runDir);
      const name = o.modelName ?? rc.modelName ?? (rc.model ? basename(rc.model) : "gpt2");
      exportCircuitTracer(clt.weights, o.out, name, o.dtype === "f16" ? "F16" : "F32");
      process.stdout.write(`${o.out}\n`);
    });

  clt
    .command("import")
    .description("make a native run dir from a circuit-tracer CLT dir")
    .argument("<dir>", "circuit-tracer CLT dir (config.yaml, W_enc_i/W_dec_i.safetensors)")
    .requiredOption("--out <dir>", "run dir to write")
    .option("--model <dir>", "model dir to record in the run config")
    .action(async (dir: string, raw: unknown) => {
      const o = parseOptions(z.object({ out: z.string(), model: z.string().optional() }), raw, "clt import");
      if (existsSync(join(o.out, "clt.safetensors"))) throw new Error(`${o.out} already holds a CLT`);
      const { weights, modelName } = importCircuitTracer(dir);
      await writeRunDir(o.out, weights, { model: o.model ?? null, modelName });
      process.stdout.write(`${o.out}\n`);
    });
}
