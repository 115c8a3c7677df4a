// `atlas build`: raw text → trained CLT → graphs, study, dashboards, labels → Neo4j, one command.
export { BuildConfig, buildConfigJsonSchema, DEFAULT_PROMPTS, loadBuildConfig } from "./config.ts";
export { estimateStages, formatEstimate, type ModelShape, type StageEstimate } from "./estimate.ts";
export { graphSlug, type PlanContext, planStages, runPaths, STAGE_NAMES, type Stage, type StageName } from "./plan.ts";
export { planActions, runBuild, type StageAction, type StageReport } from "./run.ts";
export { type BuildSummary, buildSummary, formatSummary } from "./summary.ts";
