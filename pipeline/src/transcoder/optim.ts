// Adam(W) on Float32Array parameter lists (fp32 moments), global-norm clipping and the LR/λ schedules.
import { availableParallelism } from "node:os";
import type { CltTrainConfig } from "./config.ts";
import { companion, type KernelMemory, kernelMemory } from "./kernel-memory.ts";
import { callHere, KernelPool, type PoolCall, splitRange } from "./pool.ts";

/**
 * Exact Adam touches every parameter every step (the CLT loss gives every row a gradient), so tensors
 * of at least this many elements are split over worker threads when they live in shared memory.
 */
const PARALLEL_MIN = 1 << 20;

/**
 * Adam(W) with float32 arithmetic (as PyTorch's on float32 parameters): the WebAssembly SIMD kernel
 * (adam.wat) in place where a tensor's parameter, gradient and moments share a kernel memory
 * (kernel-memory.ts: allocParams, allocGrads and this constructor put them there), else adamUpdate32,
 * the same operations in JS, bit for bit.
 */
export class Adam {
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  t = 0;
  /** Threads the update runs on (this one included); 1 = no workers. */
  readonly threads: number;
  private pool: KernelPool | null = null;

  /** `params`: the tensors this optimizer will update (the moments are placed beside them). */
  constructor(
    params: Float32Array[],
    readonly beta1: number,
    readonly beta2: number,
    readonly eps: number,
    readonly weightDecay: number,
    threads = Math.min(2, availableParallelism()),
  ) {
    this.m = params.map((p) => companion(p, 2));
    this.v = params.map((p) => companion(p, 3));
    this.threads = Math.max(1, Math.floor(threads));
  }

  /**
   * One update. `decay[k]` false exempts tensor k from weight decay (biases, thresholds).
   * `gradScale` multiplies every gradient first (global-norm clipping) inside the same pass; the
   * gradients are left unchanged.
   */
  step(params: Float32Array[], grads: Float32Array[], lr: number, decay: boolean[], gradScale = 1): void {
    this.t++;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    // 1/√bc2 as a factor: a multiply instead of a second division per element
    const scalars: AdamScalars = [this.beta1, this.beta2, lr / bc1, 1 / Math.sqrt(bc2), this.eps, gradScale];
    const jobs: AdamJob[] = [];
    for (let k = 0; k < params.length; k++) {
      const arrays = [params[k]!, grads[k]!, this.m[k]!, this.v[k]!] as const;
      const n = arrays[0].length;
      if (arrays.some((a) => a.length !== n)) throw new Error(`Adam: tensor ${k} has arrays of different lengths`);
      const wd = decay[k] ? 1 - lr * this.weightDecay : 1;
      const km = kernelMemory(...arrays);
      const job: AdamJob = { arrays, km, wd, n };
      if (this.threads > 1 && n >= PARALLEL_MIN && (km || arrays.every((a) => a.buffer instanceof SharedArrayBuffer))) {
        jobs.push(job);
      } else runJob(job, 0, n, scalars);
    }
    if (jobs.length === 0) return;
    this.pool ??= new KernelPool(this.threads - 1, { adamUpdate32 });
    // each tensor cut into equal parts, one per thread; cuts on multiples of 4 keep each part's SIMD
    // loads aligned (the update is elementwise, so any cut gives the same result)
    const cuts = jobs.map((j) => splitRange(j.n, this.threads, 4));
    const share = (k: number) => jobs.map((j, q) => jobCall(j, cuts[q]![k]![0], cuts[q]![k]![1], scalars));
    this.pool.run(
      Array.from({ length: this.threads - 1 }, (_, w) => share(w + 1)),
      share(0),
    );
  }

  /** Stops the worker threads (they are unref'd, so an exiting process need not call this). */
  close(): void {
    this.pool?.close();
    this.pool = null;
  }
}

/** b1, b2, stepSize = lr/bc1, 1/√bc2, eps, gradScale (the weight-decay factor is per tensor: AdamJob.wd). */
type AdamScalars = [number, number, number, number, number, number];

interface AdamJob {
  arrays: readonly [Float32Array, Float32Array, Float32Array, Float32Array];
  /** The kernel memory of all four arrays, or null (JS loop). */
  km: KernelMemory | null;
  wd: number;
  n: number;
}

/** Elements [from, to) of one tensor, as a call any thread can run. */
function jobCall(j: AdamJob, from: number, to: number, s: AdamScalars): PoolCall {
  const tail = [s[0], s[1], s[2], s[3], s[4], j.wd, s[5]];
  if (j.km) {
    const off = j.arrays.map((a) => a.byteOffset + 4 * from);
    return { module: "adam", fn: "adam", mem: j.km, args: [...off, to - from, ...tail] };
  }
  return { js: "adamUpdate32", args: [...j.arrays, from, to, ...tail] };
}

function runJob(j: AdamJob, from: number, to: number, s: AdamScalars): void {
  callHere(jobCall(j, from, to, s), null, { adamUpdate32 });
}

/**
 * The kernel's update (adam.wat) in JS over elements [from, to): every operation on float32 values
 * rounded to float32 (Math.fround of a float64 +, −, ×, ÷ or √ of float32 operands is the correctly
 * rounded float32 result), in the kernel's order, so both give the same bits. A small top-level loop
 * (V8 optimizes it better than inside step()); self-contained, as the worker threads run its source.
 */
export function adamUpdate32(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  from: number,
  to: number,
  beta1: number,
  beta2: number,
  stepSize: number,
  invSqrtBc2: number,
  epsilon: number,
  weightDecay: number,
  gradScale: number,
): void {
  const f = Math.fround;
  const b1 = f(beta1);
  const b2 = f(beta2);
  const c1 = f(1 - beta1);
  const c2 = f(1 - beta2);
  const ss = f(stepSize);
  const isb = f(invSqrtBc2);
  const eps = f(epsilon);
  const wd = f(weightDecay);
  const gs = f(gradScale);
  for (let i = from; i < to; i++) {
    const gi = f(gs * g[i]!);
    const mi = f(f(b1 * m[i]!) + f(c1 * gi));
    const vi = f(f(b2 * v[i]!) + f(f(c2 * gi) * gi));
    m[i] = mi;
    v[i] = vi;
    p[i] = f(wd * p[i]!) - f(f(ss * mi) / f(f(f(Math.sqrt(vi)) * isb) + eps));
  }
}

/** Global L2 norm of a gradient list (float64 accumulation). */
export function globalNorm(grads: Float32Array[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
  return Math.sqrt(s);
}

export function scaleAll(grads: Float32Array[], f: number): void {
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = g[i]! * f;
}

/** LR at 0-based step: linear warm-up, constant, linear decay to 0 over the last fraction. */
export function lrAt(
  cfg: Pick<CltTrainConfig, "lr" | "lrWarmupSteps" | "lrDecayFraction">,
  step: number,
  total: number,
): number {
  let f = 1;
  if (cfg.lrWarmupSteps > 0 && step < cfg.lrWarmupSteps) f = (step + 1) / cfg.lrWarmupSteps;
  const decayStart = total * (1 - cfg.lrDecayFraction);
  if (cfg.lrDecayFraction > 0 && step >= decayStart) f = Math.min(f, (total - step) / (total - decayStart));
  return cfg.lr * f;
}

/** λ ramped linearly from 0 (step 0) to its final value at the last step. */
export function lambdaAt(lambda: number, step: number, total: number): number {
  return total <= 1 ? lambda : (lambda * step) / (total - 1);
}
