// Autointerp: labels for CLT features with scores and provenance.
//
//   await labelFeatures({ runDir, mode: "heuristic" });                       // offline, deterministic
//   await labelFeatures({ runDir, mode: "llm", llm: { model: "gpt-4o-mini" } }); // OPENAI_BASE_URL / OPENAI_API_KEY
//   heuristicLabel(stats, studyFeature?)                                      // one feature, no I/O
//   balancedAccuracy({ truePositives, falseNegatives, trueNegatives, falsePositives })
//   await exportNeuronpedia(runDir, out, { modelId }) / importNeuronpedia(runDir, file)
export { LlmClient, LlmError, type LlmOptions, type Usage } from "./client.ts";
export { DEFAULT_SPLIT, type ExampleSplit, fuzzingItems, splitExamples } from "./examples.ts";
export {
  HEURISTIC_VERSION,
  type HeuristicLabel,
  heuristicLabel,
  type StudyFeatureInput,
  StudyFeatureInputSchema,
} from "./heuristic.ts";
export { ANSWERS_JSON_SCHEMA, EXPLANATION_JSON_SCHEMA, explain, explainerMessages, score } from "./llm.ts";
export { exportNeuronpedia, importNeuronpedia, toNeuronpedia } from "./neuronpedia.ts";
export { PROMPT_VERSIONS } from "./prompts.ts";
export { type LabelRunOptions, type LabelRunSummary, labelFeatures } from "./run.ts";
export {
  type BalancedAccuracy,
  type BinaryCounts,
  balancedAccuracy,
  countJudgements,
  labelScore,
  Z95,
} from "./scoring.ts";
