// JumpReLU with the straight-through pseudo-gradients of Rajamanoharan et al. (as circuit-tracer):
//   forward     a = z·H(z − θ)            (strict: z = θ is inactive)
//   ∂a/∂z       = H(z − θ)                (no straight-through term on z)
//   ∂a/∂θ       = −(θ/ε)·rect((z − θ)/ε)  rect(u) = 1 if |u| < ½ else 0
// and the step function s = H(z − θ) with ∂s/∂z = 0, ∂s/∂θ = −(1/ε)·rect((z − θ)/ε) (for L0-type
// penalties). θ is broadcast against z along the leading axes; its gradient is summed over them.
// When θ = exp(logθ) the chain rule (×θ) comes from tf.exp's own gradient.
//
// The forward rule lives here once and every path uses it (training, evaluation, attribution,
// interventions, the study): as circuit-tracer's `x * (x > threshold)`, a feature is active iff
// z > θ and then a = z. There is no extra z > 0 clause, so an imported CLT with θ ≤ 0 (possible in
// circuit-tracer files; our own training keeps θ = exp(logθ) > 0) is the same model everywhere.
import * as tf from "@tensorflow/tfjs";

/** The JumpReLU rule on one pre-activation: active iff z > θ (strict). */
export function jumpReluActive(z: number, theta: number): boolean {
  return z > theta;
}

/**
 * In place: rows of F pre-activations (`pre` [rows, F]) → JumpReLU activations with per-feature
 * thresholds θ [F]; inactive entries become 0.
 */
export function jumpReluRows(pre: Float32Array, theta: Float32Array, rows: number): Float32Array {
  const F = theta.length;
  if (pre.length < rows * F) throw new Error(`jumpReluRows: ${pre.length} values for ${rows}×${F}`);
  for (let r = 0; r < rows; r++) {
    const o = r * F;
    for (let i = 0; i < F; i++) if (!jumpReluActive(pre[o + i]!, theta[i]!)) pre[o + i] = 0;
  }
  return pre;
}

/** The same rule on tensors: H(z − θ) as float32 (θ broadcast against z). */
export function jumpReluMask(z: tf.Tensor, theta: tf.Tensor): tf.Tensor {
  return tf.cast(tf.greater(z, theta), "float32");
}

function sumToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  const lead = g.rank - shape.length;
  let out =
    lead > 0
      ? tf.sum(
          g,
          Array.from({ length: lead }, (_, i) => i),
        )
      : g;
  const axes: number[] = [];
  shape.forEach((s, i) => {
    if (s === 1 && out.shape[i] !== 1) axes.push(i);
  });
  if (axes.length > 0) out = tf.sum(out, axes, true);
  return out;
}

function window(z: tf.Tensor, theta: tf.Tensor, bandwidth: number): tf.Tensor {
  return tf.cast(tf.less(tf.abs(tf.sub(z, theta)), bandwidth / 2), "float32");
}

/** JumpReLU_θ(z) with the pseudo-gradient above; `bandwidth` is ε. */
export function jumpRelu(z: tf.Tensor, theta: tf.Tensor, bandwidth: number): tf.Tensor {
  if (!(bandwidth > 0)) throw new Error(`JumpReLU bandwidth must be > 0, got ${bandwidth}`);
  const f = tf.customGrad((zIn, thIn, save) => {
    const zz = zIn as tf.Tensor;
    const th = thIn as tf.Tensor;
    const mask = jumpReluMask(zz, th);
    (save as tf.GradSaveFunc)([zz, th, mask]);
    return {
      value: tf.mul(zz, mask),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zs, ts, m] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const gz = tf.mul(dy, m);
        const gth = tf.mul(tf.mul(window(zs, ts, bandwidth), tf.div(ts, -bandwidth)), dy);
        return [gz, sumToShape(gth, ts.shape)];
      },
    };
  });
  return f(z, theta);
}

/** Step function H(z − θ) with ∂/∂z = 0 and ∂/∂θ = −(1/ε)·rect((z − θ)/ε). */
export function jumpStep(z: tf.Tensor, theta: tf.Tensor, bandwidth: number): tf.Tensor {
  if (!(bandwidth > 0)) throw new Error(`JumpReLU bandwidth must be > 0, got ${bandwidth}`);
  const f = tf.customGrad((zIn, thIn, save) => {
    const zz = zIn as tf.Tensor;
    const th = thIn as tf.Tensor;
    (save as tf.GradSaveFunc)([zz, th]);
    return {
      value: jumpReluMask(zz, th),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [zs, ts] = saved as [tf.Tensor, tf.Tensor];
        const gth = tf.mul(tf.mul(window(zs, ts, bandwidth), -1 / bandwidth), dy);
        return [tf.zerosLike(zs), sumToShape(gth, ts.shape)];
      },
    };
  });
  return f(z, theta);
}
