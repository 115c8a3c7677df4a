// The read side of the atlas (db/README.md "Graph model"): parameterized Cypher only, and every
// function that a GraphQL list field calls takes a batch of ids (one query per batch, for
// DataLoader), so a page of 20 features costs one round trip per field, not twenty.
import { readTx, type Tx, type TxOptions } from "../driver.ts";
import { int } from "../values.ts";

export type ReadOptions = TxOptions;

type Row = Record<string, unknown>;

function read<T>(fn: (tx: Tx) => Promise<T>, opts: ReadOptions): Promise<T> {
  return readTx(fn, opts);
}

// ── Features ────────────────────────────────────────────────────────────────────────────────────

/** The light Feature properties every page needs (the JSON-heavy ones come from `featureDetails`). */
export interface FeatureCore {
  id: string;
  transcoderId: string;
  layer: number;
  featureIndex: number;
  featureId: string;
  density: number | null;
  maxActivation: number | null;
  meanActivation: number | null;
  minActivation: number | null;
  stdActivation: number | null;
  activeTokens: number | null;
  label: string | null;
  description: string | null;
  labelId: string | null;
  labelScore: number | null;
  graphCount: number | null;
  ablationCount: number | null;
  ablationPredictedMean: number | null;
  ablationMeasuredLiveMean: number | null;
  ablationMeasuredFrozenMean: number | null;
}

const FEATURE_CORE = `f {.id, .transcoderId, .layer, .featureIndex, .featureId, .density, .maxActivation,
  .meanActivation, .minActivation, .stdActivation, .activeTokens, .label, .description, .labelId, .labelScore, .graphCount, .ablationCount,
  .ablationPredictedMean, .ablationMeasuredLiveMean, .ablationMeasuredFrozenMean}`;

function featureCore(r: Row): FeatureCore {
  const n = (k: string) => (r[k] === undefined || r[k] === null ? null : (r[k] as number));
  const s = (k: string) => (r[k] === undefined || r[k] === null ? null : String(r[k]));
  return {
    id: String(r.id),
    transcoderId: String(r.transcoderId),
    layer: r.layer as number,
    featureIndex: r.featureIndex as number,
    featureId: s("featureId") ?? `${r.layer}_${r.featureIndex}`,
    density: n("density"),
    maxActivation: n("maxActivation"),
    meanActivation: n("meanActivation"),
    minActivation: n("minActivation"),
    stdActivation: n("stdActivation"),
    activeTokens: n("activeTokens"),
    label: s("label"),
    description: s("description"),
    labelId: s("labelId"),
    labelScore: n("labelScore"),
    graphCount: n("graphCount"),
    ablationCount: n("ablationCount"),
    ablationPredictedMean: n("ablationPredictedMean"),
    ablationMeasuredLiveMean: n("ablationMeasuredLiveMean"),
    ablationMeasuredFrozenMean: n("ablationMeasuredFrozenMean"),
  };
}

/** Features by qualified id, in the order asked (null for unknown ids). */
export async function featuresByIds(ids: readonly string[], opts: ReadOptions = {}): Promise<(FeatureCore | null)[]> {
  const rows = await read(
    (tx) =>
      tx.rows<{ f: Row }>(`UNWIND $ids AS id MATCH (f:Feature {id: id}) RETURN ${FEATURE_CORE} AS f`, {
        ids: [...new Set(ids)],
      }),
    opts,
  );
  const byId = new Map(rows.map((r) => [String(r.f.id), featureCore(r.f)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** The JSON-encoded statistics of a feature (histogram, logits, examples), raw strings or null. */
export interface FeatureDetails {
  histogram: string | null;
  topLogits: string | null;
  bottomLogits: string | null;
  examples: string | null;
}

export async function featureDetails(
  ids: readonly string[],
  opts: ReadOptions = {},
): Promise<(FeatureDetails | null)[]> {
  const rows = await read(
    (tx) =>
      tx.rows<{ id: string } & FeatureDetails>(
        `UNWIND $ids AS id MATCH (f:Feature {id: id})
         RETURN f.id AS id, f.histogram AS histogram, f.topLogits AS topLogits, f.bottomLogits AS bottomLogits,
                f.examples AS examples`,
        { ids: [...new Set(ids)] },
      ),
    opts,
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) ?? null);
}

/**
 * Qualified ids of a short "{layer}_{featureIndex}" over the atlas's (few) transcoders, each looked up
 * through the id constraint (no scan); at most 2 (the caller reports an ambiguity).
 */
export async function featureIdsByShortId(shortId: string, opts: ReadOptions = {}): Promise<string[]> {
  const rows = await read(
    (tx) =>
      tx.rows<{ id: string }>(
        "MATCH (t:Transcoder) MATCH (f:Feature {id: t.id + '/' + $s}) RETURN f.id AS id ORDER BY id LIMIT 2",
        { s: shortId },
      ),
    opts,
  );
  return rows.map((r) => r.id);
}

// ── Search ──────────────────────────────────────────────────────────────────────────────────────

/**
 * Turns user text into a Lucene query that cannot carry Lucene syntax: only letter/digit runs survive,
 * each as an exact term (boosted) OR a fuzzy term (edit distance 1 for 4–7 letters, 2 beyond; none
 * for shorter words, where a typo is another word). Empty when the text has no words.
 */
export function luceneQuery(text: string, maxTerms = 12): string {
  const words = [
    ...new Set(
      (
        text
          .normalize("NFKC")
          .toLowerCase()
          .match(/[\p{L}\p{N}]+/gu) ?? []
      ).slice(0, maxTerms),
    ),
  ];
  const parts: string[] = [];
  for (const w0 of words) {
    const w = w0.slice(0, 64);
    if (w.length < 4) parts.push(`${w}^2`);
    else parts.push(`${w}^2`, `${w}~${w.length < 8 ? 1 : 2}`);
  }
  return parts.join(" ");
}

export interface SearchArgs {
  query: string;
  layer?: number | null;
  transcoderId?: string | null;
  labelSource?: string | null;
  offset: number;
  limit: number;
}

export interface SearchResult {
  totalCount: number;
  hits: { score: number; feature: FeatureCore }[];
}

/** At most this many hits are ranked and counted (totalCount saturates there). */
export const SEARCH_MAX_HITS = 1000;

/** Full-text search over the current labels/descriptions (`featureSearch` index), score desc then id. */
export async function searchFeatures(args: SearchArgs, opts: ReadOptions = {}): Promise<SearchResult> {
  const lucene = luceneQuery(args.query);
  if (!lucene) return { totalCount: 0, hits: [] };
  const row = await read(
    (tx) =>
      tx.one<{ total: number; page: { score: number; f: Row }[] }>(
        `CALL db.index.fulltext.queryNodes('featureSearch', $lucene, {limit: $max}) YIELD node AS f, score
         WHERE ($layer IS NULL OR f.layer = $layer)
           AND ($transcoder IS NULL OR f.transcoderId = $transcoder)
           AND ($source IS NULL OR EXISTS { MATCH (l:Label {id: f.labelId}) WHERE l.source = $source })
         WITH f, score ORDER BY score DESC, f.id
         WITH collect({score: score, f: f}) AS hits
         WITH size(hits) AS total, hits[$offset..($offset + $limit)] AS hits
         CALL (hits) {
           UNWIND hits AS h
           WITH h.score AS score, h.f AS f
           RETURN collect({score: score, f: ${FEATURE_CORE}}) AS page
         }
         RETURN total, page`,
        {
          lucene,
          max: intParam(SEARCH_MAX_HITS),
          layer: args.layer ?? null,
          transcoder: args.transcoderId ?? null,
          source: args.labelSource ?? null,
          offset: intParam(args.offset),
          limit: intParam(args.limit),
        },
      ),
    opts,
  );
  return { totalCount: row.total, hits: row.page.map((h) => ({ score: h.score, feature: featureCore(h.f) })) };
}

// ── Labels ──────────────────────────────────────────────────────────────────────────────────────

export interface LabelRecord {
  id: string;
  featureId: string;
  text: string;
  description: string | null;
  source: string;
  explainer: string | null;
  method: string | null;
  confidence: number | null;
  score: number | null;
  /** JSON string. */
  scores: string | null;
  supersedes: string | null;
  /** JSON string. */
  provenance: string | null;
  createdAt: string;
  current: boolean;
}

const LABEL = `l {.id, .featureId, .text, .description, .source, .explainer, .method, .confidence, .score, .scores,
  .provenance, .supersedes, .createdAt, .current}`;

function labelRecord(r: Row): LabelRecord {
  const s = (k: string) => (r[k] === undefined || r[k] === null ? null : String(r[k]));
  return {
    id: String(r.id),
    featureId: String(r.featureId),
    text: String(r.text),
    description: s("description"),
    source: String(r.source),
    explainer: s("explainer"),
    method: s("method"),
    confidence: typeof r.confidence === "number" ? r.confidence : null,
    score: typeof r.score === "number" ? r.score : null,
    scores: s("scores"),
    supersedes: s("supersedes"),
    provenance: s("provenance"),
    createdAt: String(r.createdAt ?? ""),
    current: r.current === true,
  };
}

export async function labelsByIds(ids: readonly string[], opts: ReadOptions = {}): Promise<(LabelRecord | null)[]> {
  const rows = await read(
    (tx) =>
      tx.rows<{ l: Row }>(`UNWIND $ids AS id MATCH (l:Label {id: id}) RETURN ${LABEL} AS l`, {
        ids: [...new Set(ids)],
      }),
    opts,
  );
  const byId = new Map(rows.map((r) => [String(r.l.id), labelRecord(r.l)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Every label of each feature, newest first. */
export async function labelHistories(featureIds: readonly string[], opts: ReadOptions = {}): Promise<LabelRecord[][]> {
  const rows = await read(
    (tx) =>
      tx.rows<{ l: Row }>(
        `UNWIND $ids AS fid MATCH (l:Label {featureId: fid})
         RETURN ${LABEL} AS l ORDER BY l.createdAt DESC, l.id`,
        { ids: [...new Set(featureIds)] },
      ),
    opts,
  );
  const by = groupBy(
    rows.map((r) => labelRecord(r.l)),
    (l) => l.featureId,
  );
  return featureIds.map((id) => by.get(id) ?? []);
}

// ── Feature → feature edges (cross-prompt aggregate or one graph) ───────────────────────────────

export type EdgeDirection = "upstream" | "downstream";

export interface EdgeQuery {
  direction: EdgeDirection;
  /** One graph's pruned edges (summed over positions) instead of the cross-prompt aggregate. */
  graphId?: string | null;
  /** Keep edges with |weight| ≥ minWeight. */
  minWeight?: number | null;
  /** Edges per feature, strongest |weight| first. */
  limit: number;
}

export interface FeatureEdge {
  /** The feature asked about. */
  featureId: string;
  /** The feature at the other end. */
  otherId: string;
  /** Signed sum of the edge weights. */
  weight: number;
  weightAbsSum: number;
  count: number;
  graphs: number;
}

/**
 * The strongest feature→feature edges into (upstream) or out of (downstream) each feature. Aggregate:
 * `INFLUENCES` (weightSum over all graphs). Per graph: the graph's `ATTRIBUTES` edges between
 * feature nodes, summed over positions.
 */
export async function featureEdges(
  featureIds: readonly string[],
  q: EdgeQuery,
  opts: ReadOptions = {},
): Promise<FeatureEdge[][]> {
  const ids = [...new Set(featureIds)];
  const up = q.direction === "upstream";
  const params = { ids, min: q.minWeight ?? null, limit: intParam(q.limit), graph: q.graphId ?? null };
  const cypher = q.graphId
    ? `UNWIND $ids AS id
       CALL (id) {
         MATCH (:Feature {id: id})<-[:OF]-(n:GraphNode {graphId: $graph})
         MATCH (n)${up ? "<" : ""}-[a:ATTRIBUTES]-${up ? "" : ">"}(m:GraphNode)
         WHERE m.kind = 'feature'
         WITH m.featureId AS other, sum(a.weight) AS weight, sum(abs(a.weight)) AS absSum, count(a) AS count
         WHERE $min IS NULL OR abs(weight) >= $min
         RETURN other, weight, absSum, count, 1 AS graphs
         ORDER BY abs(weight) DESC, other LIMIT $limit
       }
       RETURN id, other, weight, absSum, count, graphs`
    : `UNWIND $ids AS id
       CALL (id) {
         MATCH (:Feature {id: id})${up ? "<" : ""}-[r:INFLUENCES]-${up ? "" : ">"}(m:Feature)
         WHERE $min IS NULL OR abs(r.weightSum) >= $min
         RETURN m.id AS other, r.weightSum AS weight, r.weightAbsSum AS absSum, r.count AS count, r.graphs AS graphs
         ORDER BY abs(r.weightSum) DESC, other LIMIT $limit
       }
       RETURN id, other, weight, absSum, count, graphs`;
  const rows = await read(
    (tx) =>
      tx.rows<{ id: string; other: string; weight: number; absSum: number; count: number; graphs: number }>(
        cypher,
        params,
      ),
    opts,
  );
  const by = groupBy(
    rows.map((r) => ({
      featureId: r.id,
      otherId: r.other,
      weight: r.weight,
      weightAbsSum: r.absSum,
      count: r.count,
      graphs: r.graphs,
    })),
    (e) => e.featureId,
  );
  return featureIds.map((id) => by.get(id) ?? []);
}

/**
 * Σ over in-neighbour features of |weight| into each feature (aggregate: Σ |weightSum| of its
 * INFLUENCES; per graph: the graph's ATTRIBUTES from each feature summed over positions first),
 * the normalizer of `paths`: the same pair weights `featureEdges` returns.
 */
export async function incomingAbsWeight(
  featureIds: readonly string[],
  graphId: string | null,
  opts: ReadOptions = {},
): Promise<Map<string, number>> {
  const cypher = graphId
    ? `UNWIND $ids AS id
       CALL (id) {
         OPTIONAL MATCH (:Feature {id: id})<-[:OF]-(n:GraphNode {graphId: $graph})<-[a:ATTRIBUTES]-(m:GraphNode)
         WHERE m.kind = 'feature'
         WITH m.featureId AS other, sum(a.weight) AS w
         RETURN coalesce(sum(abs(w)), 0.0) AS total
       }
       RETURN id, total`
    : `UNWIND $ids AS id
       OPTIONAL MATCH (:Feature {id: id})<-[r:INFLUENCES]-(:Feature)
       RETURN id, coalesce(sum(abs(r.weightSum)), 0.0) AS total`;
  const rows = await read(
    (tx) => tx.rows<{ id: string; total: number }>(cypher, { ids: [...new Set(featureIds)], graph: graphId }),
    opts,
  );
  return new Map(rows.map((r) => [r.id, r.total]));
}

export interface VirtualNeighborEdge {
  featureId: string;
  otherId: string;
  weight: number;
  direction: EdgeDirection;
}

/** Residual-direct virtual weights (`VIRTUAL`) to and from each feature, strongest |weight| first. */
export async function virtualNeighborEdges(
  featureIds: readonly string[],
  direction: EdgeDirection | "both",
  limit: number,
  opts: ReadOptions = {},
): Promise<VirtualNeighborEdge[][]> {
  const rows = await read(
    (tx) =>
      tx.rows<{ id: string; other: string; weight: number; dir: EdgeDirection }>(
        `UNWIND $ids AS id
         CALL (id) {
           MATCH (f:Feature {id: id})
           CALL (f) {
             MATCH (f)<-[v:VIRTUAL]-(m:Feature) WHERE $dir <> 'downstream'
             RETURN m.id AS other, v.weight AS weight, 'upstream' AS dir
             UNION ALL
             MATCH (f)-[v:VIRTUAL]->(m:Feature) WHERE $dir <> 'upstream'
             RETURN m.id AS other, v.weight AS weight, 'downstream' AS dir
           }
           RETURN other, weight, dir ORDER BY abs(weight) DESC, other LIMIT $limit
         }
         RETURN id, other, weight, dir`,
        { ids: [...new Set(featureIds)], dir: direction, limit: intParam(limit) },
      ),
    opts,
  );
  const by = groupBy(
    rows.map((r) => ({ featureId: r.id, otherId: r.other, weight: r.weight, direction: r.dir })),
    (e) => e.featureId,
  );
  return featureIds.map((id) => by.get(id) ?? []);
}

// ── Graphs ──────────────────────────────────────────────────────────────────────────────────────

export interface GraphRecord {
  id: string;
  transcoderId: string;
  prompt: string;
  tokens: string[];
  /** JSON string (TargetLogit[]). */
  targetLogits: string | null;
  nodeThreshold: number | null;
  edgeThreshold: number | null;
  replacementScore: number | null;
  completenessScore: number | null;
  nNodes: number;
  nEdges: number;
  createdAt: string | null;
  ingestedAt: string | null;
  validationTarget: string | null;
  validationSpearmanLive: number | null;
  validationSpearmanFrozen: number | null;
}

const GRAPH = `g {.id, .transcoderId, .prompt, .tokens, .targetLogits, .nodeThreshold, .edgeThreshold,
  .replacementScore, .completenessScore, .nNodes, .nEdges, .createdAt, .ingestedAt, .validationTarget,
  .validationSpearmanLive, .validationSpearmanFrozen}`;

function graphRecord(r: Row): GraphRecord {
  const n = (k: string) => (typeof r[k] === "number" ? (r[k] as number) : null);
  const s = (k: string) => (r[k] === undefined || r[k] === null ? null : String(r[k]));
  return {
    id: String(r.id),
    transcoderId: String(r.transcoderId),
    prompt: String(r.prompt ?? ""),
    tokens: Array.isArray(r.tokens) ? r.tokens.map(String) : [],
    targetLogits: s("targetLogits"),
    nodeThreshold: n("nodeThreshold"),
    edgeThreshold: n("edgeThreshold"),
    replacementScore: n("replacementScore"),
    completenessScore: n("completenessScore"),
    nNodes: n("nNodes") ?? 0,
    nEdges: n("nEdges") ?? 0,
    createdAt: s("createdAt"),
    ingestedAt: s("ingestedAt"),
    validationTarget: s("validationTarget"),
    validationSpearmanLive: n("validationSpearmanLive"),
    validationSpearmanFrozen: n("validationSpearmanFrozen"),
  };
}

export async function graphsByIds(ids: readonly string[], opts: ReadOptions = {}): Promise<(GraphRecord | null)[]> {
  const rows = await read(
    (tx) =>
      tx.rows<{ g: Row }>(`UNWIND $ids AS id MATCH (g:Graph {id: id}) RETURN ${GRAPH} AS g`, {
        ids: [...new Set(ids)],
      }),
    opts,
  );
  const byId = new Map(rows.map((r) => [String(r.g.id), graphRecord(r.g)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Graphs newest first (ingestedAt desc, then id), paged by offset; optionally of one transcoder. */
export async function listGraphs(
  args: { offset: number; limit: number; transcoderId?: string | null },
  opts: ReadOptions = {},
): Promise<{ totalCount: number; graphs: GraphRecord[] }> {
  return read(async (tx) => {
    const params = { t: args.transcoderId ?? null, offset: intParam(args.offset), limit: intParam(args.limit) };
    const total = await tx.one<{ n: number }>(
      "MATCH (g:Graph) WHERE $t IS NULL OR g.transcoderId = $t RETURN count(g) AS n",
      params,
    );
    const rows = await tx.rows<{ g: Row }>(
      `MATCH (g:Graph) WHERE $t IS NULL OR g.transcoderId = $t
       RETURN ${GRAPH} AS g ORDER BY g.ingestedAt DESC, g.id SKIP $offset LIMIT $limit`,
      params,
    );
    return { totalCount: total.n, graphs: rows.map((r) => graphRecord(r.g)) };
  }, opts);
}

/** Graphs containing each feature, newest first. */
export async function graphsOfFeatures(
  featureIds: readonly string[],
  limit: number,
  opts: ReadOptions = {},
): Promise<GraphRecord[][]> {
  const rows = await read(
    (tx) =>
      tx.rows<{ id: string; g: Row }>(
        `UNWIND $ids AS id
         CALL (id) {
           MATCH (:Feature {id: id})<-[:OF]-(n:GraphNode)
           WITH DISTINCT n.graphId AS gid
           MATCH (g:Graph {id: gid})
           RETURN g ORDER BY g.ingestedAt DESC, g.id LIMIT $limit
         }
         RETURN id, ${GRAPH} AS g`,
        { ids: [...new Set(featureIds)], limit: intParam(limit) },
      ),
    opts,
  );
  const by = groupBy(rows, (r) => r.id);
  return featureIds.map((id) => (by.get(id) ?? []).map((r) => graphRecord(r.g)));
}

export interface GraphNodeRecord {
  nodeId: string;
  kind: "feature" | "error" | "embedding" | "logit";
  layer: number;
  position: number;
  featureIndex: number | null;
  featureId: string | null;
  tokenId: number | null;
  token: string | null;
  activation: number | null;
  influence: number | null;
  probability: number | null;
  isTarget: boolean | null;
  label: string | null;
}

export interface GraphEdgeRecord {
  source: string;
  target: string;
  weight: number;
}

/** All nodes (with the current label of feature nodes) and edges of one stored (pruned) graph. */
export async function graphContents(
  graphId: string,
  opts: ReadOptions = {},
): Promise<{ nodes: GraphNodeRecord[]; edges: GraphEdgeRecord[] }> {
  return read(async (tx) => {
    const nodes = await tx.rows<Row>(
      `MATCH (n:GraphNode {graphId: $id})
       OPTIONAL MATCH (n)-[:OF]->(f:Feature)
       RETURN n.nodeId AS nodeId, n.kind AS kind, n.layer AS layer, n.position AS position,
              n.featureIndex AS featureIndex, n.featureId AS featureId, n.tokenId AS tokenId, n.token AS token,
              n.activation AS activation, n.influence AS influence, n.probability AS probability,
              n.isTarget AS isTarget, f.label AS label
       ORDER BY n.layer, n.position, n.nodeId`,
      { id: graphId },
    );
    const edges = await tx.rows<GraphEdgeRecord>(
      `MATCH (s:GraphNode {graphId: $id})-[a:ATTRIBUTES]->(t:GraphNode)
       RETURN s.nodeId AS source, t.nodeId AS target, a.weight AS weight`,
      { id: graphId },
    );
    const num = (v: unknown) => (typeof v === "number" ? v : null);
    return {
      nodes: nodes.map((r) => ({
        nodeId: String(r.nodeId),
        kind: r.kind as GraphNodeRecord["kind"],
        layer: r.layer as number,
        position: r.position as number,
        featureIndex: num(r.featureIndex),
        featureId: r.featureId == null ? null : String(r.featureId),
        tokenId: num(r.tokenId),
        token: r.token == null ? null : String(r.token),
        activation: num(r.activation),
        influence: num(r.influence),
        probability: num(r.probability),
        isTarget: typeof r.isTarget === "boolean" ? r.isTarget : null,
        label: r.label == null ? null : String(r.label),
      })),
      edges,
    };
  }, opts);
}

// ── Causal evidence ─────────────────────────────────────────────────────────────────────────────

export interface CausalRecord {
  featureId: string;
  graphId: string;
  nodeId: string;
  position: number;
  influence: number | null;
  predicted: number;
  measuredLive: number | null;
  measuredFrozen: number | null;
  target: string | null;
}

/** Stored ablation validations of each feature's graph nodes, by graph then position. */
export async function causalEffects(featureIds: readonly string[], opts: ReadOptions = {}): Promise<CausalRecord[][]> {
  const rows = await read(
    (tx) =>
      tx.rows<CausalRecord>(
        `UNWIND $ids AS id
         MATCH (:Feature {id: id})<-[:OF]-(n:GraphNode) WHERE n.ablationPredicted IS NOT NULL
         OPTIONAL MATCH (g:Graph {id: n.graphId})
         RETURN id AS featureId, n.graphId AS graphId, n.nodeId AS nodeId, n.position AS position,
                n.influence AS influence, n.ablationPredicted AS predicted, n.ablationMeasuredLive AS measuredLive,
                n.ablationMeasuredFrozen AS measuredFrozen, g.validationTarget AS target
         ORDER BY graphId, position, nodeId`,
        { ids: [...new Set(featureIds)] },
      ),
    opts,
  );
  const by = groupBy(rows, (r) => r.featureId);
  return featureIds.map((id) => by.get(id) ?? []);
}

// ── Studies ─────────────────────────────────────────────────────────────────────────────────────

export interface StudyRecord {
  id: string;
  transcoderId: string;
  kind: string;
  /** JSON strings. */
  metrics: string | null;
  dataset: string | null;
  graphs: number;
  meanReplacementScore: number | null;
  meanCompletenessScore: number | null;
  verdict: string | null;
}

const STUDY = `s {.id, .transcoderId, .kind, .metrics, .dataset, .graphs, .meanReplacementScore, .ingestedAt,
  .meanCompletenessScore, .verdict}`;

/** The newest study of a kind (optionally of one transcoder), or null. */
export async function studyByKind(
  kind: string,
  transcoderId: string | null,
  opts: ReadOptions = {},
): Promise<StudyRecord | null> {
  const row = await read(
    (tx) =>
      tx.maybeOne<{ s: StudyRecord }>(
        `MATCH (s:Study {kind: $kind}) WHERE $t IS NULL OR s.transcoderId = $t
         RETURN ${STUDY} AS s ORDER BY s.ingestedAt DESC, s.id LIMIT 1`,
        { kind, t: transcoderId },
      ),
    opts,
  );
  return row ? { ...row.s, graphs: row.s.graphs ?? 0 } : null;
}

export async function listStudies(opts: ReadOptions = {}): Promise<StudyRecord[]> {
  const rows = await read(
    (tx) => tx.rows<{ s: StudyRecord }>(`MATCH (s:Study) RETURN ${STUDY} AS s ORDER BY s.kind, s.id`),
    opts,
  );
  return rows.map((r) => ({ ...r.s, graphs: r.s.graphs ?? 0 }));
}

export interface StudiedRecord {
  studyId: string;
  featureId: string;
  rank: number;
  influence: number;
  graphsActive: number;
  types: string[];
  /** JSON string. */
  descriptors: string | null;
  heatmapRows: number[];
  /** rows × 100, row-major. */
  heatmap: number[];
  activationProfile: number[];
}

const STUDIED = `s.id AS studyId, f.id AS featureId, r.rank AS rank, r.influence AS influence,
  r.graphsActive AS graphsActive, r.types AS types, r.descriptors AS descriptors, r.heatmapRows AS heatmapRows,
  r.heatmap AS heatmap, r.activationProfile AS activationProfile`;

/** A study's ranked features (rank ascending). */
export async function studyFeatures(studyId: string, limit: number, opts: ReadOptions = {}): Promise<StudiedRecord[]> {
  return read(
    (tx) =>
      tx.rows<StudiedRecord>(
        `MATCH (s:Study {id: $id})-[r:STUDIED]->(f:Feature) RETURN ${STUDIED} ORDER BY r.rank, f.id LIMIT $limit`,
        { id: studyId, limit: intParam(limit) },
      ),
    opts,
  );
}

/** Each feature's entry in the newest study of `kind`, or null. */
export async function studiedByFeatures(
  featureIds: readonly string[],
  kind: string,
  opts: ReadOptions = {},
): Promise<(StudiedRecord | null)[]> {
  const rows = await read(
    (tx) =>
      tx.rows<StudiedRecord>(
        `UNWIND $ids AS id
         MATCH (s:Study {kind: $kind})-[r:STUDIED]->(f:Feature {id: id})
         WITH f, s, r ORDER BY s.ingestedAt DESC
         WITH f, collect({s: s, r: r})[0] AS top
         WITH f, top.s AS s, top.r AS r
         RETURN ${STUDIED}`,
        { ids: [...new Set(featureIds)], kind },
      ),
    opts,
  );
  const by = new Map(rows.map((r) => [r.featureId, r]));
  return featureIds.map((id) => by.get(id) ?? null);
}

// ── Atlas overview ──────────────────────────────────────────────────────────────────────────────

export interface AtlasCounts {
  featureCount: number;
  labeledFeatureCount: number;
  graphCount: number;
  labelSources: { source: string; count: number }[];
}

export async function atlasCounts(opts: ReadOptions = {}): Promise<AtlasCounts> {
  return read(async (tx) => {
    const c = await tx.one<{ features: number; graphs: number }>(
      "CALL () { MATCH (f:Feature) RETURN count(f) AS features } CALL () { MATCH (g:Graph) RETURN count(g) AS graphs } RETURN features, graphs",
    );
    const sources = await tx.rows<{ source: string; count: number }>(
      "MATCH (l:Label) WHERE l.current = true RETURN l.source AS source, count(*) AS count ORDER BY count DESC, source",
    );
    return {
      featureCount: c.features,
      graphCount: c.graphs,
      labeledFeatureCount: sources.reduce((a, s) => a + s.count, 0),
      labelSources: sources,
    };
  }, opts);
}

export async function listModels(opts: ReadOptions = {}): Promise<Row[]> {
  const rows = await read((tx) => tx.rows<{ m: Row }>("MATCH (m:Model) RETURN m {.*} AS m ORDER BY m.id"), opts);
  return rows.map((r) => r.m);
}

export async function listTranscoders(opts: ReadOptions = {}): Promise<Row[]> {
  const rows = await read(
    (tx) => tx.rows<{ t: Row }>("MATCH (t:Transcoder) RETURN t {.*, runDir: null} AS t ORDER BY t.id"),
    opts,
  );
  return rows.map((r) => r.t);
}

// ── helpers ─────────────────────────────────────────────────────────────────────────────────────

/** Integers sent to LIMIT/SKIP must be Neo4j INTEGERs, not floats. */
function intParam(n: number) {
  return int(Math.max(0, Math.floor(n)));
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** A transcoder's id and run directory (the one asked for, or the first by id), or null. */
export async function transcoderRunDir(
  transcoderId: string | null,
  opts: ReadOptions = {},
): Promise<{ id: string; runDir: string | null } | null> {
  return read(
    (tx) =>
      tx.maybeOne<{ id: string; runDir: string | null }>(
        "MATCH (t:Transcoder) WHERE $id IS NULL OR t.id = $id RETURN t.id AS id, t.runDir AS runDir ORDER BY t.id LIMIT 1",
        { id: transcoderId },
      ),
    opts,
  );
}
