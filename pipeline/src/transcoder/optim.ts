// Adam(W) on Float32Array parameter lists (fp32 moments), global-norm clipping and the LR/λ schedules.
import type { CltTrainConfig } from "./config.ts";

export class Adam {
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  t = 0;

  constructor(
    sizes: number[],
    readonly beta1: number,
    readonly beta2: number,
    readonly eps: number,
    readonly weightDecay: number,
  ) {
    this.m = sizes.map((n) => new Float32Array(n));
    this.v = sizes.map((n) => new Float32Array(n));
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
    for (let k = 0; k < params.length; k++) {
      const wd = decay[k] ? 1 - lr * this.weightDecay : 1;
      adamUpdate(params[k]!, grads[k]!, this.m[k]!, this.v[k]!, b1, b2, stepSize, invSqrtBc2, this.eps, wd, gradScale);
    }
  }
}

// One tensor's update as a small top-level loop (V8 optimizes it better than inside step()).
function adamUpdate(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
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
  for (let i = 0; i < p.length; i++) {
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
