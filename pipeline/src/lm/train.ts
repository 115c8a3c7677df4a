// Training the small offline demo LM: a GPT-2-architecture model with a compact vocabulary, trained
// on the generated demo corpus so that it solves Hanna et al.'s greater-than task on held-out nouns.
//
// Run folder layout ({out}):
//   corpus/train.jsonl     the generated training corpus (deterministic from the seed)
//   checkpoint/            params.safetensors (weights + AdamW m, v) and state.json (step, data
//                          position, optimizer step, vocab, options, elapsed time); replaced atomically
//   metrics.jsonl          one JSON object per step {step, loss, lr, gradNorm, tokens, sec} (+ eval rows)
//   model/                 the final HF folder: config.json, model.safetensors, vocab_map.json
//   summary.json           final numbers (loss, PD, sharpness, time)
// Everything is a deterministic function of the options: no dropout, seeded init, seeded data order,
// plain typed-array optimizer. `resume` continues from checkpoint/ with bit-identical results.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createProgress,
  formatDuration,
  inRunFolder,
  Rng,
  restoreSwappedDir,
  swapDir,
  tempPath,
  writeJsonAtomic,
} from "@circuit-atlas/util";
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { initBackend } from "../backend/index.ts";
import { contexts } from "../data/contexts.ts";
import {
  demoDocuments,
  EVENT_NOUNS,
  type GreaterThanTemplate,
  HELDOUT_NOUNS,
  TRAIN_NOUNS,
  writeDemoCorpus,
} from "../data/demo-corpus.ts";
import { openCorpus } from "../data/sources.ts";
import { GPT2, type GPT2Config, parameterShapes } from "../model/gpt2.ts";
import { loadModel, saveModel } from "../model/load.ts";
import { readSafetensors, type TensorToWrite, writeSafetensors } from "../safetensors/index.ts";
import { BOS_ID, encode } from "../tokenizer/index.ts";
import {
  type GreaterThanResult,
  greaterThanDataset,
  greaterThanEval,
  type PromptResult,
  warPromptEval,
} from "./eval.ts";
import { AdamW, clipGradients, crossEntropy, learningRate } from "./optim.ts";
import { maskWordsWithUnk } from "./unk.ts";
import { type CompactVocab, demoCompactVocab } from "./vocab.ts";

/** Options that define the run (a resumed run must use the same ones). */
export const LmOptions = z.object({
  seed: z.number().int().min(0).default(0),
  steps: z.number().int().positive().default(1200),
  batchSize: z.number().int().positive().default(32),
  nCtx: z.number().int().min(8).default(64),
  nLayers: z.number().int().positive().default(4),
  dModel: z.number().int().positive().default(128),
  nHeads: z.number().int().positive().default(4),
  dMlp: z.number().int().positive().optional(),
  lr: z.number().positive().default(2e-3),
  warmupSteps: z.number().int().min(0).default(60),
  minLrRatio: z.number().min(0).max(1).default(0.1),
  weightDecay: z.number().min(0).default(0.1),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.95),
  eps: z.number().positive().default(1e-8),
  clip: z.number().min(0).default(1),
  corpusTokens: z.number().int().positive().default(3_000_000),
  heldoutTokens: z.number().int().positive().default(100_000),
  shuffleBuffer: z.number().int().min(0).default(256),
  /** Fraction of training words replaced by `<unk>` (0 = no `<unk>` row in the vocabulary). */
  unkRate: z.number().min(0).max(0.5).default(0.03),
});
export type LmOptions = z.infer<typeof LmOptions>;

export interface TrainLmOptions extends Partial<LmOptions> {
  /** Run folder (default runs/demo-lm). */
  out?: string;
  resume?: boolean;
  checkpointEvery?: number;
  /** Held-out greater-than eval every N steps (0 = only at the end). */
  evalEvery?: number;
  /** Storage dtype of the final model (default F16). */
  dtype?: "F32" | "F16";
  /** Stop after this many steps in this invocation (with a checkpoint); for tests and time slicing. */
  stopAfter?: number;
  /** No progress output. */
  quiet?: boolean;
  /** Skip the final 490-prompt evaluation and model export (tests). */
  skipFinal?: boolean;
  /**
   * Start from this model folder instead of random weights (fine-tuning, e.g. to add the `<unk>` row
   * to a trained model): same architecture; embedding rows are matched by GPT-2 id, rows it lacks
   * keep their random initialisation.
   */
  init?: string;
}

export interface TrainLmResult {
  out: string;
  /** The exported HF folder, or null if training stopped early / skipFinal. */
  modelDir: string | null;
  step: number;
  /** Per-step losses of this invocation, index 0 = its first step. */
  losses: number[];
  firstStep: number;
  /** Mean loss over the last (up to) 50 steps of the run. */
  finalLoss: number;
  /** Wall time of all invocations so far. */
  seconds: number;
  config: GPT2Config;
  vocabSize: number;
  /** Held-out-noun greater-than results on the exported model (Hanna's template). */
  eval: Omit<GreaterThanResult, "probs"> | null;
  /** The same for Goodfire's "… to {XX}" template. */
  evalGoodfire: Omit<GreaterThanResult, "probs"> | null;
  /** Goodfire's headline prompt "The war lasted from the year 1711 to 17" on the exported model. */
  warPrompt: PromptResult | null;
}

const StateFile = z.object({
  version: z.literal(1),
  step: z.number().int().min(0),
  adamT: z.number().int().min(0),
  options: LmOptions,
  vocab: z.array(z.number().int()),
  data: z.any(),
  seconds: z.number(),
  tokens: z.number(),
});
type StateFile = z.infer<typeof StateFile>;

function modelConfig(o: LmOptions, vocabSize: number): GPT2Config {
  if (o.dModel % o.nHeads !== 0) {
    throw new Error(`lm train: --d-model ${o.dModel} is not divisible by --heads ${o.nHeads}`);
  }
  return {
    nLayers: o.nLayers,
    nHeads: o.nHeads,
    dModel: o.dModel,
    dHead: o.dModel / o.nHeads,
    dMlp: o.dMlp ?? 4 * o.dModel,
    nCtx: o.nCtx,
    vocabSize,
    lnEps: 1e-5,
  };
}

/** GPT-2 initialisation: N(0, 0.02²) matrices, residual projections scaled by 1/√(2·layers). */
function initParams(config: GPT2Config, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed ^ 0x5eed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of parameterShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (/ln_\d\.weight$|ln_f\.weight$/.test(name)) data.fill(1);
    else if (name.endsWith(".weight")) {
      let std = 0.02;
      if (name === "wpe.weight") std = 0.01;
      if (name.endsWith("c_proj.weight")) std = 0.02 / Math.sqrt(2 * config.nLayers);
      for (let i = 0; i < n; i++) data[i] = std * rng.normal();
    }
    out.set(name, data);
  }
  return out;
}

const decays = (name: string) => name.endsWith(".weight") && !/ln_\d\.weight$|ln_f\.weight$/.test(name);

function sameOptions(a: LmOptions, b: LmOptions): string | null {
  for (const k of Object.keys(LmOptions.shape) as (keyof LmOptions)[]) {
    if (a[k] !== b[k]) return `${k} (checkpoint ${b[k]}, now ${a[k]})`;
  }
  return null;
}

/**
 * The vocabulary: every token of the train and held-out demo corpora, +50256, "00".."99", all nouns,
 * and `<unk>` when `unkRate` > 0. `untrained` flags the rows of tokens that never occur in the
 * training corpus (held-out nouns…).
 */
export function demoVocab(o: Pick<LmOptions, "seed" | "corpusTokens" | "heldoutTokens" | "unkRate">): {
  vocab: CompactVocab;
  untrained: Uint8Array;
} {
  const trainTexts = [...demoDocuments({ tokens: o.corpusTokens, seed: o.seed, split: "train" })].map((d) => d.text);
  const otherTexts = [
    ...[...demoDocuments({ tokens: o.heldoutTokens, seed: o.seed, split: "heldout" })].map((d) => d.text),
    ...EVENT_NOUNS.map((n) => `The ${n} lasted`),
  ];
  const vocab = demoCompactVocab([...trainTexts, ...otherTexts], o.unkRate > 0);
  const untrained = new Uint8Array(vocab.size).fill(1);
  untrained[vocab.toModel([BOS_ID])[0] as number] = 0;
  if (vocab.unkRow >= 0) untrained[vocab.unkRow] = 0;
  for (const t of trainTexts) for (const row of vocab.toModel(encode(t))) untrained[row] = 0;
  return { vocab, untrained };
}

/** Overwrite `params` with the weights of the model in `dir`, embedding rows matched by GPT-2 id; returns the rows copied. */
async function initFromModel(params: Map<string, Float32Array>, vocab: CompactVocab, dir: string): Promise<number> {
  const init = await loadModel(dir);
  try {
    let copied = 0;
    for (const [name, p] of params) {
      const t = init.weights[name];
      if (!t) throw new Error(`--init ${dir}: the model has no tensor ${name}`);
      const data = t.dataSync() as Float32Array;
      if (name !== "wte.weight") {
        if (data.length !== p.length)
          throw new Error(`--init ${dir}: tensor ${name} has another shape than this run's`);
        p.set(data);
        continue;
      }
      const d = init.config.dModel;
      if (p.length % d !== 0) throw new Error(`--init ${dir}: d_model ${d} differs from this run's`);
      vocab.gpt2Ids.forEach((g, row) => {
        const from = init.compact
          ? init.compact.has(g)
            ? init.compact.toModel([g])[0]!
            : -1
          : g < init.config.vocabSize
            ? g
            : -1;
        if (from < 0) return;
        p.set(data.subarray(from * d, (from + 1) * d), row * d);
        copied++;
      });
    }
    return copied;
  } finally {
    init.dispose();
  }
}

function saveCheckpoint(
  dir: string,
  params: Map<string, Float32Array>,
  shapes: Map<string, number[]>,
  opt: AdamW,
  state: StateFile,
): void {
  const tmp = tempPath(dir);
  mkdirSync(tmp, { recursive: true });
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, p] of params) {
    const shape = shapes.get(name) as number[];
    tensors.set(`param.${name}`, { dtype: "F32", shape, data: p });
    tensors.set(`adam_m.${name}`, { dtype: "F32", shape, data: opt.m.get(name) ?? new Float32Array(p.length) });
    tensors.set(`adam_v.${name}`, { dtype: "F32", shape, data: opt.v.get(name) ?? new Float32Array(p.length) });
  }
  writeSafetensors(join(tmp, "params.safetensors"), tensors);
  writeJsonAtomic(join(tmp, "state.json"), state);
  swapDir(tmp, dir);
}

function loadCheckpoint(
  dir: string,
  shapes: Map<string, number[]>,
  opt: AdamW,
): { params: Map<string, Float32Array>; state: StateFile } {
  restoreSwappedDir(dir);
  const statePath = join(dir, "state.json");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(statePath, "utf8"));
  } catch (err) {
    throw new Error(`cannot read checkpoint ${statePath} (${(err as Error).message})`);
  }
  const parsed = StateFile.safeParse(raw);
  if (!parsed.success) throw new Error(`checkpoint ${statePath} is not a demo-LM checkpoint`);
  const file = readSafetensors(join(dir, "params.safetensors"));
  const params = new Map<string, Float32Array>();
  const get = (key: string, n: number): Float32Array => {
    const t = file.tensors.get(key);
    if (!t || !(t.data instanceof Float32Array) || t.data.length !== n) {
      throw new Error(`checkpoint ${dir}: tensor ${key} is missing or has the wrong size`);
    }
    return Float32Array.from(t.data);
  };
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    params.set(name, get(`param.${name}`, n));
    opt.m.set(name, get(`adam_m.${name}`, n));
    opt.v.set(name, get(`adam_v.${name}`, n));
  }
  opt.t = parsed.data.adamT;
  return { params, state: parsed.data };
}

let runCounter = 0;

export async function trainLm(options: TrainLmOptions = {}): Promise<TrainLmResult> {
  const parsedOpts = LmOptions.safeParse(
    Object.fromEntries(Object.entries(options).filter(([k, v]) => k in LmOptions.shape && v !== undefined)),
  );
  if (!parsedOpts.success) {
    throw new Error(`lm train: ${parsedOpts.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const o = parsedOpts.data;
  const out = options.out ?? join("runs", "demo-lm");
  const ckptDir = join(out, "checkpoint");
  const metricsPath = join(out, "metrics.jsonl");
  const checkpointEvery = options.checkpointEvery ?? 100;
  const evalEvery = options.evalEvery ?? 200;
  const log = (s: string) => {
    if (!options.quiet) process.stderr.write(`${s}\n`);
  };

  if (options.resume && !existsSync(join(ckptDir, "state.json"))) {
    throw new Error(`nothing to resume: ${ckptDir} has no checkpoint`);
  }
  if (!options.resume && existsSync(ckptDir)) {
    throw new Error(
      `${out} already holds a training run (checkpoint/); pass --resume to continue it or remove the folder`,
    );
  }
  // Every check that can fail comes before the first write (the shape before the corpus).
  modelConfig(o, 1);
  const folder = {
    what: "atlas lm train",
    mode: options.resume ? ("add" as const) : ("create" as const),
    results: ["model/config.json", "checkpoint"],
    noun: "a trained model",
  };
  return inRunFolder(out, folder, () =>
    trainLmInFolder(options, o, { out, ckptDir, metricsPath, checkpointEvery, evalEvery, log }),
  );
}

interface LmRun {
  out: string;
  ckptDir: string;
  metricsPath: string;
  checkpointEvery: number;
  evalEvery: number;
  log: (s: string) => void;
}

/** What the options determine: the corpus file, the vocabulary, the architecture and the optimizer. */
interface LmSetup {
  corpusPath: string;
  vocab: CompactVocab;
  config: GPT2Config;
  shapes: Map<string, number[]>;
  opt: AdamW;
}

/** What the steps change (the optimizer's moments live in `LmSetup.opt`). */
interface LmState {
  params: Map<string, Float32Array>;
  step: number;
  /** Training seconds of this run so far (all invocations), up to the last checkpoint. */
  seconds: number;
  tokens: number;
  /** The data stream's position (opaque; from the checkpoint). */
  dataState: unknown;
}

async function trainLmInFolder(options: TrainLmOptions, o: LmOptions, run: LmRun): Promise<TrainLmResult> {
  await initBackend(undefined, { quiet: options.quiet });
  const setup = prepareRun(options, o, run);
  const s = await initOrResume(options, o, run, setup);
  const nParams = [...s.params.values()].reduce((a, p) => a + p.length, 0);
  const { config } = setup;
  run.log(
    `model: ${config.nLayers} layers, d_model ${config.dModel}, ${config.nHeads} heads, context ${config.nCtx}, ` +
      `vocab ${setup.vocab.size} → ${(nParams / 1e6).toFixed(2)}M parameters`,
  );
  const firstStep = s.step;
  const { variables, losses } = await runSteps(options, o, run, setup, s);
  return finishRun(options, o, run, setup, s, { variables, losses, firstStep, nParams });
}

/** The corpus (written unless a resumed run has it), the vocabulary, the model shape and AdamW; all deterministic from the options. */
function prepareRun(options: TrainLmOptions, o: LmOptions, run: LmRun): LmSetup {
  const corpusPath = join(run.out, "corpus", "train.jsonl");
  if (!options.resume || !existsSync(corpusPath)) {
    const st = writeDemoCorpus(join(run.out, "corpus"), { tokens: o.corpusTokens, seed: o.seed, split: "train" });
    run.log(`corpus: ${st.documents} documents, ${st.tokens} tokens → ${st.path}`);
  }
  const { vocab, untrained } = demoVocab(o);
  const config = modelConfig(o, vocab.size);
  const shapes = parameterShapes(config);
  const opt = new AdamW({ beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay }, decays);
  // Tokens that never occur in the training text (the held-out nouns) keep their initial embedding:
  // with tied embeddings their only gradient is "predict me less", which Adam's normalisation would
  // turn into full-size steps, leaving huge, meaningless input vectors.
  opt.frozenRows.set("wte.weight", { rowSize: config.dModel, frozen: untrained });
  return { corpusPath, vocab, config, shapes, opt };
}

/**
 * The state at this invocation's first step: from the checkpoint (same options and vocabulary
 * required; metric lines after it, written by the interrupted run, dropped), or seeded random
 * weights (optionally overwritten from `--init`) with an empty metrics file.
 */
async function initOrResume(options: TrainLmOptions, o: LmOptions, run: LmRun, setup: LmSetup): Promise<LmState> {
  const { out, ckptDir, metricsPath, log } = run;
  const { vocab, config, shapes, opt } = setup;
  if (options.resume) {
    const ck = loadCheckpoint(ckptDir, shapes, opt);
    const diff = sameOptions(o, ck.state.options);
    if (diff) throw new Error(`cannot resume: option ${diff} differs`);
    if (ck.state.vocab.length !== vocab.size || ck.state.vocab.some((g, i) => g !== vocab.gpt2Ids[i])) {
      throw new Error("cannot resume: the vocabulary differs from the checkpoint's");
    }
    const step = ck.state.step;
    if (existsSync(metricsPath)) {
      const keep = readFileSync(metricsPath, "utf8")
        .split("\n")
        .filter((l) => l && (JSON.parse(l) as { step: number }).step <= step);
      writeFileSync(metricsPath, keep.map((l) => `${l}\n`).join(""));
    }
    log(`resuming at step ${step}/${o.steps}`);
    return { params: ck.params, step, seconds: ck.state.seconds, tokens: ck.state.tokens, dataState: ck.state.data };
  }
  const params = initParams(config, o.seed);
  if (options.init) log(`init: ${await initFromModel(params, vocab, options.init)} rows of wte from ${options.init}`);
  mkdirSync(out, { recursive: true });
  writeFileSync(metricsPath, "");
  return { params, step: 0, seconds: 0, tokens: 0, dataState: undefined };
}

/**
 * The step loop up to `o.steps` (or `stopAfter` steps): batch with seeded `<unk>` masking →
 * cross-entropy gradients (tfjs) → clipping → AdamW; a metrics line per step, a held-out eval every
 * `evalEvery` steps, a checkpoint every `checkpointEvery` steps and at the end. Returns the tfjs
 * variables (for the export) and this invocation's losses.
 */
async function runSteps(
  options: TrainLmOptions,
  o: LmOptions,
  run: LmRun,
  setup: LmSetup,
  s: LmState,
): Promise<{ variables: Record<string, tf.Variable>; losses: number[] }> {
  const { ckptDir, metricsPath, checkpointEvery, evalEvery } = run;
  const { vocab, config, shapes, opt, corpusPath } = setup;
  const { params } = s;
  // Variable names are global in tfjs: make them unique per run.
  const tag = `lm${++runCounter}`;
  const variables: Record<string, tf.Variable> = {};
  for (const [name, p] of params) variables[name] = tf.variable(tf.tensor(p, shapes.get(name)), true, `${tag}/${name}`);
  const model = new GPT2(config, variables, vocab.gpt2Ids);
  const corpus = await openCorpus(corpusPath);
  const stream = contexts(corpus, {
    nCtx: o.nCtx + 1,
    shuffleBuffer: o.shuffleBuffer,
    seed: o.seed,
    loop: true,
    resume: s.dataState as never,
  });
  const evalItems = greaterThanDataset({ n: 97, nouns: HELDOUT_NOUNS, seed: 7 });
  const evalItemsGoodfire = greaterThanDataset({ n: 97, nouns: HELDOUT_NOUNS, seed: 7, template: "goodfire" });

  const losses: number[] = [];
  const progress = createProgress({
    label: "train",
    total: o.steps,
    start: s.step,
    unit: "steps",
    quiet: options.quiet,
  });
  const stopAt = options.stopAfter !== undefined ? Math.min(o.steps, s.step + options.stopAfter) : o.steps;
  let sinceCkpt = 0;
  let t0 = Date.now();
  const writeCkpt = () => {
    s.seconds += (Date.now() - t0) / 1000;
    t0 = Date.now();
    saveCheckpoint(ckptDir, params, shapes, opt, {
      version: 1,
      step: s.step,
      adamT: opt.t,
      options: o,
      vocab: Array.from(vocab.gpt2Ids),
      data: stream.state(),
      seconds: s.seconds,
      tokens: s.tokens,
    });
    sinceCkpt = 0;
  };

  try {
    while (s.step < stopAt) {
      const batch = await stream.nextBatch(o.batchSize);
      const lr = learningRate(s.step, o.steps, o.lr, o.warmupSteps, o.minLrRatio);
      const { loss, grads } = batchGradients(o, setup, model, variables, batch, s.step);
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${s.step + 1}; lower --lr`);
      const gradNorm = clipGradients(grads, o.clip);
      opt.step(params, grads, lr);
      for (const [name, v] of Object.entries(variables)) {
        const t = tf.tensor(params.get(name) as Float32Array, v.shape);
        v.assign(t);
        t.dispose();
      }
      s.step++;
      sinceCkpt++;
      s.tokens += o.batchSize * o.nCtx;
      losses.push(loss);
      const step = s.step;
      const sec = s.seconds + (Date.now() - t0) / 1000;
      appendFileSync(
        metricsPath,
        `${JSON.stringify({ step, loss, lr, gradNorm, tokens: s.tokens, sec: +sec.toFixed(2) })}\n`,
      );
      if (evalEvery > 0 && step % evalEvery === 0 && step < o.steps) {
        const ev = greaterThanEval(model, evalItems);
        const evG = greaterThanEval(model, evalItemsGoodfire);
        appendFileSync(
          metricsPath,
          `${JSON.stringify({ step, eval: "heldout", pd: ev.pd, sharpness: ev.sharpness, pdGoodfire: evG.pd, sharpnessGoodfire: evG.sharpness })}\n`,
        );
        progress.log(`step ${step}: held-out PD ${ev.pd.toFixed(3)} (Goodfire template ${evG.pd.toFixed(3)})`);
      }
      progress.update(step, `loss ${loss.toFixed(3)} lr ${lr.toExponential(1)}`);
      if (sinceCkpt >= checkpointEvery || step === stopAt) writeCkpt();
    }
    if (sinceCkpt > 0) writeCkpt();
  } catch (err) {
    tf.dispose(Object.values(variables));
    throw err;
  } finally {
    progress.stop();
  }
  return { variables, losses };
}

/**
 * Loss and gradients of one batch of contexts (nCtx + 1 tokens each): words masked with `<unk>` by a
 * generator seeded with the step (a resumed run masks the same words), mapped to the compact
 * vocabulary, next-token cross-entropy.
 */
function batchGradients(
  o: LmOptions,
  setup: LmSetup,
  model: GPT2,
  variables: Record<string, tf.Variable>,
  batch: Int32Array[],
  step: number,
): { loss: number; grads: Map<string, Float32Array> } {
  const T = o.nCtx;
  const inputs: number[][] = [];
  const targets = new Int32Array(o.batchSize * T);
  const unkRng = new Rng((o.seed + 1) * 0x9e3779b1 + step);
  batch.forEach((ctx, b) => {
    const rows = setup.vocab.toModel(maskWordsWithUnk(Int32Array.from(ctx), o.unkRate, unkRng));
    inputs.push(Array.from(rows.subarray(0, T)));
    targets.set(rows.subarray(1, T + 1), b * T);
  });
  const grads = new Map<string, Float32Array>();
  const loss = tf.tidy(() => {
    const { value, grads: g } = tf.variableGrads(() => {
      const { logits } = model.run(inputs);
      return crossEntropy(logits!.reshape([o.batchSize * T, setup.config.vocabSize]), targets);
    });
    for (const [name, v] of Object.entries(variables)) {
      const gt = g[v.name];
      if (!gt) throw new Error(`no gradient for ${name}`);
      grads.set(name, (gt.dataSync() as Float32Array).slice());
    }
    return value.dataSync()[0] as number;
  });
  return { loss, grads };
}

/**
 * The result; once all steps are done (and unless `skipFinal`), the exported HF folder, evaluated
 * after its storage rounding on held-out and training nouns with both templates, and summary.json.
 */
async function finishRun(
  options: TrainLmOptions,
  o: LmOptions,
  run: LmRun,
  setup: LmSetup,
  s: LmState,
  trained: { variables: Record<string, tf.Variable>; losses: number[]; firstStep: number; nParams: number },
): Promise<TrainLmResult> {
  const { out, metricsPath, log } = run;
  const { config, vocab } = setup;
  const { variables } = trained;
  const { step, seconds, tokens } = s;
  const allLosses = readFileSync(metricsPath, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { loss?: number })
    .filter((m) => m.loss !== undefined)
    .map((m) => m.loss as number);
  const tail = allLosses.slice(-50);
  const finalLoss = tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length);
  const result: TrainLmResult = {
    out,
    modelDir: null,
    step,
    losses: trained.losses,
    firstStep: trained.firstStep,
    finalLoss,
    seconds,
    config,
    vocabSize: vocab.size,
    eval: null,
    evalGoodfire: null,
    warPrompt: null,
  };
  if (step < o.steps || options.skipFinal) {
    tf.dispose(Object.values(variables));
    return result;
  }

  const { modelDir, ev, evTrain, evG, evGTrain, war } = await exportAndEvaluate(options, o, out, setup, variables);
  result.modelDir = modelDir;
  result.eval = ev;
  result.evalGoodfire = evG;
  result.warPrompt = war;
  const summary = {
    options: o,
    ...(options.init ? { init: options.init } : {}),
    steps: step,
    tokens,
    seconds: +seconds.toFixed(1),
    finalLoss,
    parameters: trained.nParams,
    vocabSize: vocab.size,
    heldoutNouns: ev,
    trainNouns: evTrain,
    goodfire: { heldoutNouns: evG, trainNouns: evGTrain },
    warPrompt: war,
  };
  writeFileSync(join(out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  log(
    `done: ${step} steps in ${formatDuration(seconds)}, final loss ${finalLoss.toFixed(4)}; greater-than on held-out nouns ` +
      `(n=${ev.n}): PD ${ev.pd.toFixed(3)}, sharpness ${ev.sharpness.toFixed(3)}, year-token mass ` +
      `${ev.yearMass.toFixed(3)}; train nouns PD ${evTrain.pd.toFixed(3)}; "… to {XX}" template: held-out PD ` +
      `${evG.pd.toFixed(3)}, sharpness ${evG.sharpness.toFixed(3)}; "${war.prompt}": p(ZZ>11) ` +
      `${war.pGreater.toFixed(3)} of ${war.yearMass.toFixed(3)} → ${modelDir}`,
  );
  return result;
}

/**
 * Exports the HF folder (disposing the training variables), then evaluates the exported file (after
 * its storage rounding) on 490 held-out- and training-noun prompts of both templates and on the war prompt.
 */
async function exportAndEvaluate(
  options: TrainLmOptions,
  o: LmOptions,
  out: string,
  setup: LmSetup,
  variables: Record<string, tf.Variable>,
) {
  const modelDir = join(out, "model");
  saveModel(modelDir, setup.config, variables, setup.vocab.gpt2Ids, {
    dtype: options.dtype ?? "F16",
    metadata: { atlas: "demo-lm", seed: String(o.seed), steps: String(o.steps) },
  });
  tf.dispose(Object.values(variables));
  const saved = await loadModel(modelDir);
  try {
    const gt = (nouns: readonly string[], template: GreaterThanTemplate) => {
      const { probs: _p, ...r } = greaterThanEval(saved, greaterThanDataset({ n: 490, nouns, seed: 1234, template }));
      return r;
    };
    return {
      modelDir,
      ev: gt(HELDOUT_NOUNS, "hanna"),
      evTrain: gt(TRAIN_NOUNS, "hanna"),
      evG: gt(HELDOUT_NOUNS, "goodfire"),
      evGTrain: gt(TRAIN_NOUNS, "goodfire"),
      war: warPromptEval(saved),
    };
  } finally {
    saved.dispose();
  }
}
