// Corpora → documents → fixed-length token contexts, plus the generated demo corpus.

// The shared seeded generator, re-exported for token-level shuffling beside ShuffleBuffer.
export { Rng, type RngState } from "@circuit-atlas/util";
export {
  type ContextOptions,
  ContextStream,
  type ContextStreamState,
  contexts,
  corpusFingerprint,
  ShuffleBuffer,
} from "./contexts.ts";
export { sha256Files } from "./hash.ts";
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
