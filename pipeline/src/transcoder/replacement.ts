// The CLT as a replacement for the model's MLPs, on plain Float32Arrays through BLAS: encoder rows,
// decoder rows, and the one hook set that runs the replacement model (Ameisen et al. 2025): every
// blocks.j.hook_mlp_out replaced by the reconstruction Σ_{ℓ≤j} JumpReLU(resid_mid_ℓ·W_encᵀ + b_enc)·
// W_dec[ℓ→j] + b_dec[j], the features reading the replacement run's own resid_mid. Used by CLT
// evaluation, the greater-than study and interventions (which add the clean error terms and edit
// activations). It lives with the transcoder, below attribution and the study, so every user
// imports downward.

import * as tf from "@tensorflow/tfjs";
import { gemm } from "../backend/index.ts";
import type { HookFn } from "../model/index.ts";
import { jumpReluRows } from "./jumprelu.ts";
import type { CltWeights } from "./params.ts";

/** Pre-activations [rows, F] of layer ℓ for residual rows x [rows, d]: x·W_encᵀ + b_enc. */
export function preActivations(w: CltWeights, layer: number, x: Float32Array, rows: number): Float32Array {
  const { dModel: d, nFeatures: F } = w.shape;
  if (x.length < rows * d) throw new Error(`preActivations: ${x.length} values for ${rows}×${d}`);
  const out = new Float32Array(rows * F);
  for (let t = 0; t < rows; t++) out.set(w.bEnc[layer]!, t * F);
  gemm(false, true, rows, F, d, 1, x, d, w.wEnc[layer]!, d, 1, out, F);
  return out;
}

/** JumpReLU activations [rows, F] of layer ℓ for residual rows x [rows, d]. */
export function jumpReluActivations(w: CltWeights, layer: number, x: Float32Array, rows: number): Float32Array {
  return jumpReluRows(preActivations(w, layer, x, rows), w.threshold[layer]!, rows);
}

/** Reconstruction [rows, d] of output layer j from acts[ℓ] [rows, F], ℓ ≤ j: Σ acts[ℓ]·W_dec[ℓ→j] + b_dec[j]. */
export function reconstructLayer(w: CltWeights, j: number, acts: readonly Float32Array[], rows: number): Float32Array {
  const { nLayers: L, dModel: d, nFeatures: F } = w.shape;
  const out = new Float32Array(rows * d);
  for (let t = 0; t < rows; t++) out.set(w.bDec[j]!, t * d);
  for (let l = 0; l <= j; l++) {
    const a = acts[l];
    if (!a) throw new Error(`reconstructLayer: missing activations of layer ${l}`);
    const ld = (L - l) * d;
    gemm(false, false, rows, d, F, 1, a, F, w.wDec[l]!.subarray((j - l) * d), ld, 1, out, d);
  }
  return out;
}

export interface ReplacementHookOptions {
  /** Batch size and sequence length of the run the hooks are used in. */
  batch: number;
  positions: number;
  /** Position 0 (BOS) keeps the live MLP output, as in the graphs and CLT evaluation (default true). */
  keepBos?: boolean;
  /** Per layer [positions, d], added to every batch row's reconstruction (the clean error terms). */
  error?: readonly Float32Array[];
  /** Edits a layer's activations [batch·positions, F] before they are decoded (interventions). */
  editActivations?: (layer: number, acts: Float32Array) => void;
}

/** Hooks running the replacement model: `blocks.ℓ.hook_resid_mid` → features, `blocks.j.hook_mlp_out` → reconstruction. */
export function replacementHooks(w: CltWeights, o: ReplacementHookOptions): Record<string, HookFn> {
  const { nLayers: L, dModel: d } = w.shape;
  const { batch: B, positions: T } = o;
  const rows = B * T;
  const keepBos = o.keepBos ?? true;
  const acts: Float32Array[] = [];
  const hooks: Record<string, HookFn> = {};
  for (let l = 0; l < L; l++) {
    hooks[`blocks.${l}.hook_resid_mid`] = (v) => {
      const a = jumpReluActivations(w, l, v.dataSync() as Float32Array, rows);
      o.editActivations?.(l, a);
      acts[l] = a;
      return undefined;
    };
    hooks[`blocks.${l}.hook_mlp_out`] = (v) => {
      const out = reconstructLayer(w, l, acts, rows);
      const e = o.error?.[l];
      if (e) for (let b = 0; b < B; b++) for (let k = 0; k < T * d; k++) out[b * T * d + k]! += e[k]!;
      if (keepBos) {
        const live = v.dataSync() as Float32Array;
        for (let b = 0; b < B; b++) out.set(live.subarray(b * T * d, (b * T + 1) * d), b * T * d);
      }
      return tf.tensor3d(out, [B, T, d]);
    };
  }
  return hooks;
}
