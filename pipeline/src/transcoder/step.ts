// What a CLT training step computes, shared by the two engines (the fused BLAS step, fused.ts, and
// the tfjs reference, loss.ts): the loss coefficients, the per-step statistics and the interface.
import type { CltParams } from "./params.ts";

export interface LossCoefs {
  lambda: number;
  c: number;
  lambdaPre: number;
  bandwidth: number;
}

export interface StepStats {
  loss: number;
  mse: number;
  sparsity: number;
  preAct: number;
  /** Σ_t ‖ŷ_tj − y_tj‖² per layer (normalized units). */
  sse: Float64Array;
  /** Σ_t ‖y_tj − ȳ_j‖² per layer with the batch mean (normalized units). */
  sst: Float64Array;
  /** Active features summed over the batch, per layer. */
  active: Float64Array;
  /** Per-layer firing counts per feature over the batch. */
  fired: Uint32Array[];
  /**
   * Global L2 norm of the gradients the run wrote (float64 sum; what clipping uses), NaN after a
   * forward-only run. The engines accumulate it while writing each tensor: no extra pass.
   */
  gradNorm: number;
}

/** Zeroed stats for L layers of F features (the engines reuse one object across steps). */
export function newStepStats(L: number, F: number): StepStats {
  return {
    loss: 0,
    mse: 0,
    sparsity: 0,
    preAct: 0,
    sse: new Float64Array(L),
    sst: new Float64Array(L),
    active: new Float64Array(L),
    fired: Array.from({ length: L }, () => new Uint32Array(F)),
    gradNorm: Number.NaN,
  };
}

/** One training step on a batch: x, y [B, L·d] in normalized units; gradients into `grads` (or none). */
export interface TrainStep {
  readonly stats: StepStats;
  run(p: CltParams, x: Float32Array, y: Float32Array, k: LossCoefs, grads: CltParams | null): StepStats;
}
