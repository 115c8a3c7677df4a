// Fused kernels for the transformer's elementwise parts, registered on the "blas" backend. Each
// replaces several full passes of stock ops (the cpu backend spends more time on those than on the
// BLAS matmuls). src/model/ops.ts picks them when registered and falls back to composite ops.

import type { KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { NO_TRANS, type Sgemm, TRANS } from "./blas.ts";
import { fastExp } from "./fastmath.ts";
import { type Args, type CpuBackend, f32, out } from "./kernels.ts";

export const GELU_NEW = "AtlasGeluNew";
export const GELU_NEW_GRAD = "AtlasGeluNewGrad";
export const LN_STATS = "AtlasLNStats";
export const LN_AFFINE = "AtlasLNAffine";
export const CAUSAL_SOFTMAX = "AtlasCausalSoftmax";
export const ATTN_SCORES = "AtlasAttnScores";
export const ATTN_SCORES_GRAD = "AtlasAttnScoresGrad";
export const ATTN_MIX = "AtlasAttnMix";
export const ATTN_MIX_GRAD = "AtlasAttnMixGrad";

function inputs(args: Args, names: string[]): { backend: CpuBackend; info: TensorInfo[]; v: Float32Array[] } {
  const backend = args.backend as unknown as CpuBackend;
  const info = names.map((n) => (args.inputs as Record<string, TensorInfo>)[n]!);
  const v = info.map((t, i) => {
    const a = f32(backend, t);
    if (!a) throw new Error(`${names[i]}: expected a float32 tensor`);
    return a;
  });
  return { backend, info, v };
}

function lastDim(t: TensorInfo): number {
  return t.shape[t.shape.length - 1] ?? 1;
}

// gelu_new(u) = 0.5·u·(1 + tanh(a)), a = √(2/π)·(u + 0.044715·u³); 0.5·(1 + tanh(a)) = 1/(1 + e^(−2a)).
const GELU_C = Math.sqrt(2 / Math.PI);

function gelu(args: Args): TensorInfo {
  const { backend, info, v } = inputs(args, ["x"]);
  const x = v[0]!;
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const u = x[i]!;
    y[i] = u / (1 + fastExp(-2 * GELU_C * (u + 0.044715 * u * u * u)));
  }
  return out(backend, info[0]!.shape.slice(), y);
}

function geluGrad(args: Args): TensorInfo {
  const { backend, info, v } = inputs(args, ["dy", "x"]);
  const [g, x] = v as [Float32Array, Float32Array];
  const dx = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const u = x[i]!;
    const s = 1 / (1 + fastExp(-2 * GELU_C * (u + 0.044715 * u * u * u)));
    dx[i] = g[i]! * (s + u * s * (1 - s) * 2 * GELU_C * (1 + 3 * 0.044715 * u * u));
  }
  return out(backend, info[1]!.shape.slice(), dx);
}

/** LayerNorm statistics over the last dim: [xc = x − mean(x), σ = sqrt(mean(xc²) + eps)] (σ: [..., 1]). */
function lnStats(args: Args): TensorInfo[] {
  const { backend, info, v } = inputs(args, ["x"]);
  const { eps } = args.attrs as { eps: number };
  const x = v[0]!;
  const n = lastDim(info[0]!);
  const rows = n === 0 ? 0 : x.length / n;
  const xc = new Float32Array(x.length);
  const sigma = new Float32Array(rows);
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    let s = 0;
    for (let j = 0; j < n; j++) s += x[o + j]!;
    const m = s / n;
    let ss = 0;
    for (let j = 0; j < n; j++) {
      const c = x[o + j]! - m;
      xc[o + j] = c;
      ss += c * c;
    }
    sigma[r] = Math.sqrt(ss / n + eps);
  }
  return [out(backend, info[0]!.shape.slice(), xc), out(backend, [...info[0]!.shape.slice(0, -1), 1], sigma)];
}

/** x / scale · gamma + beta, scale [..., 1], gamma/beta [n]. */
function lnAffine(args: Args): TensorInfo {
  const { backend, info, v } = inputs(args, ["x", "scale", "gamma", "beta"]);
  const [x, s, g, b] = v as [Float32Array, Float32Array, Float32Array, Float32Array];
  const n = lastDim(info[0]!);
  if (g.length !== n || b.length !== n || s.length * n !== x.length) {
    throw new Error(`${LN_AFFINE}: shapes x [${info[0]!.shape}], scale [${info[1]!.shape}], gamma [${info[2]!.shape}]`);
  }
  const y = new Float32Array(x.length);
  for (let r = 0, o = 0; r < s.length; r++, o += n) {
    const inv = 1 / s[r]!;
    for (let j = 0; j < n; j++) y[o + j] = x[o + j]! * inv * g[j]! + b[j]!;
  }
  return out(backend, info[0]!.shape.slice(), y);
}

/** softmax over the last dim of scale·x with keys after the query masked out (x [..., T, T]). */
function causalSoftmax(args: Args): TensorInfo {
  const { backend, info, v } = inputs(args, ["x"]);
  const { scale } = args.attrs as { scale: number };
  const x = v[0]!;
  const shape = info[0]!.shape;
  const T = shape[shape.length - 1]!;
  if (shape[shape.length - 2] !== T) throw new Error(`${CAUSAL_SOFTMAX}: expected [..., T, T], got [${shape}]`);
  const y = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += T * T) {
    for (let q = 0; q < T; q++) {
      const row = o + q * T;
      let max = Number.NEGATIVE_INFINITY;
      for (let k = 0; k <= q; k++) max = Math.max(max, scale * x[row + k]!);
      let sum = 0;
      for (let k = 0; k <= q; k++) {
        const e = fastExp(scale * x[row + k]! - max);
        y[row + k] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let k = 0; k <= q; k++) y[row + k]! *= inv;
    }
  }
  return out(backend, shape.slice(), y);
}

// Attention straight from the fused qkv activations [B, T, 3d] (q | k | v, head h = columns h·dh…):
// per (batch, head) sgemm calls address the head's columns through the leading dimension, so no
// transposes or copies of q/k/v are made.
const N = NO_TRANS;
const TR = TRANS;

function attnDims(qkv: TensorInfo, nHeads: number) {
  const [B, T, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3;
  return { B, T, d, dh: d / nHeads, H: nHeads };
}

/** scores[b, h] = q_bh · k_bhᵀ  → [B, H, T, T]. */
function attnScores(sgemm: Sgemm) {
  return (args: Args): TensorInfo => {
    const { backend, info, v } = inputs(args, ["qkv"]);
    const { B, T, d, dh, H } = attnDims(info[0]!, (args.attrs as { nHeads: number }).nHeads);
    const qkv = v[0]!;
    const s = new Float32Array(B * H * T * T);
    for (let b = 0; b < B; b++) {
      const base = b * T * 3 * d;
      for (let h = 0; h < H; h++) {
        const q = qkv.subarray(base + h * dh);
        const k = qkv.subarray(base + d + h * dh);
        sgemm(N, TR, T, T, dh, 1, q, 3 * d, k, 3 * d, 0, s.subarray((b * H + h) * T * T), T);
      }
    }
    return out(backend, [B, H, T, T], s);
  };
}

/** d qkv from d scores: dq = dS·k, dk = dSᵀ·q (v columns 0). */
function attnScoresGrad(sgemm: Sgemm) {
  return (args: Args): TensorInfo => {
    const { backend, info, v } = inputs(args, ["dy", "qkv"]);
    const { B, T, d, dh, H } = attnDims(info[1]!, (args.attrs as { nHeads: number }).nHeads);
    const [dS, qkv] = v as [Float32Array, Float32Array];
    const g = new Float32Array(qkv.length);
    for (let b = 0; b < B; b++) {
      const base = b * T * 3 * d;
      for (let h = 0; h < H; h++) {
        const ds = dS.subarray((b * H + h) * T * T);
        const qo = base + h * dh;
        const ko = base + d + h * dh;
        sgemm(N, N, T, dh, T, 1, ds, T, qkv.subarray(ko), 3 * d, 0, g.subarray(qo), 3 * d);
        sgemm(TR, N, T, dh, T, 1, ds, T, qkv.subarray(qo), 3 * d, 0, g.subarray(ko), 3 * d);
      }
    }
    return out(backend, info[1]!.shape.slice(), g);
  };
}

/** z[b, t, h·dh…] = (pattern_bh · v_bh)[t]  → [B, T, d] (heads concatenated). */
function attnMix(sgemm: Sgemm) {
  return (args: Args): TensorInfo => {
    const { backend, info, v } = inputs(args, ["pattern", "qkv"]);
    const { B, T, d, dh, H } = attnDims(info[1]!, info[0]!.shape[1]!);
    const [p, qkv] = v as [Float32Array, Float32Array];
    const z = new Float32Array(B * T * d);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const vb = qkv.subarray(b * T * 3 * d + 2 * d + h * dh);
        sgemm(N, N, T, dh, T, 1, p.subarray((b * H + h) * T * T), T, vb, 3 * d, 0, z.subarray(b * T * d + h * dh), d);
      }
    }
    return out(backend, [B, T, d], z);
  };
}

/** Gradients of attnMix: d pattern = dz·vᵀ, d v = patternᵀ·dz. Output: [dPattern, dQkv]. */
function attnMixGrad(sgemm: Sgemm) {
  return (args: Args): TensorInfo[] => {
    const { backend, info, v } = inputs(args, ["dy", "pattern", "qkv"]);
    const { B, T, d, dh, H } = attnDims(info[2]!, info[1]!.shape[1]!);
    const [dz, p, qkv] = v as [Float32Array, Float32Array, Float32Array];
    const dp = new Float32Array(p.length);
    const g = new Float32Array(qkv.length);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const vo = b * T * 3 * d + 2 * d + h * dh;
        const dzb = dz.subarray(b * T * d + h * dh);
        const po = (b * H + h) * T * T;
        sgemm(N, TR, T, T, dh, 1, dzb, d, qkv.subarray(vo), 3 * d, 0, dp.subarray(po), T);
        sgemm(TR, N, T, dh, T, 1, p.subarray(po), T, dzb, d, 0, g.subarray(vo), 3 * d);
      }
    }
    return [out(backend, info[1]!.shape.slice(), dp), out(backend, info[2]!.shape.slice(), g)];
  };
}

function register(
  kernelName: string,
  backendName: string,
  kernelFunc: (args: Args) => TensorInfo | TensorInfo[],
): void {
  tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as KernelFunc });
}

let gradientsRegistered = false;

function registerGradients(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  const run = (name: string, ins: Record<string, tf.Tensor>, attrs?: NamedAttrMap) =>
    tf.engine().runKernel(name, ins, attrs) as tf.Tensor;
  tf.registerGradient({
    kernelName: GELU_NEW,
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({ x: () => run(GELU_NEW_GRAD, { dy: dy as tf.Tensor, x: x! }) }),
  });
  // xc = x − mean(x), σ = sqrt(mean(xc²) + eps): dxc gains dσ·xc/(n·σ), then the centering
  // projection (its own adjoint) maps it back to x.
  tf.registerGradient({
    kernelName: LN_STATS,
    outputsToSave: [true, true],
    gradFunc: (dys, [xc, sigma]) => {
      const [dxc, dSigma] = dys as tf.Tensor[];
      return {
        x: () => {
          const n = xc!.shape[xc!.shape.length - 1]!;
          const g = tf.add(dxc!, tf.mul(xc!, tf.div(dSigma!, tf.mul(sigma!, n))));
          return tf.sub(g, tf.mean(g, -1, true));
        },
      };
    },
  });
  // y = x/σ·γ + β
  tf.registerGradient({
    kernelName: LN_AFFINE,
    inputsToSave: ["x", "scale", "gamma", "beta"],
    gradFunc: (dy, [x, scale, gamma]) => {
      const g = dy as tf.Tensor;
      const rowAxes = x!.shape.map((_, i) => i).slice(0, -1);
      return {
        x: () => tf.div(tf.mul(g, gamma!), scale!),
        scale: () => tf.neg(tf.div(tf.sum(tf.mul(tf.mul(g, gamma!), x!), -1, true), tf.square(scale!))),
        gamma: () => tf.sum(tf.mul(g, tf.div(x!, scale!)), rowAxes),
        beta: () => tf.sum(g, rowAxes),
      };
    },
  });
  // y = softmax(scale·x + mask)  ⇒  dx = scale · y ⊙ (dy − Σ dy⊙y)
  tf.registerGradient({
    kernelName: CAUSAL_SOFTMAX,
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const { scale } = attrs as unknown as { scale: number };
      const g = dy as tf.Tensor;
      return { x: () => tf.mul(tf.mul(y!, tf.sub(g, tf.sum(tf.mul(g, y!), -1, true))), scale) };
    },
  });
  // scores = q·kᵀ per head, read from qkv
  tf.registerGradient({
    kernelName: ATTN_SCORES,
    inputsToSave: ["qkv"],
    gradFunc: (dy, [qkv], attrs) => ({
      qkv: () => run(ATTN_SCORES_GRAD, { dy: dy as tf.Tensor, qkv: qkv! }, attrs),
    }),
  });
  // z = pattern·v per head
  tf.registerGradient({
    kernelName: ATTN_MIX,
    inputsToSave: ["pattern", "qkv"],
    gradFunc: (dy, [pattern, qkv]) => {
      // One kernel gives both; run it here (each closure is called inside its own tidy).
      const [dPattern, dQkv] = tf.engine().runKernel(ATTN_MIX_GRAD, {
        dy: dy as tf.Tensor,
        pattern: pattern!,
        qkv: qkv!,
      }) as tf.Tensor[];
      return { pattern: () => dPattern!, qkv: () => dQkv! };
    },
  });
}

/** Register the fused kernels for a MathBackendCPU-like backend, and (once) their gradients. */
export function registerFused(backendName: string, sgemm: Sgemm): void {
  register(GELU_NEW, backendName, gelu);
  register(GELU_NEW_GRAD, backendName, geluGrad);
  register(LN_STATS, backendName, lnStats);
  register(LN_AFFINE, backendName, lnAffine);
  register(CAUSAL_SOFTMAX, backendName, causalSoftmax);
  register(ATTN_SCORES, backendName, attnScores(sgemm));
  register(ATTN_SCORES_GRAD, backendName, attnScoresGrad(sgemm));
  register(ATTN_MIX, backendName, attnMix(sgemm));
  register(ATTN_MIX_GRAD, backendName, attnMixGrad(sgemm));
  registerGradients();
}
