// Feature statistics for dashboards: one streaming pass over held-out text → per-feature density,
// histogram, top-k / quantile / negative examples and logit effects (see formats.ts for the files).
//
//   await computeFeatureStats({ clt, model, corpus, corpusPath, runDir, transcoderId, modelDir, tokens });
//   for await (const s of readFeatureStats(runDir)) …
export * from "./formats.ts";
export { bytesPerFeature } from "./state.ts";
export {
  computeFeatureStats,
  DEFAULT_STATS_PARAMS,
  type FeatureStatsOptions,
  type FeatureStatsResult,
  logitEffects,
} from "./stats.ts";
