// Optimisation pieces for the demo LM, in plain typed-array code so that every bit of state is
// exact, serialisable and deterministic: a fused softmax cross-entropy with a hand-written gradient,
// AdamW (decoupled weight decay), global-norm gradient clipping and a warmup + cosine LR schedule.
import * as tf from "@tensorflow/tfjs";

/**
 * Mean next-token cross-entropy of `logits` [N, V] against `targets` (N model ids). One exp pass in
 * the forward; the backward reuses the softmax: dL/dlogits = (softmax − onehot) / N.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const [N, V] = logits.shape;
  if (targets.length !== N) throw new Error(`crossEntropy: ${targets.length} targets for ${N} rows`);
  const f = tf.customGrad((...inputs: unknown[]) => {
    const z = (inputs[0] as tf.Tensor).dataSync() as Float32Array;
    const probs = new Float32Array(N * V);
    let total = 0;
    for (let i = 0; i < N; i++) {
      const o = i * V;
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < V; j++) if ((z[o + j] as number) > max) max = z[o + j] as number;
      let sum = 0;
      for (let j = 0; j < V; j++) {
        const e = Math.exp((z[o + j] as number) - max);
        probs[o + j] = e;
        sum += e;
      }
      const t = targets[i] as number;
      if (!(t >= 0 && t < V)) throw new Error(`crossEntropy: target ${t} outside [0, ${V})`);
      total += Math.log(sum) + max - (z[o + t] as number);
      const inv = 1 / sum;
      for (let j = 0; j < V; j++) probs[o + j] = (probs[o + j] as number) * inv;
    }
    return {
      value: tf.scalar(total / N),
      gradFunc: (dy: tf.Scalar) => {
        const scale = (dy.dataSync()[0] as number) / N;
        const g = new Float32Array(N * V);
        for (let k = 0; k < N * V; k++) g[k] = (probs[k] as number) * scale;
        for (let i = 0; i < N; i++) {
          const k = i * V + (targets[i] as number);
          g[k] = (g[k] as number) - scale;
        }
        return tf.tensor2d(g, [N, V]);
      },
    };
  });
  return f(logits) as tf.Scalar;
}

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** AdamW over named Float32Array parameters, updated in place. */
export class AdamW {
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  /** Updates applied so far (for bias correction). */
  t = 0;

  constructor(
    readonly config: AdamWConfig,
    /** Which parameters get weight decay. */
    readonly decays: (name: string) => boolean,
  ) {}

  /**
   * Rows (of `rowSize` values) of a parameter that are never updated, e.g. embedding rows of tokens
   * absent from the training data: their gradient comes only from the tied unembedding and Adam
   * would blow it up to full-size steps (see train.ts).
   */
  readonly frozenRows = new Map<string, { rowSize: number; frozen: Uint8Array }>();

  /** One step: p ← p − lr·(m̂/(√v̂ + eps) + wd·p); grads are already clipped. */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.config;
    this.t++;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) throw new Error(`AdamW: no gradient for ${name}`);
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float32Array(p.length);
        v = new Float32Array(p.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const wd = this.decays(name) ? weightDecay : 0;
      const fr = this.frozenRows.get(name);
      for (let i = 0; i < p.length; i++) {
        if (fr?.frozen[Math.floor(i / fr.rowSize)]) continue;
        const gi = g[i] as number;
        const mi = beta1 * (m[i] as number) + (1 - beta1) * gi;
        const vi = beta2 * (v[i] as number) + (1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = (p[i] as number) - lr * (mi / bc1 / (Math.sqrt(vi / bc2) + eps) + wd * (p[i] as number));
      }
    }
  }
}

/** Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm before clipping. */
export function clipGradients(grads: Map<string, Float32Array>, maxNorm: number): number {
  let sq = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += (g[i] as number) ** 2;
  const norm = Math.sqrt(sq);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * s;
  }
  return norm;
}

/** Linear warmup from 0 to `lr` over `warmup` steps, then cosine decay to `lr·minRatio` at `total`. */
export function learningRate(step: number, total: number, lr: number, warmup: number, minRatio: number): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const progress = total > warmup ? Math.min(1, (step - warmup) / (total - warmup)) : 1;
  return lr * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
