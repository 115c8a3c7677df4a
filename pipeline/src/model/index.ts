// GPT-2 model: the tfjs forward with hook points, and HF checkpoint folders.
export {
  GPT2,
  type GPT2Config,
  type GPT2Weights,
  globToRegExp,
  type HookFn,
  type NameFilter,
  parameterShapes,
  type RunOptions,
  type RunResult,
  validateConfig,
} from "./gpt2.ts";
export { canonicalRepoId, hubCacheDir, type PulledModel, type PullOptions, pullModel } from "./hub.ts";
export {
  GPT2_VOCAB,
  loadModel,
  type ModelId,
  modelId,
  parseHfConfig,
  parseVocabMap,
  type SaveOptions,
  saveModel,
  toHfConfig,
  VOCAB_MAP_FILE,
} from "./load.ts";
export { attnMix, attnScores, causalSoftmax, geluNew, lnStats, normalize } from "./ops.ts";
