// The transformer's elementwise ops. On the "blas" backend each is one fused kernel (with its own
// gradient, see src/backend/fused.ts); elsewhere the same math as plain tfjs ops.
import * as tf from "@tensorflow/tfjs";
import { CAUSAL_SOFTMAX, CENTER, GELU_NEW, LN_AFFINE, RMS } from "../backend/index.ts";

function fused(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

function run<T extends tf.Tensor>(name: string, inputs: Record<string, tf.Tensor>, attrs?: tf.NamedAttrMap): T {
  return tf.engine().runKernel(name, inputs, attrs) as T;
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** HF gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluNew<T extends tf.Tensor>(x: T): T {
  if (fused(GELU_NEW)) return run(GELU_NEW, { x });
  return x.mul(0.5).mul(tf.tanh(x.add(x.mul(x).mul(x).mul(0.044715)).mul(GELU_C)).add(1));
}

/** x − mean(x) over the last dim. */
export function center<T extends tf.Tensor>(x: T): T {
  if (fused(CENTER)) return run(CENTER, { x });
  return x.sub(x.mean(-1, true));
}

/** sqrt(mean(x²) + eps) over the last dim (kept as size 1): the LayerNorm divisor of centred x. */
export function rms<T extends tf.Tensor>(xc: T, eps: number): T {
  if (fused(RMS)) return run(RMS, { x: xc }, { eps });
  return xc.square().mean(-1, true).add(eps).sqrt() as T;
}

/** xc / scale · gamma + beta. */
export function normalize<T extends tf.Tensor>(xc: T, scale: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): T {
  if (fused(LN_AFFINE)) return run(LN_AFFINE, { x: xc, scale, gamma, beta });
  return xc.div(scale).mul(gamma).add(beta);
}

/** softmax(scale·scores) over keys, with keys after the query masked out; scores [..., T, T]. */
export function causalSoftmax<T extends tf.Tensor>(scores: T, scale: number): T {
  if (fused(CAUSAL_SOFTMAX)) return run(CAUSAL_SOFTMAX, { x: scores }, { scale });
  const n = scores.shape[scores.shape.length - 1]!;
  return tf.tidy(() => {
    // -1e9 above the diagonal: exp underflows to exactly 0, as with HF's dtype-min mask.
    const future = tf.sub(1, tf.linalg.bandPart(tf.ones([n, n]), -1, 0));
    return tf.softmax(scores.mul(scale).add(future.mul(-1e9))) as T;
  });
}
