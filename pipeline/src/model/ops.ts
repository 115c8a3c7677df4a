// The transformer's elementwise ops. On the "blas" backend each is one fused kernel (with its own
// gradient, see src/backend/fused.ts); elsewhere the same math as plain tfjs ops.
import * as tf from "@tensorflow/tfjs";
import { ATTN_MIX, ATTN_SCORES, CAUSAL_SOFTMAX, GELU_NEW, LN_AFFINE, LN_STATS } from "../backend/index.ts";

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

/** LayerNorm statistics over the last dim: [x − mean(x), σ = sqrt(var(x) + eps)] with σ [..., 1]. */
export function lnStats<T extends tf.Tensor>(x: T, eps: number): [T, T] {
  if (fused(LN_STATS)) return tf.engine().runKernel(LN_STATS, { x }, { eps }) as unknown as [T, T];
  const xc = x.sub(x.mean(-1, true)) as T;
  return [xc, xc.square().mean(-1, true).add(eps).sqrt() as T];
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

/** Per-head q, k or v [B, H, T, dh] out of the fused projections qkv [B, T, 3d] (part 0, 1, 2). */
function heads(qkv: tf.Tensor3D, nHeads: number, part: 0 | 1 | 2): tf.Tensor4D {
  const [B, T, d3] = qkv.shape;
  const d = d3 / 3;
  return qkv
    .slice([0, 0, part * d], [B, T, d])
    .reshape([B, T, nHeads, d / nHeads])
    .transpose([0, 2, 1, 3]);
}

/** Attention scores q·kᵀ per head, [B, H, T, T], from qkv [B, T, 3d] = q | k | v. */
export function attnScores(qkv: tf.Tensor3D, nHeads: number): tf.Tensor4D {
  if (fused(ATTN_SCORES)) return run(ATTN_SCORES, { qkv }, { nHeads });
  return tf.matMul(heads(qkv, nHeads, 0), heads(qkv, nHeads, 1), false, true);
}

/** Heads' pattern·v concatenated, [B, T, d], from pattern [B, H, T, T] and qkv [B, T, 3d]. */
export function attnMix(pattern: tf.Tensor4D, qkv: tf.Tensor3D): tf.Tensor3D {
  if (fused(ATTN_MIX)) return run(ATTN_MIX, { pattern, qkv });
  const [B, T, d3] = qkv.shape;
  const z = tf.matMul(pattern, heads(qkv, pattern.shape[1], 2)); // [B, H, T, dh]
  return z.transpose([0, 2, 1, 3]).reshape([B, T, d3 / 3]);
}
