// The small offline demo LM: compact vocabulary, training, greater-than evaluation.
export {
  type GreaterThanItem,
  type GreaterThanResult,
  greaterThanDataset,
  greaterThanEval,
  type PromptResult,
  probabilityDifference,
  promptEval,
  warPromptEval,
} from "./eval.ts";
export { AdamW, type AdamWConfig, clipGradients, crossEntropy, learningRate } from "./optim.ts";
export { demoVocab, LmOptions, type TrainLmOptions, type TrainLmResult, trainLm } from "./train.ts";
export { maskWordsWithUnk } from "./unk.ts";
export { CompactVocab, demoCompactVocab, twoDigitTokenIds } from "./vocab.ts";
