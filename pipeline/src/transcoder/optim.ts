// Adam(W) on Float32Array parameter lists (fp32 moments), global-norm clipping and the LR/λ schedules.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { CltTrainConfig } from "./config.ts";
import { sharedFloat32 } from "./params.ts";

/**
 * Exact Adam touches every parameter every step (the CLT loss gives every row a gradient), and its JS
 * loop is bound by a square root and a division per element rather than by memory, so tensors of at
 * least this many elements are split over worker threads when they live in shared memory.
 */
const PARALLEL_MIN = 1 << 20;

export class Adam {
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  t = 0;
  /** Threads the update runs on (this one included); 1 = no workers. */
  readonly threads: number;
  private pool: AdamPool | null = null;

  constructor(
    sizes: number[],
    readonly beta1: number,
    readonly beta2: number,
    readonly eps: number,
    readonly weightDecay: number,
    threads = Math.min(2, availableParallelism()),
  ) {
    this.m = sizes.map((n) => sharedFloat32(n));
    this.v = sizes.map((n) => sharedFloat32(n));
    this.threads = Math.max(1, Math.floor(threads));
  }

  /**
   * One update. `decay[k]` false exempts tensor k from weight decay (biases, thresholds).
   * `gradScale` multiplies every gradient first (global-norm clipping), exactly as `scaleAll` on the
   * float32 gradients would, without a separate pass; the gradients are left unchanged.
   */
  step(params: Float32Array[], grads: Float32Array[], lr: number, decay: boolean[], gradScale = 1): void {
    this.t++;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const bc1 = 1 - b1 ** this.t;
    const bc2 = 1 - b2 ** this.t;
    const stepSize = lr / bc1;
    // 1/√bc2 as a factor: a multiply instead of a second division per element
    const invSqrtBc2 = 1 / Math.sqrt(bc2);
    const jobs: AdamJob[] = [];
    for (let k = 0; k < params.length; k++) {
      const wd = decay[k] ? 1 - lr * this.weightDecay : 1;
      const arrays = [params[k]!, grads[k]!, this.m[k]!, this.v[k]!] as const;
      const n = arrays[0].length;
      if (this.threads > 1 && n >= PARALLEL_MIN && arrays.every((a) => a.buffer instanceof SharedArrayBuffer)) {
        jobs.push({ arrays, wd, n });
        continue;
      }
      adamUpdate(...arrays, 0, n, b1, b2, stepSize, invSqrtBc2, this.eps, wd, gradScale);
    }
    if (jobs.length === 0) return;
    this.pool ??= new AdamPool(this.threads - 1);
    this.pool.run(jobs, [b1, b2, stepSize, invSqrtBc2, this.eps, gradScale]);
  }

  /** Stops the worker threads (they are unref'd, so an exiting process need not call this). */
  close(): void {
    this.pool?.close();
    this.pool = null;
  }
}

interface AdamJob {
  arrays: readonly [Float32Array, Float32Array, Float32Array, Float32Array];
  wd: number;
  n: number;
}

/**
 * Worker threads running adamUpdate on element ranges of shared tensors. The step stays synchronous:
 * each worker gets its ranges by message, this thread does its own share, then waits on a shared
 * counter (Atomics) for the workers. The update is elementwise, so the split changes no result.
 */
class AdamPool {
  private workers: Worker[];
  /** [0]: workers finished this round; [1]: 1 when a worker failed (message in `error`). */
  private sync = new Int32Array(new SharedArrayBuffer(8));
  private error: string | null = null;

  constructor(n: number) {
    const src =
      `const { parentPort } = require("node:worker_threads");\n` +
      `const adamUpdate = ${adamUpdate.toString()};\n` +
      `parentPort.on("message", ({ jobs, scalars, sync }) => {\n` +
      `  try {\n` +
      `    const [b1, b2, stepSize, invSqrtBc2, eps, gs] = scalars;\n` +
      `    for (const j of jobs) adamUpdate(...j.arrays, j.from, j.to, b1, b2, stepSize, invSqrtBc2, eps, j.wd, gs);\n` +
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

  run(jobs: AdamJob[], scalars: number[]): void {
    const parts = this.workers.length + 1;
    const sync = this.sync;
    Atomics.store(sync, 0, 0);
    Atomics.store(sync, 1, 0);
    const cut = (j: AdamJob, k: number) => Math.floor((j.n * k) / parts);
    this.workers.forEach((w, wi) => {
      const mine = jobs.map((j) => ({ arrays: j.arrays, wd: j.wd, from: cut(j, wi + 1), to: cut(j, wi + 2) }));
      w.postMessage({ jobs: mine, scalars, sync });
    });
    const [b1, b2, stepSize, invSqrtBc2, eps, gs] = scalars as [number, number, number, number, number, number];
    for (const j of jobs) adamUpdate(...j.arrays, 0, cut(j, 1), b1, b2, stepSize, invSqrtBc2, eps, j.wd, gs);
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

// One tensor's update over elements [from, to) as a small top-level loop (V8 optimizes it better than
// inside step()). Self-contained: the worker threads run its source text.
function adamUpdate(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  from: number,
  to: number,
  b1: number,
  b2: number,
  stepSize: number,
  invSqrtBc2: number,
  eps: number,
  wd: number,
  gs: number,
): void {
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  for (let i = from; i < to; i++) {
    const gi = Math.fround(g[i]! * gs);
    const mi = b1 * m[i]! + c1 * gi;
    const vi = b2 * v[i]! + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! * wd - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
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
