// CLT training: activation buffer → normalization + data-dependent init → steps (fused BLAS step or
// tfjs reference) with Adam, clipping, λ ramp and LR decay → metrics.jsonl, atomic checkpoints with
// exact resume, folded weights in clt.safetensors.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import { totalmem } from "node:os";
import { join, resolve } from "node:path";
import {
  checkRunFolder,
  createProgress,
  inRunFolder,
  restoreSwappedDir,
  swapDir,
  tempPath,
  writeJsonAtomic,
} from "@circuit-atlas/util";
import { readSafetensors, type TensorToWrite, writeSafetensors } from "../safetensors/index.ts";
import { ActivationBuffer, type ActivationSource, type BufferState } from "./buffer.ts";
import { type CltTrainConfig, parseTrainConfig } from "./config.ts";
import { FusedStep } from "./fused.ts";
import {
  FEATURE_INPUT_HOOK,
  FEATURE_OUTPUT_HOOK,
  readRunConfig,
  saveWeights,
  WEIGHTS_FILE,
  writeRunConfig,
} from "./io.ts";
import { TfStep } from "./loss.ts";
import { Adam, lambdaAt, lrAt } from "./optim.ts";
import {
  allocGrads,
  allocParams,
  type CltParams,
  type CltShape,
  estimateNormalization,
  foldParams,
  initParams,
  type Normalization,
  paramList,
  trainingMemory,
} from "./params.ts";
import type { LossCoefs, StepStats, TrainStep } from "./step.ts";

export const CHECKPOINT_DIR = "checkpoint";
export const METRICS_FILE = "metrics.jsonl";

export interface TrainCltOptions {
  config: CltTrainConfig;
  outDir: string;
  resume?: boolean;
  /** Activation source; default: harvest from config.model over config.corpus. */
  source?: ActivationSource;
  /** Stop after this many steps in this call (a checkpoint is written): simulates an interruption. */
  maxStepsThisRun?: number;
  /** Write a checkpoint when stopping early (default true; false mimics a killed process). */
  checkpointOnExit?: boolean;
  /** Polled every step; true → write a checkpoint and return (SIGINT in the CLI). */
  shouldStop?: () => boolean;
  /** Where to draw the progress bar (default none). */
  progress?: NodeJS.WriteStream | null;
  /** Model name recorded in the run config (e.g. the HF repo id). */
  modelName?: string | null;
  /** Replace a CLT or checkpoint already in `outDir` (otherwise that is refused). */
  force?: boolean;
}

export interface MetricsLine {
  step: number;
  tokens: number;
  loss: number;
  mse: number;
  sparsity: number;
  pre_act: number;
  fvu: { per_layer: number[]; mean: number };
  l0: { per_layer: number[]; total: number };
  dead_fraction: { per_layer: number[]; mean: number };
  lambda: number;
  lr: number;
  grad_norm: number;
  elapsed_s: number;
  tokens_per_s: number;
}

export interface TrainCltResult {
  runDir: string;
  steps: number;
  totalSteps: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  last: MetricsLine | null;
  interrupted: boolean;
}

interface CheckpointState {
  version: 1;
  step: number;
  totalSteps: number;
  shape: CltShape;
  buffer: BufferState;
  norm: { sIn: number[]; sOut: number[] };
  adamT: number;
  metricsBytes: number;
  elapsedSeconds: number;
  /** Metric sums since the last metrics line (so lines after a resume average the same steps). */
  acc: { n: number; loss: number; mse: number; sp: number; pre: number; sse: number[]; sst: number[]; act: number[] };
  config: CltTrainConfig;
}

/** Options that may differ between an interrupted run and its resumption. */
const RESUME_FREE: ReadonlySet<string> = new Set(["checkpointEvery", "logEvery", "model", "corpus"]);

function checkpointFiles(dir: string) {
  return {
    state: join(dir, "state.json"),
    params: join(dir, "params.safetensors"),
    optim: join(dir, "optim.safetensors"),
  };
}

function saveCheckpoint(runDir: string, st: CheckpointState, params: CltParams, adam: Adam, ema: Float32Array[]): void {
  const final = join(runDir, CHECKPOINT_DIR);
  const tmp = tempPath(final);
  mkdirSync(tmp, { recursive: true });
  const f = checkpointFiles(tmp);
  const shapes = paramList(params);
  const pt = new Map<string, TensorToWrite>();
  const ot = new Map<string, TensorToWrite>();
  shapes.forEach(([name, data], k) => {
    pt.set(name, { dtype: "F32", shape: [data.length], data });
    ot.set(`m.${name}`, { dtype: "F32", shape: [data.length], data: adam.m[k]! });
    ot.set(`v.${name}`, { dtype: "F32", shape: [data.length], data: adam.v[k]! });
  });
  for (const [l, e] of ema.entries()) ot.set(`ema_firing_${l}`, { dtype: "F32", shape: [e.length], data: e });
  writeSafetensors(f.params, pt);
  writeSafetensors(f.optim, ot);
  writeJsonAtomic(f.state, st);
  swapDir(tmp, final);
}

/** The training config stored in a run dir's checkpoint (with local model/corpus paths), or null. */
export function checkpointTrainConfig(runDir: string): Record<string, unknown> | null {
  for (const dir of [join(runDir, CHECKPOINT_DIR), join(runDir, `${CHECKPOINT_DIR}.old`)]) {
    const f = checkpointFiles(dir);
    if (existsSync(f.state)) return readCheckpointState(f.state).config;
  }
  return null;
}

/** A checkpoint's state.json; a damaged one is named with what to do about it. */
function readCheckpointState(path: string): CheckpointState {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as CheckpointState;
  } catch (err) {
    throw new Error(
      `cannot resume: checkpoint file ${path} is damaged (${(err as Error).message}); ` +
        "start over with --force, or restore the checkpoint folder from a copy",
    );
  }
}

function loadCheckpoint(runDir: string): {
  st: CheckpointState;
  params: CltParams;
  m: Float32Array[];
  v: Float32Array[];
  ema: Float32Array[];
} {
  const dir = join(runDir, CHECKPOINT_DIR);
  restoreSwappedDir(dir);
  const f = checkpointFiles(dir);
  if (!existsSync(f.state)) throw new Error(`cannot resume: no checkpoint in ${runDir}`);
  const st = readCheckpointState(f.state);
  if (st.version !== 1) throw new Error(`cannot resume: unsupported checkpoint version ${st.version}`);
  const params = allocParams(st.shape);
  const pf = readSafetensors(f.params);
  const of = readSafetensors(f.optim);
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  const take = (file: typeof pf, name: string, into: Float32Array) => {
    const t = file.tensors.get(name);
    if (!t || !(t.data instanceof Float32Array) || t.data.length !== into.length) {
      throw new Error(`cannot resume: checkpoint tensor ${name} missing or of the wrong size`);
    }
    into.set(t.data);
    return into;
  };
  for (const [name, data] of paramList(params)) {
    take(pf, name, data);
    m.push(take(of, `m.${name}`, new Float32Array(data.length)));
    v.push(take(of, `v.${name}`, new Float32Array(data.length)));
  }
  const ema = Array.from({ length: st.shape.nLayers }, (_, l) =>
    take(of, `ema_firing_${l}`, new Float32Array(st.shape.nFeatures)),
  );
  return { st, params, m, v, ema };
}

/** Default activation source: the model's hooks over the corpus. */
async function openHarvest(cfg: CltTrainConfig): Promise<ActivationSource> {
  const { loadModel } = await import("../model/index.ts");
  const { openCorpus } = await import("../data/index.ts");
  const { HarvestSource, countCorpusTokens } = await import("./harvest.ts");
  const { initBackend } = await import("../backend/index.ts");
  await initBackend(undefined, { quiet: true });
  if (!existsSync(join(cfg.model, "config.json"))) throw new Error(`model dir not found or not a model: ${cfg.model}`);
  const model = await loadModel(cfg.model);
  const corpus = await openCorpus(cfg.corpus);
  const nCtx = cfg.contextLength > 0 ? cfg.contextLength : Math.min(model.config.nCtx, 128);
  const have = await countCorpusTokens(corpus, nCtx, cfg.tokens);
  if (have < cfg.tokens) {
    throw new Error(
      `corpus ${cfg.corpus} has only ${have} training tokens (contexts of ${nCtx}, BOS excluded), fewer than the requested ${cfg.tokens}`,
    );
  }
  return new HarvestSource(model, corpus, {
    nCtx,
    batchContexts: cfg.harvestContexts,
    contextShuffle: cfg.contextShuffle,
    seed: cfg.seed,
  });
}

// The longest typed array V8 allocates (2^32 − 1 elements on 64-bit Node 20).
const MAX_TYPED_ARRAY = 2 ** 32 - 1;
const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 2 : 0)} GiB`;

export async function trainClt(opts: TrainCltOptions): Promise<TrainCltResult> {
  const cfg = parseTrainConfig(opts.config);
  if (!opts.source) {
    cfg.model = resolve(cfg.model);
    cfg.corpus = resolve(cfg.corpus);
  }
  const runDir = resolve(opts.outDir);
  const ckDir = join(runDir, CHECKPOINT_DIR);
  const metricsPath = join(runDir, METRICS_FILE);
  const folderOpts = {
    what: "atlas clt train",
    mode: opts.resume ? ("add" as const) : ("create" as const),
    results: [WEIGHTS_FILE],
    noun: "a CLT",
    force: opts.force,
  };
  // Nothing below writes until the folder is claimed: first every check that can fail.
  checkRunFolder(runDir, folderOpts);
  const hasCheckpoint = existsSync(join(ckDir, "state.json")) || existsSync(join(`${ckDir}.old`, "state.json"));
  if (!opts.resume && hasCheckpoint && !opts.force) {
    throw new Error(
      `run dir ${runDir} already holds a checkpoint: pass --resume to continue it, --force to start over, or choose another --out`,
    );
  }
  if (opts.resume && !hasCheckpoint) throw new Error(`cannot resume: no checkpoint in ${runDir}`);

  const source = opts.source ?? (await openHarvest(cfg));
  const shape: CltShape = { nLayers: source.nLayers, dModel: source.dModel, nFeatures: cfg.featuresPerLayer };
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const B = cfg.batchTokens;
  const totalSteps = Math.floor(cfg.tokens / B);
  if (totalSteps < 1) throw new Error(`--tokens ${cfg.tokens} is less than one batch of ${B} tokens`);
  const mem = trainingMemory(shape, cfg);
  const machine = totalmem();
  if (mem.bytes > machine || mem.largestArray > MAX_TYPED_ARRAY) {
    throw new Error(
      `--features-per-layer ${F} needs about ${gb(mem.bytes)} for training a ${L}-layer, d=${d} CLT ` +
        `(parameters, gradients, Adam state, activation buffer), more than this machine's ${gb(machine)}` +
        `${mem.largestArray > MAX_TYPED_ARRAY ? " and more than one array can hold" : ""}; lower --features-per-layer, --buffer-tokens or --batch-tokens`,
    );
  }
  return inRunFolder(runDir, folderOpts, () =>
    trainInFolder(opts, cfg, { runDir, ckDir, metricsPath, source, shape, totalSteps }),
  );
}

interface TrainRun {
  runDir: string;
  ckDir: string;
  metricsPath: string;
  source: ActivationSource;
  shape: CltShape;
  totalSteps: number;
}

/** Metric sums since the last metrics line, so a line reports the mean over its interval. */
class MetricSums {
  n = 0;
  loss = 0;
  mse = 0;
  sp = 0;
  pre = 0;
  readonly sse: Float64Array;
  readonly sst: Float64Array;
  readonly act: Float64Array;

  constructor(nLayers: number) {
    this.sse = new Float64Array(nLayers);
    this.sst = new Float64Array(nLayers);
    this.act = new Float64Array(nLayers);
  }

  add(st: StepStats): void {
    this.n++;
    this.loss += st.loss;
    this.mse += st.mse;
    this.sp += st.sparsity;
    this.pre += st.preAct;
    for (let l = 0; l < this.sse.length; l++) {
      this.sse[l]! += st.sse[l]!;
      this.sst[l]! += st.sst[l]!;
      this.act[l]! += st.active[l]!;
    }
  }

  reset(): void {
    this.n = 0;
    this.loss = this.mse = this.sp = this.pre = 0;
    this.sse.fill(0);
    this.sst.fill(0);
    this.act.fill(0);
  }

  saved(): CheckpointState["acc"] {
    const { n, loss, mse, sp, pre } = this;
    return { n, loss, mse, sp, pre, sse: Array.from(this.sse), sst: Array.from(this.sst), act: Array.from(this.act) };
  }

  restore(a: CheckpointState["acc"]): void {
    Object.assign(this, { n: a.n, loss: a.loss, mse: a.mse, sp: a.sp, pre: a.pre });
    this.sse.set(a.sse);
    this.sst.set(a.sst);
    this.act.set(a.act);
  }
}

/** Everything the steps change: restored from a checkpoint, or initialised from a sample of activations. */
interface TrainState {
  buffer: ActivationBuffer;
  params: CltParams;
  norm: Normalization;
  adam: Adam;
  /** Per-layer EMA of each feature's firing rate (dead-feature statistics). */
  ema: Float32Array[];
  sums: MetricSums;
  step: number;
  /** Training seconds of earlier invocations of this run. */
  elapsedBefore: number;
}

async function trainInFolder(opts: TrainCltOptions, cfg: CltTrainConfig, run: TrainRun): Promise<TrainCltResult> {
  const s = await initOrResume(opts, cfg, run);
  await writeRunConfig(run.runDir, {
    kind: "clt",
    version: 1,
    model: opts.source ? null : resolve(cfg.model),
    modelName: opts.modelName ?? null,
    shape: run.shape,
    featureInputHook: FEATURE_INPUT_HOOK,
    featureOutputHook: FEATURE_OUTPUT_HOOK,
    train: { ...cfg, model: opts.source ? cfg.model : resolve(cfg.model) },
  });
  const engine: TrainStep =
    cfg.engine === "fused"
      ? new FusedStep(run.shape, cfg.batchTokens, { path: cfg.fusedPath })
      : new TfStep(run.shape, cfg.batchTokens);
  const t0 = performance.now();
  const elapsed = () => s.elapsedBefore + (performance.now() - t0) / 1000;
  const checkpoint = () => saveCheckpoint(run.runDir, checkpointState(cfg, run, s, elapsed()), s.params, s.adam, s.ema);
  const { stepsThisRun, last, interrupted } = await runSteps(opts, cfg, run, s, engine, { t0, elapsed, checkpoint });

  // Finalisation: the last checkpoint (none when a kill is simulated) and, once done, the folded weights.
  if (s.step > 0 && (s.step === run.totalSteps || opts.checkpointOnExit !== false)) checkpoint();
  if (s.step === run.totalSteps) saveWeights(join(run.runDir, WEIGHTS_FILE), foldParams(s.params, s.norm));
  const seconds = (performance.now() - t0) / 1000;
  return {
    runDir: run.runDir,
    steps: s.step,
    totalSteps: run.totalSteps,
    tokens: s.step * cfg.batchTokens,
    seconds,
    tokensPerSecond: (stepsThisRun * cfg.batchTokens) / seconds,
    last,
    interrupted,
  };
}

/**
 * The state at the first step of this invocation: from the checkpoint (same options and shape
 * required; metric lines written after it by an interrupted process dropped), or params initialised
 * from a normalized sample of the activation source (metrics file started afresh).
 */
async function initOrResume(opts: TrainCltOptions, cfg: CltTrainConfig, run: TrainRun): Promise<TrainState> {
  const { runDir, metricsPath, source, shape } = run;
  const resumed = opts.resume ? loadCompatibleCheckpoint(runDir, cfg, shape) : null;
  mkdirSync(runDir, { recursive: true });
  const buffer = new ActivationBuffer(source, cfg.bufferTokens, cfg.seed);
  // the moments go beside the parameters (kernel-memory.ts), so Adam is made once they exist
  const newAdam = (params: CltParams) =>
    new Adam(
      paramList(params).map(([, a]) => a),
      cfg.beta1,
      cfg.beta2,
      cfg.adamEps,
      cfg.weightDecay,
    );
  const sums = new MetricSums(shape.nLayers);
  if (resumed) {
    const adam = newAdam(resumed.params);
    for (const [k, m] of resumed.m.entries()) adam.m[k]!.set(m);
    for (const [k, v] of resumed.v.entries()) adam.v[k]!.set(v);
    adam.t = resumed.st.adamT;
    await buffer.restore(resumed.st.buffer);
    if (existsSync(metricsPath) && statSync(metricsPath).size > resumed.st.metricsBytes) {
      truncateSync(metricsPath, resumed.st.metricsBytes);
    }
    sums.restore(resumed.st.acc);
    return {
      buffer,
      params: resumed.params,
      norm: { sIn: Float64Array.from(resumed.st.norm.sIn), sOut: Float64Array.from(resumed.st.norm.sOut) },
      adam,
      ema: resumed.ema,
      sums,
      step: resumed.st.step,
      elapsedBefore: resumed.st.elapsedSeconds,
    };
  }
  const { norm, params } = await initFromSample(buffer, cfg, shape);
  rmSync(metricsPath, { force: true });
  return {
    buffer,
    params,
    norm,
    adam: newAdam(params),
    ema: Array.from({ length: shape.nLayers }, () => new Float32Array(shape.nFeatures).fill(cfg.initFiringRate)),
    sums,
    step: 0,
    elapsedBefore: 0,
  };
}

/** The run dir's checkpoint, refused when an option that shapes the run, or the CLT shape, differs. */
function loadCompatibleCheckpoint(
  runDir: string,
  cfg: CltTrainConfig,
  shape: CltShape,
): ReturnType<typeof loadCheckpoint> {
  const resumed = loadCheckpoint(runDir);
  const saved = resumed.st.config as Record<string, unknown>;
  for (const [k, v] of Object.entries(cfg)) {
    if (RESUME_FREE.has(k)) continue;
    if (JSON.stringify(saved[k]) !== JSON.stringify(v)) {
      throw new Error(
        `cannot resume: option ${k} is ${JSON.stringify(v)} but the run was started with ${JSON.stringify(saved[k])}`,
      );
    }
  }
  if (JSON.stringify(resumed.st.shape) !== JSON.stringify(shape)) {
    throw new Error(`cannot resume: checkpoint shape ${JSON.stringify(resumed.st.shape)} ≠ ${JSON.stringify(shape)}`);
  }
  return resumed;
}

/** Normalization factors and data-dependent initial parameters from a peeked sample of the buffer. */
async function initFromSample(
  buffer: ActivationBuffer,
  cfg: CltTrainConfig,
  shape: CltShape,
): Promise<{ norm: Normalization; params: CltParams }> {
  const { nLayers: L, dModel: d } = shape;
  const sample = await buffer.peek(Math.min(cfg.initTokens, cfg.bufferTokens));
  if (sample.n === 0) throw new Error("the activation source produced no tokens");
  const norm = estimateNormalization(shape, sample.x, sample.y, sample.n);
  const scale = (a: Float32Array, s: Float64Array) => {
    for (let t = 0; t < sample.n; t++)
      for (let q = 0; q < L * d; q++) a[t * L * d + q] = a[t * L * d + q]! * s[Math.floor(q / d)]!;
  };
  scale(sample.x, norm.sIn);
  scale(sample.y, norm.sOut);
  const params = initParams(shape, sample.x, sample.y, sample.n, {
    seed: cfg.seed,
    thresholdInit: cfg.thresholdInit,
    initFiringRate: cfg.initFiringRate,
    decoderInitNorm: cfg.decoderInitNorm,
  });
  return { norm, params };
}

function checkpointState(cfg: CltTrainConfig, run: TrainRun, s: TrainState, elapsedSeconds: number): CheckpointState {
  return {
    version: 1,
    step: s.step,
    totalSteps: run.totalSteps,
    shape: run.shape,
    buffer: s.buffer.state(),
    norm: { sIn: Array.from(s.norm.sIn), sOut: Array.from(s.norm.sOut) },
    adamT: s.adam.t,
    metricsBytes: existsSync(run.metricsPath) ? statSync(run.metricsPath).size : 0,
    elapsedSeconds,
    acc: s.sums.saved(),
    config: cfg,
  };
}

/**
 * The step loop: batch → engine step → divergence check → clipped Adam → firing EMA → metric sums;
 * a metrics line every `logEvery` steps and a checkpoint every `checkpointEvery`. Returns when the
 * run is done, `maxStepsThisRun` is reached or `shouldStop` says so.
 */
async function runSteps(
  opts: TrainCltOptions,
  cfg: CltTrainConfig,
  run: TrainRun,
  s: TrainState,
  engine: TrainStep,
  clock: { t0: number; elapsed: () => number; checkpoint: () => void },
): Promise<{ stepsThisRun: number; last: MetricsLine | null; interrupted: boolean }> {
  const { ckDir, metricsPath, shape, totalSteps } = run;
  const { nLayers: L, dModel: d, nFeatures: F } = shape;
  const B = cfg.batchTokens;
  const grads = allocGrads(s.params);
  const pl = paramList(s.params).map(([, a]) => a);
  const gl = paramList(grads).map(([, a]) => a);
  const decay = paramList(s.params).map(([n]) => n.startsWith("W_"));
  const xb = new Float32Array(B * L * d);
  const yb = new Float32Array(B * L * d);
  const alpha = Math.min(1, B / cfg.deadWindowTokens);
  let stepsThisRun = 0;
  let last: MetricsLine | null = null;
  let interrupted = false;
  const progress = createProgress({
    label: "train",
    total: totalSteps,
    start: s.step,
    unit: "steps",
    stream: opts.progress ?? null,
  });
  try {
    while (s.step < totalSteps) {
      if ((opts.maxStepsThisRun !== undefined && stepsThisRun >= opts.maxStepsThisRun) || opts.shouldStop?.()) {
        interrupted = true;
        break;
      }
      const got = await s.buffer.next(B, xb, yb, s.norm.sIn, s.norm.sOut);
      if (got < B) {
        throw new Error(
          `the activation source ran out after ${s.step * B + got} tokens, fewer than the requested ${cfg.tokens}`,
        );
      }
      const lam = lambdaAt(cfg.lambda, s.step, totalSteps);
      const lr = lrAt(cfg, s.step, totalSteps);
      const coefs: LossCoefs = { lambda: lam, c: cfg.c, lambdaPre: cfg.lambdaPre, bandwidth: cfg.bandwidth };
      const st: StepStats = engine.run(s.params, xb, yb, coefs, grads);
      const gnorm = st.gradNorm;
      if (!Number.isFinite(st.loss) || !Number.isFinite(gnorm)) {
        throw new Error(
          `training diverged at step ${s.step}: loss ${st.loss}, gradient norm ${gnorm}. ` +
            `The last good checkpoint in ${ckDir} was kept; lower --lr or --lambda and --resume, or restart.`,
        );
      }
      // clipping is folded into the Adam pass (same float32 values as scaling the gradients first)
      s.adam.step(pl, gl, lr, decay, cfg.gradClip > 0 && gnorm > cfg.gradClip ? cfg.gradClip / gnorm : 1);
      for (let l = 0; l < L; l++) {
        const e = s.ema[l]!;
        const f = st.fired[l]!;
        for (let i = 0; i < F; i++) e[i] = (1 - alpha) * e[i]! + (alpha * f[i]!) / B;
      }
      s.sums.add(st);
      s.step++;
      stepsThisRun++;
      if (s.step % cfg.logEvery === 0 || s.step === totalSteps) {
        last = metricsLine(cfg, s, L, {
          lambda: lam,
          lr,
          grad_norm: gnorm,
          elapsed_s: clock.elapsed(),
          tokens_per_s: (stepsThisRun * B) / ((performance.now() - clock.t0) / 1000),
        });
        appendFileSync(metricsPath, `${JSON.stringify(last)}\n`);
        s.sums.reset();
        progress.update(
          s.step,
          `loss ${last.loss.toFixed(3)} fvu ${last.fvu.mean.toFixed(3)} L0 ${(last.l0.total / L).toFixed(1)}/layer ` +
            `dead ${(100 * last.dead_fraction.mean).toFixed(1)}% ${Math.round(last.tokens_per_s)} tok/s`,
        );
      }
      if (cfg.checkpointEvery > 0 && s.step % cfg.checkpointEvery === 0 && s.step < totalSteps) clock.checkpoint();
    }
  } finally {
    progress.stop();
  }
  return { stepsThisRun, last, interrupted };
}

/** The metrics line of the steps summed in `s.sums` (means over the interval; dead fraction from the EMA). */
function metricsLine(
  cfg: CltTrainConfig,
  s: TrainState,
  L: number,
  rest: Pick<MetricsLine, "lambda" | "lr" | "grad_norm" | "elapsed_s" | "tokens_per_s">,
): MetricsLine {
  const acc = s.sums;
  const F = s.ema[0]!.length;
  const fvu = Array.from(acc.sse, (v, l) => v / acc.sst[l]!);
  const l0 = Array.from(acc.act, (a) => a / (acc.n * cfg.batchTokens));
  const dead = s.ema.map((e) => e.reduce((n, v) => n + (v * cfg.deadWindowTokens < 1 ? 1 : 0), 0) / F);
  return {
    step: s.step,
    tokens: s.step * cfg.batchTokens,
    loss: acc.loss / acc.n,
    mse: acc.mse / acc.n,
    sparsity: acc.sp / acc.n,
    pre_act: acc.pre / acc.n,
    fvu: { per_layer: fvu, mean: fvu.reduce((a, b) => a + b, 0) / L },
    l0: { per_layer: l0, total: l0.reduce((a, b) => a + b, 0) },
    dead_fraction: { per_layer: dead, mean: dead.reduce((a, b) => a + b, 0) / L },
    lambda: rest.lambda,
    lr: rest.lr,
    grad_norm: rest.grad_norm,
    elapsed_s: rest.elapsed_s,
    tokens_per_s: rest.tokens_per_s,
  };
}

export { readRunConfig };
