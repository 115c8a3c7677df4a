// Kernel overrides for the "blas" tfjs backend: a MathBackendCPU whose kernels are the stock cpu
// ones, except matrix products (nblas sgemm) and the ops whose stock cpu versions take slow
// per-element index paths (broadcasting binaries, softmax, transpose, reductions, gather, segment
// sums). Anything not handled falls back to the stock kernel.

import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs";
import { batchMatMul, type Sgemm } from "./blas.ts";
import { fastExp } from "./fastmath.ts";
import { BinOp, binary, reduceSum, sizeOf, transpose } from "./nd.ts";

/** The parts of tfjs' MathBackendCPU these kernels use. */
export interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: string, values: unknown): TensorInfo;
}

export type Args = Parameters<KernelFunc>[0];

export function f32(backend: CpuBackend, t: TensorInfo | undefined): Float32Array | null {
  if (t?.dtype !== "float32") return null;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : null;
}

export function out(backend: CpuBackend, shape: number[], values: Float32Array, dtype = "float32"): TensorInfo {
  return backend.makeTensorInfo(shape, dtype, values);
}

type Override = (args: Args, stock: KernelFunc) => TensorInfo | TensorInfo[];

function matMulKernel(sgemm: Sgemm): Override {
  return (args, stock) => {
    const backend = args.backend as unknown as CpuBackend;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv) return stock(args);
    const r = batchMatMul(sgemm, av, a.shape, bv, b.shape, transposeA, transposeB);
    return out(backend, r.shape, r.values);
  };
}

const SIMPLE_ACTIVATIONS = new Set(["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu", "prelu"]);

function fusedMatMulKernel(sgemm: Sgemm): Override {
  return (args, stock) => {
    const backend = args.backend as unknown as CpuBackend;
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as {
      transposeA: boolean;
      transposeB: boolean;
      activation?: string;
      leakyreluAlpha?: number;
    };
    const act = activation ?? "linear";
    const av = f32(backend, a);
    const bv = f32(backend, b);
    const biasV = bias ? f32(backend, bias) : null;
    const alphaV = preluActivationWeights ? f32(backend, preluActivationWeights) : null;
    if (!av || !bv || (bias && !biasV) || !SIMPLE_ACTIVATIONS.has(act) || (act === "prelu" && !alphaV)) {
      return stock(args);
    }
    const n = transposeB ? b!.shape[b!.shape.length - 2]! : b!.shape[b!.shape.length - 1]!;
    const rowBias =
      bias && biasV && biasV.length === n && bias.shape.length <= Math.max(a!.shape.length, b!.shape.length)
        ? sizeOf(bias.shape.slice(0, -1)) === 1
        : false;
    const mm = batchMatMul(sgemm, av, a!.shape, bv, b!.shape, transposeA, transposeB, rowBias ? biasV! : undefined);
    let values = mm.values;
    let shape = mm.shape;
    if (bias && biasV && !rowBias) ({ values, shape } = binary(BinOp.Add, values, shape, biasV, bias.shape));
    const v = values;
    switch (act) {
      case "relu":
        for (let i = 0; i < v.length; i++) if (v[i]! < 0) v[i] = 0;
        break;
      case "relu6":
        for (let i = 0; i < v.length; i++) v[i] = Math.min(Math.max(0, v[i]!), 6);
        break;
      case "elu":
        for (let i = 0; i < v.length; i++) if (!(v[i]! >= 0)) v[i] = Math.exp(v[i]!) - 1;
        break;
      case "sigmoid":
        for (let i = 0; i < v.length; i++) v[i] = 1 / (1 + Math.exp(-v[i]!));
        break;
      case "leakyrelu": {
        const alpha = leakyreluAlpha ?? 0.2;
        for (let i = 0; i < v.length; i++) if (v[i]! < 0) v[i] = alpha * v[i]!;
        break;
      }
      case "prelu":
        ({ values, shape } = binary(BinOp.Prelu, values, shape, alphaV!, preluActivationWeights!.shape));
        break;
    }
    return out(backend, shape, values);
  };
}

function binaryKernel(op: BinOp): Override {
  return (args, stock) => {
    const backend = args.backend as unknown as CpuBackend;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv) return stock(args);
    const r = binary(op, av, a.shape, bv, b.shape);
    return out(backend, r.shape, r.values);
  };
}

const softmaxKernel: Override = (args, stock) => {
  const backend = args.backend as unknown as CpuBackend;
  const { logits } = args.inputs as { logits: TensorInfo };
  const { dim } = args.attrs as { dim: number };
  const x = f32(backend, logits);
  const rank = logits.shape.length;
  if (!x || !(dim === -1 || dim === rank - 1) || rank === 0) return stock(args);
  const n = logits.shape[rank - 1]!;
  const y = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += n) {
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < n; j++) if (x[o + j]! > max) max = x[o + j]!;
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const e = fastExp(x[o + j]! - max);
      y[o + j] = e;
      sum += e;
    }
    for (let j = 0; j < n; j++) y[o + j]! /= sum;
  }
  return out(backend, logits.shape.slice(), y);
};

const transposeKernel: Override = (args, stock) => {
  const backend = args.backend as unknown as CpuBackend;
  const { x } = args.inputs as { x: TensorInfo };
  const { perm } = args.attrs as { perm: number[] };
  const v = backend.data.get(x.dataId).values;
  if (!(v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array) || x.dtype === "string") {
    return stock(args);
  }
  const y = transpose(v, x.shape, perm);
  return backend.makeTensorInfo(
    perm.map((p) => x.shape[p]!),
    x.dtype,
    y,
  );
};

function reduceKernel(mean: boolean): Override {
  return (args, stock) => {
    const backend = args.backend as unknown as CpuBackend;
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const v = f32(backend, x);
    if (!v) return stock(args);
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const y = reduceSum(v, x.shape, axes, mean);
    const shape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    return out(backend, shape, y);
  };
}

const gatherKernel: Override = (args, stock) => {
  const backend = args.backend as unknown as CpuBackend;
  const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  const xv = backend.data.get(x.dataId).values;
  const iv = backend.data.get(indices.dataId).values;
  if (
    (batchDims ?? 0) !== 0 ||
    !(xv instanceof Float32Array || xv instanceof Int32Array) ||
    !(iv instanceof Int32Array || iv instanceof Float32Array)
  ) {
    return stock(args);
  }
  const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
  const outer = sizeOf(x.shape.slice(0, ax));
  const dim = x.shape[ax]!;
  const inner = sizeOf(x.shape.slice(ax + 1));
  const nIdx = iv.length;
  const y = new (xv.constructor as new (n: number) => Float32Array | Int32Array)(outer * nIdx * inner);
  for (let i = 0; i < nIdx; i++) {
    const id = iv[i]!;
    if (!(id >= 0 && id < dim && Number.isInteger(id))) {
      throw new Error(`GatherV2: the index value ${id} is not in [0, ${dim - 1}]`);
    }
  }
  for (let o = 0; o < outer; o++) {
    const src = o * dim * inner;
    const dst = o * nIdx * inner;
    for (let i = 0; i < nIdx; i++) {
      const s = src + iv[i]! * inner;
      y.set(xv.subarray(s, s + inner), dst + i * inner);
    }
  }
  const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  return backend.makeTensorInfo(shape, x.dtype, y);
};

const segmentSumKernel: Override = (args, stock) => {
  const backend = args.backend as unknown as CpuBackend;
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = args.attrs as { numSegments: number };
  const xv = f32(backend, x);
  const sv = backend.data.get(segmentIds.dataId).values;
  if (!xv || !(sv instanceof Int32Array || sv instanceof Float32Array)) return stock(args);
  const segRank = segmentIds.shape.length;
  const inner = sizeOf(x.shape.slice(segRank));
  const y = new Float32Array(numSegments * inner);
  for (let s = 0; s < sv.length; s++) {
    const id = sv[s]!;
    if (!(id >= 0 && id < numSegments)) continue; // TF semantics: out-of-range ids are dropped
    const src = s * inner;
    const dst = id * inner;
    for (let j = 0; j < inner; j++) y[dst + j]! += xv[src + j]!;
  }
  return out(backend, [numSegments, ...x.shape.slice(segRank)], y);
};

/** Kernel overrides by kernel name; `sgemm` null → only the non-BLAS fast paths. */
export function overrides(sgemm: Sgemm | null): Record<string, Override> {
  const o: Record<string, Override> = {
    Add: binaryKernel(BinOp.Add),
    Sub: binaryKernel(BinOp.Sub),
    Multiply: binaryKernel(BinOp.Mul),
    RealDiv: binaryKernel(BinOp.Div),
    Softmax: softmaxKernel,
    Transpose: transposeKernel,
    Sum: reduceKernel(false),
    Mean: reduceKernel(true),
    GatherV2: gatherKernel,
    UnsortedSegmentSum: segmentSumKernel,
  };
  if (sgemm) {
    o.BatchMatMul = matMulKernel(sgemm);
    o._FusedMatMul = fusedMatMulKernel(sgemm);
  }
  return o;
}

/** Copy every kernel of `from` to `to`, replacing those in `override` (they get the stock one as fallback). */
export function cloneKernels(from: string, to: string, override: Record<string, Override>): void {
  for (const k of tf.getKernelsForBackend(from)) {
    const o = override[k.kernelName];
    const cfg: KernelConfig = o
      ? { ...k, backendName: to, kernelFunc: ((args: Args) => o(args, k.kernelFunc)) as KernelFunc }
      : { ...k, backendName: to };
    tf.registerKernel(cfg);
  }
}
