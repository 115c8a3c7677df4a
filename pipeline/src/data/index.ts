// Corpora → documents → fixed-length token contexts, plus the generated demo corpus.
export {
  type ContextOptions,
  ContextStream,
  type ContextStreamState,
  contexts,
  corpusFingerprint,
  ShuffleBuffer,
} from "./contexts.ts";
export { sha256Files } from "./hash.ts";
export { Rng, type RngState } from "./rng.ts";
export {
  type Corpus,
  type CorpusDocument,
  type CorpusFile,
  type CorpusFormat,
  type CorpusId,
  type CorpusOptions,
  corpusId,
  type DocPosition,
  detectFormat,
  openCorpus,
  type TextSplit,
} from "./sources.ts";
