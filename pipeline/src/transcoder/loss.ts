// The CLT loss in tfjs ops (autodiff through the tf.customGrad JumpReLU). This is the reference the
// fused step (fused.ts) is tested against, and the "tfjs" training engine.
import * as tf from "@tensorflow/tfjs";
import { jumpRelu } from "./jumprelu.ts";
import { globalNorm } from "./optim.ts";
import { type CltParams, type CltShape, paramList } from "./params.ts";
import { type LossCoefs, newStepStats, type StepStats, type TrainStep } from "./step.ts";

export interface TfParams {
  wEnc: tf.Tensor2D[]; // [d, F]
  bEnc: tf.Tensor1D[];
  logTheta: tf.Tensor1D[];
  wDec: tf.Tensor2D[]; // [F, (L−ℓ)·d]
  bDec: tf.Tensor1D; // [L·d]
}

export interface TfLoss {
  loss: tf.Scalar;
  mse: tf.Scalar;
  sparsity: tf.Scalar;
  preAct: tf.Scalar;
  yhat: tf.Tensor2D;
  acts: tf.Tensor2D[];
}

/** Loss on x, y: [B, L·d] in normalized units; see fused.ts for the formula and reduction. */
export function cltLossTf(shape: CltShape, p: TfParams, x: tf.Tensor2D, y: tf.Tensor2D, k: LossCoefs): TfLoss {
  const { nLayers: L, dModel: d } = shape;
  const B = x.shape[0];
  let sp: tf.Tensor = tf.scalar(0);
  let pre: tf.Tensor = tf.scalar(0);
  let yhat: tf.Tensor = tf.add(tf.zeros([B, L * d]), p.bDec);
  const acts: tf.Tensor2D[] = [];
  for (let l = 0; l < L; l++) {
    const xl = tf.slice(x, [0, l * d], [B, d]);
    const z = tf.add(tf.matMul(xl, p.wEnc[l]!), p.bEnc[l]!);
    const theta = tf.exp(p.logTheta[l]!);
    const a = jumpRelu(z, theta, k.bandwidth) as tf.Tensor2D;
    acts.push(a);
    const n = tf.sqrt(tf.sum(tf.square(p.wDec[l]!), 1));
    sp = tf.add(sp, tf.sum(tf.tanh(tf.mul(tf.mul(n, k.c), a))));
    pre = tf.add(pre, tf.sum(tf.mul(tf.relu(tf.sub(theta, z)), n)));
    const contrib = tf.matMul(a, p.wDec[l]!);
    yhat = tf.add(
      yhat,
      l === 0
        ? contrib
        : tf.pad(contrib, [
            [0, 0],
            [l * d, 0],
          ]),
    );
  }
  const mse = tf.div(tf.sum(tf.square(tf.sub(yhat, y))), B) as tf.Scalar;
  const sparsity = tf.mul(sp, k.lambda / B) as tf.Scalar;
  const preAct = tf.mul(pre, k.lambdaPre / B) as tf.Scalar;
  const loss = tf.add(tf.add(mse, sparsity), preAct) as tf.Scalar;
  return { loss, mse, sparsity, preAct, yhat: yhat as tf.Tensor2D, acts };
}

export function paramsToTf(p: CltParams): TfParams {
  const { nLayers: L, dModel: d, nFeatures: F } = p.shape;
  return {
    wEnc: p.wEnc.map((a) => tf.tensor2d(a, [d, F])),
    bEnc: p.bEnc.map((a) => tf.tensor1d(a)),
    logTheta: p.logTheta.map((a) => tf.tensor1d(a)),
    wDec: p.wDec.map((a, l) => tf.tensor2d(a, [F, (L - l) * d])),
    bDec: tf.tensor1d(p.bDec),
  };
}

/** Same interface as FusedStep, computed with tfjs autodiff (reference engine; slow). */
export class TfStep implements TrainStep {
  readonly stats: StepStats;
  constructor(
    readonly shape: CltShape,
    readonly B: number,
  ) {
    const { nLayers: L, nFeatures: F } = shape;
    this.stats = newStepStats(L, F);
  }

  run(p: CltParams, x: Float32Array, y: Float32Array, k: LossCoefs, grads: CltParams | null): StepStats {
    const { nLayers: L, dModel: d, nFeatures: F } = this.shape;
    const B = this.B;
    const st = this.stats;
    tf.tidy(() => {
      const tp = paramsToTf(p);
      const xt = tf.tensor2d(x, [B, L * d]);
      const yt = tf.tensor2d(y, [B, L * d]);
      const vars: tf.Tensor[] = [];
      for (let l = 0; l < L; l++) vars.push(tp.wEnc[l]!, tp.bEnc[l]!, tp.logTheta[l]!, tp.wDec[l]!);
      vars.push(tp.bDec);
      let out: TfLoss | null = null;
      const f = (...v: tf.Tensor[]) => {
        const q: TfParams = {
          wEnc: [],
          bEnc: [],
          logTheta: [],
          wDec: [],
          bDec: v[4 * L] as tf.Tensor1D,
        };
        for (let l = 0; l < L; l++) {
          q.wEnc.push(v[4 * l] as tf.Tensor2D);
          q.bEnc.push(v[4 * l + 1] as tf.Tensor1D);
          q.logTheta.push(v[4 * l + 2] as tf.Tensor1D);
          q.wDec.push(v[4 * l + 3] as tf.Tensor2D);
        }
        out = cltLossTf(this.shape, q, xt, yt, k);
        return out.loss;
      };
      if (grads) {
        const gs = tf.grads(f)(vars);
        for (let l = 0; l < L; l++) {
          grads.wEnc[l]!.set(gs[4 * l]!.dataSync());
          grads.bEnc[l]!.set(gs[4 * l + 1]!.dataSync());
          grads.logTheta[l]!.set(gs[4 * l + 2]!.dataSync());
          grads.wDec[l]!.set(gs[4 * l + 3]!.dataSync());
        }
        grads.bDec.set(gs[4 * L]!.dataSync());
      }
      st.gradNorm = grads ? globalNorm(paramList(grads).map(([, a]) => a)) : Number.NaN;
      // tf.grads disposes the intermediates, so the stats come from a second, forward-only pass
      f(...vars);
      const o = out as unknown as TfLoss;
      st.loss = o.loss.dataSync()[0]!;
      st.mse = o.mse.dataSync()[0]!;
      st.sparsity = o.sparsity.dataSync()[0]!;
      st.preAct = o.preAct.dataSync()[0]!;
      const yh = o.yhat.dataSync();
      const mean = tf.mean(yt, 0).dataSync();
      st.sse.fill(0);
      st.sst.fill(0);
      for (let t = 0; t < B; t++) {
        for (let q = 0; q < L * d; q++) {
          const j = Math.floor(q / d);
          const e = yh[t * L * d + q]! - y[t * L * d + q]!;
          const c = y[t * L * d + q]! - mean[q]!;
          st.sse[j]! += e * e;
          st.sst[j]! += c * c;
        }
      }
      for (let l = 0; l < L; l++) {
        const a = o.acts[l]!.dataSync();
        const fired = st.fired[l]!;
        fired.fill(0);
        let act = 0;
        for (let q = 0; q < B * F; q++) {
          if (a[q] !== 0) {
            fired[q % F]!++;
            act++;
          }
        }
        st.active[l] = act;
      }
    });
    return st;
  }
}
