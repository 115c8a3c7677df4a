// Local replacement model, attribution edges and interventions.
export {
  type AdditivityReport,
  type AttributeOptions,
  type AttributionResult,
  attribute,
  type CustomTarget,
  logitTarget,
} from "./attribute.ts";
export {
  type CltLike,
  checkClt,
  decoderRow,
  encoderRow,
  jumpReluActivations,
  preActivations,
} from "./clt.ts";
export { type ActiveFeature, buildContext, type PromptContext } from "./context.ts";
export { buildSourceLayout, computeRows, type SourceLayout, type Target } from "./engine.ts";
export { constantMlpOut, frozenRun, replacementMlpOut } from "./frozen.ts";
export {
  type FeatureIntervention,
  featureActivations,
  type InterveneOptions,
  type InterventionResult,
  intervene,
} from "./intervene.ts";
export { type LoadedClt, loadCltDir, loadCltRun } from "./load.ts";
export { featureLogitEffects, type LogitEffects } from "./logit-effects.ts";
export { predictedEffects, ranks, spearman, type ValidationReport, validateAttribution } from "./validate.ts";
