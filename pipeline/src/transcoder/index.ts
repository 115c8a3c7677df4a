// Cross-layer transcoder (CLT): training, evaluation, circuit-tracer files, and the inference API
// used by attribution.
//
//   const clt = CLT.load(dir);                 // native run dir or circuit-tracer dir
//   clt.shape                                  // { nLayers, dModel, nFeatures }
//   clt.weights                                // folded Float32Arrays: wEnc[ℓ] [F,d], bEnc[ℓ], threshold[ℓ],
//                                              //   wDec[ℓ] [F, L−ℓ, d], bDec[j] [d] (raw model units)
//   const { pre, acts } = clt.encode(ℓ, x)     // x = blocks.ℓ.hook_resid_mid [..., d] → [..., F]
//   clt.decoder(ℓ)                             // { outputLayers: [ℓ..L−1], weights, tensor [F, L−ℓ, d] }
//   clt.decoderTo(ℓ, j)                        // [F, d] decoder vectors ℓ → j
//   clt.reconstruct(actsPerLayer)              // ŷ[j] = Σ_{ℓ≤j} acts[ℓ]·W_dec[ℓ→j] + b_dec[j]
//   clt.modelDir                               // model the CLT was trained on (run dirs)
//
// Feature ids follow ARCHITECTURE.md: featureIndex within its layer, featureId "{layer}_{index}".
export { ActivationBuffer, type ActivationSource } from "./buffer.ts";
export { CLT, type CltTensors } from "./clt.ts";
export { type CltTrainConfig, CltTrainConfigSchema, parseTrainConfig, readConfigFile } from "./config.ts";
export {
  type EvalDetails,
  type EvalOptions,
  type EvalResult,
  evalClt,
  ReconstructionMetrics,
  ReplacementMetrics,
} from "./eval.ts";
export { FusedStep } from "./fused.ts";
export { HarvestSource, harvestBatch, inputHook, outputHook } from "./harvest.ts";
export {
  exportCircuitTracer,
  FEATURE_INPUT_HOOK,
  FEATURE_OUTPUT_HOOK,
  importCircuitTracer,
  loadWeights,
  type RunConfig,
  readRunConfig,
  saveWeights,
  WEIGHTS_FILE,
  writeRunDir,
} from "./io.ts";
export { jumpRelu, jumpReluActive, jumpReluMask, jumpReluRows, jumpStep } from "./jumprelu.ts";
export { cltLossTf, TfStep } from "./loss.ts";
export { type CltParams, type CltShape, type CltWeights, foldParams, type Normalization } from "./params.ts";
export {
  jumpReluActivations,
  preActivations,
  type ReplacementHookOptions,
  reconstructLayer,
  replacementHooks,
} from "./replacement.ts";
export type { LossCoefs, StepStats, TrainStep } from "./step.ts";
export { SyntheticSource } from "./synthetic.ts";
export {
  CHECKPOINT_DIR,
  checkpointTrainConfig,
  METRICS_FILE,
  type MetricsLine,
  type TrainCltOptions,
  type TrainCltResult,
  trainClt,
} from "./train.ts";
