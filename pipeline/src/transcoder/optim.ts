// Adam(W) on Float32Array parameter lists (fp32 moments), global-norm clipping and the LR/λ schedules.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { adamModule, companion, type KernelMemory, kernelMemory, type WasmMemory } from "./adam-kernel.ts";
import type { CltTrainConfig } from "./config.ts";

/**
 * Exact Adam touches every parameter every step (the CLT loss gives every row a gradient), so tensors
 * of at least this many elements are split over worker threads when they live in shared memory.
 */
const PARALLEL_MIN = 1 << 20;

/**
 * Adam(W) with float32 arithmetic (as PyTorch's on float32 parameters): the WebAssembly SIMD kernel
 * (adam.wat) in place where a tensor's parameter, gradient and moments share a kernel memory
 * (adam-kernel.ts: allocParams, allocGrads and this constructor put them there), else adamUpdate32,
 * the same operations in JS, bit for bit.
 */
export class Adam {
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  t = 0;
  /** Threads the update runs on (this one included); 1 = no workers. */
  readonly threads: number;
  private pool: AdamPool | null = null;

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
    this.pool ??= new AdamPool(this.threads - 1);
    this.pool.run(jobs, scalars);
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

/** Elements [from, to) of one tensor on this thread. */
function runJob(j: AdamJob, from: number, to: number, s: AdamScalars): void {
  const [p, g, m, v] = j.arrays;
  if (j.km) {
    const o = 4 * from;
    j.km.kernel(
      p.byteOffset + o,
      g.byteOffset + o,
      m.byteOffset + o,
      v.byteOffset + o,
      to - from,
      s[0],
      s[1],
      s[2],
      s[3],
      s[4],
      j.wd,
      s[5],
    );
  } else adamUpdate32(p, g, m, v, from, to, s[0], s[1], s[2], s[3], s[4], j.wd, s[5]);
}

/**
 * Worker threads running the update on element ranges of shared tensors. The step stays synchronous:
 * each worker gets its ranges by message, this thread does its own share, then waits on a shared
 * counter (Atomics) for the workers. The update is elementwise, so the split changes no result.
 */
class AdamPool {
  private workers: Worker[];
  /** [0]: workers finished this round; [1]: 1 when a worker failed (message in `error`). */
  private sync = new Int32Array(new SharedArrayBuffer(8));
  private error: string | null = null;

  constructor(n: number) {
    // each run, a worker instantiates the kernel over the memories it is sent (~0.1 ms each) and
    // keeps nothing: a worker that held them would keep every memory it saw alive until close()
    const src =
      `const { parentPort } = require("node:worker_threads");\n` +
      `const adamUpdate32 = ${adamUpdate32.toString()};\n` +
      `parentPort.on("message", ({ module, memories, jobs, scalars, sync }) => {\n` +
      `  try {\n` +
      `    const kernels = new Map();\n` +
      `    for (const { id, memory } of memories) kernels.set(id, new WebAssembly.Instance(module, { env: { memory } }).exports.adam);\n` +
      `    const [b1, b2, ss, isb, eps, gs] = scalars;\n` +
      `    for (const j of jobs) {\n` +
      `      if (j.km !== null) kernels.get(j.km)(j.off[0], j.off[1], j.off[2], j.off[3], j.to - j.from, b1, b2, ss, isb, eps, j.wd, gs);\n` +
      `      else adamUpdate32(...j.arrays, j.from, j.to, b1, b2, ss, isb, eps, j.wd, gs);\n` +
      `    }\n` +
      `  } catch (err) {\n` +
      `    parentPort.postMessage(String(err && err.stack || err));\n` +
      `    Atomics.store(sync, 1, 1);\n` +
      `  }\n` +
      `  Atomics.add(sync, 0, 1);\n` +
      `  Atomics.notify(sync, 0);\n` +
      `});\n`;
    this.workers = Array.from({ length: n }, () => {
      const w = new Worker(src, { eval: true });
      w.on("message", (m: string) => {
        this.error = m;
      });
      w.unref();
      return w;
    });
  }

  run(jobs: AdamJob[], scalars: AdamScalars): void {
    const parts = this.workers.length + 1;
    const sync = this.sync;
    Atomics.store(sync, 0, 0);
    Atomics.store(sync, 1, 0);
    // cuts on multiples of 4 keep each part's SIMD loads aligned (any cut gives the same result)
    const cut = (j: AdamJob, k: number) => (k >= parts ? j.n : Math.floor((j.n * k) / parts / 4) * 4);
    const memories = new Map<number, WasmMemory>();
    for (const j of jobs) if (j.km) memories.set(j.km.id, j.km.memory);
    this.workers.forEach((w, wi) => {
      const mine = jobs.map((j) => {
        const from = cut(j, wi + 1);
        const to = cut(j, wi + 2);
        return j.km
          ? { km: j.km.id, off: j.arrays.map((a) => a.byteOffset + 4 * from), wd: j.wd, from, to }
          : { km: null, arrays: j.arrays, wd: j.wd, from, to };
      });
      w.postMessage({
        module: adamModule,
        memories: [...memories].map(([id, memory]) => ({ id, memory })),
        jobs: mine,
        scalars,
        sync,
      });
    });
    for (const j of jobs) runJob(j, 0, cut(j, 1), scalars);
    // a worker that died before its handler ran never counts: give up after 10 min without progress
    let waited = 0;
    for (let done = Atomics.load(sync, 0); done < this.workers.length; done = Atomics.load(sync, 0)) {
      if (Atomics.wait(sync, 0, done, 1000) === "timed-out" && ++waited > 600) {
        throw new Error(`Adam worker threads did not finish (${done} of ${this.workers.length} in 10 min)`);
      }
      if (Atomics.load(sync, 0) !== done) waited = 0;
    }
    if (Atomics.load(sync, 1) !== 0) {
      throw new Error(`Adam worker thread failed${this.error ? `: ${this.error.split("\n")[0]}` : ""}`);
    }
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
  }
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
