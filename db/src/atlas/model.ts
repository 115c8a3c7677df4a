// The atlas graph model: one zod schema per node label and relationship type, exactly the property
// maps stored in Neo4j (db/README.md "Graph model", migrations 0001 + 0002). Writers validate rows
// with these before sending them; readers can validate what comes back (`tx.rows(..., { schema })`).
// Neo4j stores no maps or nested lists, so structured values (histograms, examples, logits,
// configs, metrics) are JSON strings whose decoded shape has its own schema below.
import { z } from "zod";

const int = z.number().int();
const finite = z.number().refine(Number.isFinite, "must be finite");
/** A JSON-encoded value (decode with `decodeJson(schema, text)`). */
const json = z.string();

// ── Ids ─────────────────────────────────────────────────────────────────────────────────────────

/** Transcoder (and model, graph) ids: no "/" so that qualified ids split unambiguously. */
export const AtlasKey = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, "ids use letters, digits and . _ + - (no '/' or spaces)");

/** "{layer}_{featureIndex}" (pipeline/ARCHITECTURE.md). */
export function featureKey(layer: number, featureIndex: number): string {
  return `${layer}_${featureIndex}`;
}

/** The atlas-wide Feature id: "{transcoderId}/{layer}_{featureIndex}". */
export function qualifiedFeatureId(transcoderId: string, layer: number, featureIndex: number): string {
  return `${transcoderId}/${layer}_${featureIndex}`;
}

const QUALIFIED_RE = /^([A-Za-z0-9][A-Za-z0-9._+-]*)\/(\d+)_(\d+)$/;

/** Splits a qualified feature id; null when it is not one. */
export function parseFeatureId(id: string): { transcoderId: string; layer: number; featureIndex: number } | null {
  const m = QUALIFIED_RE.exec(id);
  if (!m) return null;
  return { transcoderId: m[1]!, layer: Number(m[2]), featureIndex: Number(m[3]) };
}

/** GraphNode id: "{graphId}/{node_id}" with circuit-tracer's node_id (e.g. "2_17_5", "E_50256_0"). */
export function graphNodeId(graphId: string, nodeId: string): string {
  return `${graphId}/${nodeId}`;
}

/** Study id: "{transcoderId}/{kind}", e.g. "demo-clt/greater-than". */
export function studyId(transcoderId: string, kind: string): string {
  return `${transcoderId}/${kind}`;
}

// ── Decoded JSON values ─────────────────────────────────────────────────────────────────────────

/** Linear histogram of the nonzero activations: bin i counts values in [i·binWidth, (i+1)·binWidth). */
export const Histogram = z.object({ binWidth: finite.nonnegative(), counts: z.array(int.nonnegative()) });
/** A token in the logit lens of a feature's decoder (top / bottom logits). */
export const LogitEntry = z.object({ tokenId: int, token: z.string(), value: finite });
/**
 * One token window around an activation (pipeline FeatureExample, compacted): the tokens, and the
 * feature's activation only where it is nonzero, as [index into tokens, value] pairs.
 */
export const ActivationExample = z.object({
  /** "{contextIndex}:{start}" of the statistics run. */
  id: z.string(),
  tokens: z.array(z.string()),
  acts: z.array(z.tuple([int.nonnegative(), finite])),
  /** Index of the peak token (−1: non-activating example). */
  maxIndex: int.min(-1),
  maxActivation: finite,
});
/** Top examples plus examples sampled per activation quantile (Anthropic-style dashboards). */
export const FeatureExamples = z.object({
  top: z.array(ActivationExample),
  quantiles: z.array(
    z.object({
      quantileLow: finite,
      quantileHigh: finite,
      lower: finite,
      upper: finite,
      examples: z.array(ActivationExample),
    }),
  ),
});
export const TargetLogit = z.object({ tokenId: int, token: z.string(), probability: finite });

/** Parses a JSON property with `schema`; names `what` in the error. */
export function decodeJson<T>(schema: z.ZodType<T>, text: string, what = "JSON property"): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
  return schema.parse(raw);
}

// ── Nodes ───────────────────────────────────────────────────────────────────────────────────────

export const ModelRow = z.object({
  id: AtlasKey,
  name: z.string(),
  nLayers: int.positive(),
  dModel: int.positive(),
  nHeads: int.positive().optional(),
  dMlp: int.positive().optional(),
  nCtx: int.positive().optional(),
  vocabSize: int.positive().optional(),
  /** Where the weights came from (HF repo id or directory). */
  source: z.string().optional(),
});

export const TranscoderRow = z.object({
  id: AtlasKey,
  modelId: AtlasKey,
  kind: z.enum(["clt", "plt"]),
  nLayers: int.positive(),
  dModel: int.positive(),
  /** Features per layer. */
  nFeatures: int.positive(),
  featureInputHook: z.string(),
  featureOutputHook: z.string(),
  /** JSON: the run's training config. */
  trainConfig: json.optional(),
  /** JSON: eval.json of the run. */
  evalMetrics: json.optional(),
  fvuMean: finite.optional(),
  l0Total: finite.optional(),
  deadFraction: finite.optional(),
  top1Agreement: finite.optional(),
  runDir: z.string().optional(),
});

export const FeatureRow = z.object({
  id: z.string(),
  transcoderId: AtlasKey,
  layer: int.nonnegative(),
  featureIndex: int.nonnegative(),
  /** "{layer}_{featureIndex}" (unqualified, for display and URLs under a transcoder). */
  featureId: z.string(),
  /** Fraction of tokens on which the feature is active. */
  density: finite.optional(),
  /** Activating tokens / contexts in the statistics pass. */
  activeTokens: int.nonnegative().optional(),
  activeContexts: int.nonnegative().optional(),
  maxActivation: finite.optional(),
  /** Min / mean / std of the nonzero activations. */
  minActivation: finite.optional(),
  meanActivation: finite.optional(),
  stdActivation: finite.optional(),
  histogram: json.optional(), // Histogram
  topLogits: json.optional(), // LogitEntry[]
  bottomLogits: json.optional(), // LogitEntry[]
  examples: json.optional(), // FeatureExamples
  /** The current label (denormalized from the current (:Label)) and its description: full-text indexed. */
  label: z.string().optional(),
  description: z.string().optional(),
  labelId: z.string().optional(),
  labelScore: finite.optional(),
  /** Graphs in which the feature is a node (maintained on graph ingest/delete). */
  graphCount: int.nonnegative().optional(),
  /** Causal evidence: graph nodes of this feature with an ablation validation, and their means. */
  ablationCount: int.nonnegative().optional(),
  ablationPredictedMean: finite.optional(),
  ablationMeasuredLiveMean: finite.optional(),
  ablationMeasuredFrozenMean: finite.optional(),
});

export const LabelRow = z.object({
  /** Stable: hash of (featureId, source, explainer, text); see `labelId()` in write.ts. */
  id: z.string(),
  featureId: z.string(),
  text: z.string().min(1),
  description: z.string().optional(),
  /** Who wrote it: "llm", "heuristic", "human", "imported" (pipeline LabelRecord.source). */
  source: z.string(),
  /** The explainer model (LLM labels) or author. */
  explainer: z.string().optional(),
  /** Prompt version or heuristic rule. */
  method: z.string().optional(),
  /** The explainer's own confidence in [0, 1]. */
  confidence: finite.optional(),
  /** The headline score: mean balanced accuracy of the scorers that ran (detection, fuzzing). */
  score: finite.optional(),
  /** JSON: the scorer results (pipeline LabelScore[]). */
  scores: json.optional(),
  /** JSON: the label's provenance (pipeline LabelProvenance). */
  provenance: json.optional(),
  /** Id of the label this one relabels. */
  supersedes: z.string().optional(),
  createdAt: z.string(),
  /** Exactly one label per feature is current (the one denormalized on the Feature). */
  current: z.boolean(),
});

export const GraphRow = z.object({
  /** The graph slug. */
  id: AtlasKey,
  transcoderId: AtlasKey,
  modelId: z.string().optional(),
  prompt: z.string(),
  tokens: z.array(z.string()),
  inputTokens: z.array(int),
  targetLogits: json, // TargetLogit[]
  nodeThreshold: finite.optional(),
  edgeThreshold: finite.optional(),
  maxFeatureNodes: int.optional(),
  replacementScore: finite.optional(),
  completenessScore: finite.optional(),
  prunedReplacementScore: finite.optional(),
  prunedCompletenessScore: finite.optional(),
  nNodes: int.nonnegative(),
  nEdges: int.nonnegative(),
  /** The unpruned graph: path of the `.graph.safetensors` side file (as given to ingest) and its sha256. */
  sideFile: z.string().optional(),
  sideFileSha256: z.string().optional(),
  /** sha256 of the graph JSON (+ validation file): re-ingesting identical content is a no-op. */
  contentHash: z.string(),
  createdAt: z.string().optional(),
  ingestedAt: z.string(),
  validationTarget: z.string().optional(),
  validationSpearmanLive: finite.optional(),
  validationSpearmanFrozen: finite.optional(),
});

export const GraphNodeKind = z.enum(["feature", "error", "embedding", "logit"]);

export const GraphNodeRow = z.object({
  id: z.string(),
  graphId: AtlasKey,
  /** circuit-tracer node_id. */
  nodeId: z.string(),
  kind: GraphNodeKind,
  /** Feature/error: the layer; embedding: -1; logit: nLayers. */
  layer: int,
  position: int.nonnegative(),
  featureIndex: int.nonnegative().optional(),
  /** Qualified Feature id (feature nodes). */
  featureId: z.string().optional(),
  /** Embedding / logit token. */
  tokenId: int.optional(),
  token: z.string().optional(),
  activation: finite.optional(),
  influence: finite.optional(),
  probability: finite.optional(),
  isTarget: z.boolean().optional(),
  /** graph.validation.json: predicted (graph) and measured (intervention) ablation effect on the target logit. */
  ablationPredicted: finite.optional(),
  ablationMeasuredLive: finite.optional(),
  ablationMeasuredFrozen: finite.optional(),
});

export const StudyRow = z.object({
  id: z.string(),
  transcoderId: AtlasKey,
  kind: z.string(),
  /** JSON: task metrics of the original and replacement model (heatmaps included). */
  metrics: json,
  dataset: json,
  graphs: int.nonnegative(),
  meanReplacementScore: finite,
  meanCompletenessScore: finite,
  verdict: z.string(),
  ingestedAt: z.string(),
});

export const MigrationRow = z.object({ id: z.string(), name: z.string(), checksum: z.string(), appliedAt: z.string() });

// ── Relationships ───────────────────────────────────────────────────────────────────────────────

/** (:Transcoder)-[:FOR_MODEL]->(:Model) */
export const ForModelRel = z.object({});
/** (:Label)-[:DESCRIBES]->(:Feature) */
export const DescribesRel = z.object({});
/** (:Graph)-[:USES]->(:Transcoder), (:Study)-[:USES]->(:Transcoder) */
export const UsesRel = z.object({});
/** (:Graph)-[:HAS_NODE]->(:GraphNode) */
export const HasNodeRel = z.object({});
/** (:GraphNode)-[:OF]->(:Feature), feature nodes only */
export const OfRel = z.object({});
/** (:GraphNode)-[:ATTRIBUTES]->(:GraphNode): source → target edge of the pruned graph (A[target, source]). */
export const AttributesRel = z.object({ weight: finite });
/**
 * (:Feature)-[:INFLUENCES]->(:Feature): every ATTRIBUTES edge between feature nodes, summed over all
 * ingested graphs. `count` = number of such edges, `graphs` = number of graphs with at least one.
 */
export const InfluencesRel = z.object({
  /** `"{source feature id}>{target feature id}"`, unique (the writers' index into the aggregates). */
  key: z.string(),
  weightSum: finite,
  weightAbsSum: finite.nonnegative(),
  count: int.positive(),
  graphs: int.positive(),
});
/**
 * (:Feature)-[:VIRTUAL]->(:Feature): residual-direct virtual weight of source → target
 * (target encoder · Σ of the source's decoders into the layers before the target's), stored for
 * the top-k targets of each source and the top-k sources of each target.
 */
export const VirtualRel = z.object({ weight: finite });
/** (:Study)-[:STUDIED]->(:Feature): per-feature study results. */
export const StudiedRel = z.object({
  rank: int.nonnegative(),
  influence: finite,
  graphsActive: int.nonnegative(),
  types: z.array(z.string()),
  /** JSON: the study's descriptors. */
  descriptors: json,
  /** YY×ZZ heatmap, rows with data only: `heatmapRows[k]` is the YY of row k, `heatmap` is rows × 100 row-major. */
  heatmapRows: z.array(int),
  heatmap: z.array(finite),
  /** Mean activation at the final position for each YY in `heatmapRows`. */
  activationProfile: z.array(finite),
  image: z.string().optional(),
});

export type ModelRow = z.infer<typeof ModelRow>;
export type TranscoderRow = z.infer<typeof TranscoderRow>;
export type FeatureRow = z.infer<typeof FeatureRow>;
export type LabelRow = z.infer<typeof LabelRow>;
export type GraphRow = z.infer<typeof GraphRow>;
export type GraphNodeKind = z.infer<typeof GraphNodeKind>;
export type GraphNodeRow = z.infer<typeof GraphNodeRow>;
export type StudyRow = z.infer<typeof StudyRow>;
export type AttributesRel = z.infer<typeof AttributesRel>;
export type InfluencesRel = z.infer<typeof InfluencesRel>;
export type VirtualRel = z.infer<typeof VirtualRel>;
export type StudiedRel = z.infer<typeof StudiedRel>;
export type Histogram = z.infer<typeof Histogram>;
export type LogitEntry = z.infer<typeof LogitEntry>;
export type ActivationExample = z.infer<typeof ActivationExample>;
export type FeatureExamples = z.infer<typeof FeatureExamples>;
export type TargetLogit = z.infer<typeof TargetLogit>;

/** Node labels and relationship types of the model (for docs, tests and cleanup). */
export const NODE_LABELS = ["Model", "Transcoder", "Feature", "Label", "Graph", "GraphNode", "Study"] as const;
export const REL_TYPES = [
  "FOR_MODEL",
  "DESCRIBES",
  "USES",
  "HAS_NODE",
  "OF",
  "ATTRIBUTES",
  "INFLUENCES",
  "VIRTUAL",
  "STUDIED",
] as const;
