// Fused kernels for the transformer's elementwise parts, registered on the "blas" backend. Each
// replaces several full passes of stock ops (the cpu backend spends more time on those than on the
// BLAS matmuls). src/model/ops.ts picks them when registered and falls back to composite ops.

import type { KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { fastExp } from "./fastmath.ts";
import { type Args, type CpuBackend, f32, out } from "./kernels.ts";

export const GELU_NEW = "AtlasGeluNew";
export const GELU_NEW_GRAD = "AtlasGeluNewGrad";
export const CENTER = "AtlasCenter";
export const RMS = "AtlasRms";
export const LN_AFFINE = "AtlasLNAffine";
export const CAUSAL_SOFTMAX = "AtlasCausalSoftmax";

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

/** x − mean(x) over the last dim. */
function center(args: Args): TensorInfo {
  const { backend, info, v } = inputs(args, ["x"]);
  const x = v[0]!;
  const n = lastDim(info[0]!);
  const y = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += n) {
    let s = 0;
    for (let j = 0; j < n; j++) s += x[o + j]!;
    const m = s / n;
    for (let j = 0; j < n; j++) y[o + j] = x[o + j]! - m;
  }
  return out(backend, info[0]!.shape.slice(), y);
}

/** sqrt(mean(x²) + eps) over the last dim, kept as a size-1 dim. */
function rms(args: Args): TensorInfo {
  const { backend, info, v } = inputs(args, ["x"]);
  const { eps } = args.attrs as { eps: number };
  const x = v[0]!;
  const n = lastDim(info[0]!);
  const rows = n === 0 ? 0 : x.length / n;
  const y = new Float32Array(rows);
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    let s = 0;
    for (let j = 0; j < n; j++) s += x[o + j]! * x[o + j]!;
    y[r] = Math.sqrt(s / n + eps);
  }
  return out(backend, [...info[0]!.shape.slice(0, -1), 1], y);
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

function register(kernelName: string, backendName: string, kernelFunc: (args: Args) => TensorInfo): void {
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
  // Centering is a symmetric projection: its adjoint is itself.
  tf.registerGradient({
    kernelName: CENTER,
    gradFunc: (dy) => ({ x: () => run(CENTER, { x: dy as tf.Tensor }) }),
  });
  // σ = sqrt(mean(x²) + eps)  ⇒  ∂σ/∂x = x / (n·σ)
  tf.registerGradient({
    kernelName: RMS,
    inputsToSave: ["x"],
    outputsToSave: [true],
    gradFunc: (dy, [x, y]) => ({
      x: () => tf.mul(x!, tf.div(dy as tf.Tensor, tf.mul(y!, x!.shape[x!.shape.length - 1]!))),
    }),
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
}

/** Register the fused kernels for a MathBackendCPU-like backend, and (once) their gradients. */
export function registerFused(backendName: string): void {
  register(GELU_NEW, backendName, gelu);
  register(GELU_NEW_GRAD, backendName, geluGrad);
  register(CENTER, backendName, center);
  register(RMS, backendName, rms);
  register(LN_AFFINE, backendName, lnAffine);
  register(CAUSAL_SOFTMAX, backendName, causalSoftmax);
  registerGradients();
}
