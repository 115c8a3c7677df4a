// The atlas's feature files: per-feature statistics (`atlas features`), labels with scores and
// provenance (`atlas label`), and the Neuronpedia explanation export. zod schemas + TS types in one
// module so the db ingest and the API read exactly what the pipeline writes. Imports only zod and
// node builtins (no tfjs), so `@circuit-atlas/pipeline/formats` is cheap to import.
//
// Layout inside a CLT run dir (see pipeline/ARCHITECTURE.md, "Feature files"):
//   features/manifest.json          FeatureStatsManifest (complete: true once every layer file is written)
//   features/layer-{ℓ}.jsonl.gz     one FeatureStats line per feature of layer ℓ, featureIndex ascending
//   labels/labels.jsonl             LabelRecord lines, append-only history (relabeling appends)
//   labels/failures.jsonl           LabelFailure lines (per-feature errors of LLM runs)
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import { z } from "zod";

export const FEATURES_DIR = "features";
export const FEATURE_MANIFEST_FILE = "manifest.json";
export const featureLayerFile = (layer: number): string => `layer-${layer}.jsonl.gz`;
export const LABELS_DIR = "labels";
export const LABELS_FILE = "labels.jsonl";
export const LABEL_FAILURES_FILE = "failures.jsonl";

export const FEATURE_STATS_FORMAT = "circuit-atlas/feature-stats";
export const FEATURE_STATS_VERSION = 1;
export const LABEL_FORMAT_VERSION = 1;

/** `"{layer}_{featureIndex}"`, unique within one transcoder. */
export const featureId = (layer: number, featureIndex: number): string => `${layer}_${featureIndex}`;
/** `"{transcoder}/{layer}_{featureIndex}"`, unique across an atlas. */
export const qualifiedFeatureId = (transcoder: string, layer: number, featureIndex: number): string =>
  `${transcoder}/${featureId(layer, featureIndex)}`;

const FeatureIdString = z.string().regex(/^\d+_\d+$/, 'feature id must look like "{layer}_{featureIndex}"');
const Int = z.number().int();
const NonNegInt = Int.nonnegative();
const IsoTime = z.string().datetime({ offset: true });

// ---------------------------------------------------------------------------------------------
// Feature statistics
// ---------------------------------------------------------------------------------------------

/**
 * A token window from the held-out text. `tokens[i]` is the decoded text of `tokenIds[i]` (GPT-2
 * ids; the model's own unknown token, if any, decodes to "<unk>"); `acts[i]` is this feature's
 * activation at that token. The window lies inside one context, never includes BOS, and runs from
 * `windowBefore` tokens before the peak to `windowAfter` tokens after it (clipped at the context
 * edges). Non-activating examples have all `acts` 0 and `maxIndex` −1.
 */
export const FeatureExampleSchema = z.object({
  /** `"{contextIndex}:{start}"`: unique within one statistics run; quoted in label provenance. */
  id: z.string().regex(/^\d+:\d+$/),
  /** Index of the context in the pass (0-based, in stream order). */
  contextIndex: NonNegInt,
  /** Position of tokens[0] within its context (≥ 1: position 0 is BOS). */
  start: Int.positive(),
  tokens: z.array(z.string()),
  tokenIds: z.array(NonNegInt),
  acts: z.array(z.number()),
  /** Index into tokens of the peak token (−1 for non-activating examples). */
  maxIndex: Int.min(-1),
  maxActivation: z.number().nonnegative(),
});
export type FeatureExample = z.infer<typeof FeatureExampleSchema>;

/** Examples whose peak activation lies in one activation-quantile interval [lower, upper]. */
export const QuantileIntervalSchema = z.object({
  /** 0 = lowest interval … nQuantiles−1 = highest. */
  index: NonNegInt,
  /** Quantile range of the nonzero-activation distribution, e.g. [0.9, 1.0]. */
  quantileLow: z.number().min(0).max(1),
  quantileHigh: z.number().min(0).max(1),
  /** Activation bounds of the interval (peak activations of its examples lie inside). */
  lower: z.number().nonnegative(),
  upper: z.number().nonnegative(),
  examples: z.array(FeatureExampleSchema),
});
export type QuantileInterval = z.infer<typeof QuantileIntervalSchema>;

export const LogitEffectSchema = z.object({
  /** GPT-2 token id (the model's compact-vocabulary rows are mapped back; −1 for a model-only token). */
  tokenId: Int.min(-1),
  token: z.string(),
  value: z.number(),
});
export type LogitEffect = z.infer<typeof LogitEffectSchema>;

/** Linear histogram of the nonzero activations: bin i counts values in [i·binWidth, (i+1)·binWidth). */
export const HistogramSchema = z.object({
  binWidth: z.number().nonnegative(),
  counts: z.array(NonNegInt),
});
export type Histogram = z.infer<typeof HistogramSchema>;

export const FeatureStatsSchema = z.object({
  featureId: FeatureIdString,
  layer: NonNegInt,
  featureIndex: NonNegInt,
  /** Activating tokens / tokens seen (BOS positions excluded). */
  density: z.number().min(0).max(1),
  /** Number of activating tokens (activation > 0). */
  activeTokens: NonNegInt,
  /** Number of contexts with at least one activating token. */
  activeContexts: NonNegInt,
  maxActivation: z.number().nonnegative(),
  /** Smallest nonzero activation seen (0 when dead). */
  minActivation: z.number().nonnegative(),
  /** Mean and standard deviation of the nonzero activations (0 when dead). */
  meanActivation: z.number().nonnegative(),
  stdActivation: z.number().nonnegative(),
  histogram: HistogramSchema,
  /** Top-k windows by peak activation, strongest first (one per context). */
  topExamples: z.array(FeatureExampleSchema),
  /** Uniform samples of activating tokens, split into activation-quantile intervals (lowest first). */
  quantiles: z.array(QuantileIntervalSchema),
  /** Random windows in which the feature is 0 at every token (negatives for the scorers). */
  negativeExamples: z.array(FeatureExampleSchema),
  /**
   * Direct logit effects of the feature's total decoder write Σ_j W_dec[ℓ→j], through ln_f's gain
   * (centred as LayerNorm centres) and the unembedding: most promoted first / most suppressed first.
   */
  logits: z.object({ top: z.array(LogitEffectSchema), bottom: z.array(LogitEffectSchema) }),
});
export type FeatureStats = z.infer<typeof FeatureStatsSchema>;

export const FeatureStatsParamsSchema = z.object({
  topK: Int.positive(),
  nQuantiles: Int.positive(),
  perQuantile: Int.positive(),
  nNegatives: NonNegInt,
  windowBefore: NonNegInt,
  windowAfter: NonNegInt,
  histogramBins: Int.positive(),
  logitsK: NonNegInt,
  seed: Int,
});
export type FeatureStatsParams = z.infer<typeof FeatureStatsParamsSchema>;

export const FeatureStatsManifestSchema = z.object({
  format: z.literal(FEATURE_STATS_FORMAT),
  version: z.literal(FEATURE_STATS_VERSION),
  /** Transcoder id used to qualify feature ids across an atlas (default: the run dir's name). */
  transcoder: z.object({
    id: z.string().min(1),
    nLayers: Int.positive(),
    nFeatures: Int.positive(),
    dModel: Int.positive(),
  }),
  model: z.object({ dir: z.string().nullable(), name: z.string().nullable() }),
  corpus: z.object({ path: z.string(), tokensRequested: NonNegInt, nCtx: Int.positive(), seed: Int }),
  /** Tokens processed (BOS positions excluded) and contexts processed. */
  tokensSeen: NonNegInt,
  contexts: NonNegInt,
  params: FeatureStatsParamsSchema,
  /** One entry per layer file; `live` = features with at least one activating token. */
  layers: z.array(z.object({ layer: NonNegInt, file: z.string(), features: NonNegInt, live: NonNegInt })),
  /** Bytes of streaming state per feature during the pass (the memory bound). */
  stateBytesPerFeature: NonNegInt,
  startedAt: IsoTime,
  finishedAt: IsoTime,
  elapsedSec: z.number().nonnegative(),
  complete: z.boolean(),
});
export type FeatureStatsManifest = z.infer<typeof FeatureStatsManifestSchema>;

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

/** llm = an explainer model; heuristic = the offline rule-based labeler; human = hand-written; imported = from a JSONL import. */
export const LabelSourceSchema = z.enum(["llm", "heuristic", "human", "imported"]);
export type LabelSource = z.infer<typeof LabelSourceSchema>;

/**
 * A scorer result. detection: does the explanation tell activating from non-activating windows?
 * fuzzing: are the highlighted tokens the ones the feature fires on? `value` is the balanced
 * accuracy (TPR + TNR) / 2 over `positives` + `negatives` judged items; `ci95` its 95% interval
 * (normal approximation with Agresti–Coull-adjusted rates, clipped to [0, 1]).
 */
export const LabelScoreSchema = z.object({
  type: z.enum(["detection", "fuzzing"]),
  value: z.number().min(0).max(1),
  ci95: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]),
  positives: NonNegInt,
  negatives: NonNegInt,
  truePositives: NonNegInt,
  trueNegatives: NonNegInt,
  /** Items the scorer could not judge (malformed answers after retries); not in the counts above. */
  unjudged: NonNegInt,
  scorerModel: z.string(),
  promptVersion: z.string(),
  /** Example ids judged (held out: never shown to the explainer). */
  exampleIds: z.array(z.string()),
});
export type LabelScore = z.infer<typeof LabelScoreSchema>;

export const EndpointInfoSchema = z.object({
  model: z.string(),
  /** Base URL of the OpenAI-compatible endpoint (never the key); null for offline labelers. */
  endpoint: z.string().nullable(),
  promptVersion: z.string(),
  temperature: z.number().nullable(),
});
export type EndpointInfo = z.infer<typeof EndpointInfoSchema>;

export const UsageSchema = z.object({
  calls: NonNegInt,
  promptTokens: NonNegInt,
  completionTokens: NonNegInt,
  /** Estimated from --price-in/--price-out (USD per 1M tokens); null when no price is configured. */
  costUsd: z.number().nonnegative().nullable(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const LabelProvenanceSchema = z.object({
  explainer: EndpointInfoSchema,
  /** null when no scorer ran. */
  scorer: EndpointInfoSchema.nullable(),
  /** The statistics the label was made from. */
  stats: z.object({ finishedAt: IsoTime, tokensSeen: NonNegInt }),
  /** Example ids shown to the explainer (FeatureExample.id). */
  examplesShown: z.array(z.string()),
  seed: Int,
  usage: UsageSchema,
  /** sha256 of everything that determines the explainer call; equal keys reuse the label (LLM runs only). */
  cacheKey: z.string().nullable(),
  /** For heuristic labels: the rule that produced the label (e.g. "tokens", "greater-than"). */
  rule: z.string().nullable(),
  startedAt: IsoTime,
  finishedAt: IsoTime,
});
export type LabelProvenance = z.infer<typeof LabelProvenanceSchema>;

export const LabelRecordSchema = z.object({
  version: z.literal(LABEL_FORMAT_VERSION),
  /** Unique label id (sha256 prefix of the record's content and time). */
  id: z.string().min(8),
  transcoder: z.string().min(1),
  featureId: FeatureIdString,
  layer: NonNegInt,
  featureIndex: NonNegInt,
  source: LabelSourceSchema,
  /** Short label, about six words or fewer. */
  label: z.string().min(1),
  /** One sentence. */
  description: z.string(),
  /** The explainer's own confidence in [0, 1] (null for heuristic/human labels). */
  confidence: z.number().min(0).max(1).nullable(),
  scores: z.array(LabelScoreSchema),
  provenance: LabelProvenanceSchema,
  createdAt: IsoTime,
  /** Id of the previous label of the same feature and source, if this one relabels it. */
  supersedes: z.string().nullable(),
});
export type LabelRecord = z.infer<typeof LabelRecordSchema>;

export const LabelFailureSchema = z.object({
  transcoder: z.string(),
  featureId: FeatureIdString,
  /** Which step failed. */
  stage: z.enum(["explain", "detection", "fuzzing"]),
  error: z.string(),
  attempts: Int.positive(),
  at: IsoTime,
});
export type LabelFailure = z.infer<typeof LabelFailureSchema>;

// ---------------------------------------------------------------------------------------------
// Neuronpedia explanation export (one JSON object per line), after Neuronpedia's Explanation rows
// ---------------------------------------------------------------------------------------------

export const NeuronpediaExplanationSchema = z.object({
  /** Neuronpedia model id (from --model-id; default: the model dir's name). */
  modelId: z.string(),
  /** Neuronpedia source id: `"{layer}-{transcoder}"`, e.g. "2-demo-clt". */
  layer: z.string(),
  /** featureIndex as a string, as in Neuronpedia. */
  index: z.string(),
  description: z.string(),
  /** Explanation type: "atlas-llm-v1" / "atlas-heuristic-v1" / … (our prompt/rule version). */
  typeName: z.string(),
  /** Explainer model name ("heuristic" for offline labels). */
  explanationModelName: z.string(),
  /** Scores in ExplanationScore's shape; jsonDetails carries counts and the 95% interval as JSON. */
  scores: z.array(
    z.object({
      explanationScoreTypeName: z.string(),
      explanationScoreModelName: z.string(),
      value: z.number(),
      jsonDetails: z.string(),
    }),
  ),
  /** Our short label (Neuronpedia's description is the one sentence). */
  notes: z.string().nullable(),
  createdAt: IsoTime,
});
export type NeuronpediaExplanation = z.infer<typeof NeuronpediaExplanationSchema>;

// ---------------------------------------------------------------------------------------------
// Readers (validate every line; one error sentence naming the file and line)
// ---------------------------------------------------------------------------------------------

export function readFeatureManifest(runDir: string): FeatureStatsManifest {
  const path = join(runDir, FEATURES_DIR, FEATURE_MANIFEST_FILE);
  if (!existsSync(path)) throw new Error(`${path} not found: run \`atlas features\` on this CLT run first`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message})`);
  }
  const r = FeatureStatsManifestSchema.safeParse(raw);
  if (!r.success) throw new Error(`${path}: ${z.prettifyError(r.error).replace(/\n/g, "; ")}`);
  return r.data;
}

/** Validated JSON lines of a (gzip) JSONL file; a bad line throws one sentence naming the file and line. */
export async function* readJsonLines<T>(
  path: string,
  schema: z.ZodType<T>,
  gzip = path.endsWith(".gz"),
): AsyncGenerator<T> {
  const input = createReadStream(path);
  const lines = createInterface({ input: gzip ? input.pipe(createGunzip()) : input, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw new Error(`${path} line ${n} is not valid JSON (${(e as Error).message})`);
    }
    const r = schema.safeParse(raw);
    if (!r.success) throw new Error(`${path} line ${n}: ${z.prettifyError(r.error).replace(/\n/g, "; ")}`);
    yield r.data;
  }
}

/** Every FeatureStats of one layer (or all layers, in layer order) of a finished statistics run. */
export async function* readFeatureStats(runDir: string, layer?: number): AsyncGenerator<FeatureStats> {
  const m = readFeatureManifest(runDir);
  if (!m.complete) throw new Error(`${join(runDir, FEATURES_DIR)}: the statistics run is not finished (resume it)`);
  for (const entry of m.layers) {
    if (layer !== undefined && entry.layer !== layer) continue;
    yield* readJsonLines(join(runDir, FEATURES_DIR, entry.file), FeatureStatsSchema, true);
  }
}

/** Every label record (the full history, in file order). */
export async function* readLabels(runDir: string): AsyncGenerator<LabelRecord> {
  const path = join(runDir, LABELS_DIR, LABELS_FILE);
  if (!existsSync(path)) return;
  yield* readJsonLines(path, LabelRecordSchema, false);
}

/**
 * The current label of each feature: the latest human label if there is one, else the latest LLM,
 * imported, then heuristic label (a heuristic label never hides an LLM label).
 */
export function currentLabels(records: Iterable<LabelRecord>): Map<string, LabelRecord> {
  const rank: Record<LabelSource, number> = { human: 3, llm: 2, imported: 1, heuristic: 0 };
  const out = new Map<string, LabelRecord>();
  for (const r of records) {
    const prev = out.get(r.featureId);
    if (
      !prev ||
      rank[r.source] > rank[prev.source] ||
      (rank[r.source] === rank[prev.source] && r.createdAt >= prev.createdAt)
    )
      out.set(r.featureId, r);
  }
  return out;
}
