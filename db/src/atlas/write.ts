// The write side of the atlas: typed, parameterized, batched UNWIND writes, idempotent by id.
//
// - Models, transcoders, features, labels, studies: `UNWIND $rows MERGE (n {id}) SET n += row` in
//   batches, one bounded transaction per batch (re-running a batch is harmless).
// - A graph is written in ONE transaction (its nodes, edges, feature links and its contribution to
//   the cross-prompt aggregates), so an interrupted ingest leaves every graph either complete or
//   absent; re-ingesting an identical graph (same contentHash) is a no-op, a changed one replaces
//   the old one (its aggregate contribution subtracted first).
// - GraphNodes and ATTRIBUTES edges are created with CREATE against the node list collected in the
//   same statement (edges address nodes by list index), so no index lookup per edge.
import { createHash } from "node:crypto";
import type { Integer } from "neo4j-driver";
import type { z } from "zod";
import { readTx, type Tx, withSession, writeTx } from "../driver.ts";
import { ConstraintViolationError, DbError, NotFoundError } from "../errors.ts";
import { int } from "../values.ts";
import {
  FeatureRow,
  GraphNodeRow,
  GraphRow,
  LabelRow,
  ModelRow,
  parseFeatureId,
  qualifiedFeatureId,
  StudiedRel,
  StudyRow,
  TranscoderRow,
} from "./model.ts";

type Row = Record<string, unknown>;

/** Integer-valued properties per row type (JS numbers would be stored as FLOAT otherwise). */
const INT_KEYS: Record<string, readonly string[]> = {
  Model: ["nLayers", "dModel", "nHeads", "dMlp", "nCtx", "vocabSize"],
  Transcoder: ["nLayers", "dModel", "nFeatures"],
  Feature: ["layer", "featureIndex", "graphCount", "ablationCount", "activeTokens", "activeContexts"],
  Label: [],
  Graph: ["inputTokens", "maxFeatureNodes", "nNodes", "nEdges"],
  GraphNode: ["layer", "position", "featureIndex", "tokenId"],
  Study: ["graphs"],
  STUDIED: ["rank", "graphsActive", "heatmapRows"],
};

/** Validates `row` with `schema` (one error sentence naming `what` and the field) and wraps integers. */
export function encodeRow<T extends Row>(
  schema: z.ZodType<T>,
  row: unknown,
  kind: keyof typeof INT_KEYS,
  what: string,
): Row {
  const r = schema.safeParse(row);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DbError(`${what}: ${issue.path.join(".") || "(row)"}: ${issue.message}`);
  }
  const out: Row = {};
  for (const [k, v] of Object.entries(r.data)) {
    if (v === undefined) continue;
    out[k] = INT_KEYS[kind]!.includes(k) ? toInt(v) : v;
  }
  return out;
}

function toInt(v: unknown): Integer | Integer[] | unknown {
  if (typeof v === "number") return int(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === "number" ? int(x) : x));
  return v;
}

export interface BatchOptions {
  /** Rows per transaction (default 5000). */
  batchSize?: number;
  /** Called after each committed batch with the rows written so far. */
  onBatch?: (done: number, total: number) => void;
}

async function inBatches(rows: Row[], cypher: string, opts: BatchOptions, extra: Row = {}): Promise<number> {
  const size = opts.batchSize ?? 5000;
  for (let i = 0; i < rows.length; i += size) {
    const batch = rows.slice(i, i + size);
    await writeTx((tx) => tx.run(cypher, { ...extra, rows: batch }));
    opts.onBatch?.(Math.min(i + size, rows.length), rows.length);
  }
  return rows.length;
}

// ── Models, transcoders, features ───────────────────────────────────────────────────────────────

export async function upsertModels(rows: ModelRow[], opts: BatchOptions = {}): Promise<number> {
  const enc = rows.map((r, i) => encodeRow(ModelRow, r, "Model", `model ${i}`));
  return inBatches(enc, "UNWIND $rows AS r MERGE (m:Model {id: r.id}) SET m = r", opts);
}

export async function upsertTranscoders(rows: TranscoderRow[], opts: BatchOptions = {}): Promise<number> {
  const enc = rows.map((r, i) => encodeRow(TranscoderRow, r, "Transcoder", `transcoder ${i}`));
  return inBatches(
    enc,
    `UNWIND $rows AS r
     MERGE (t:Transcoder {id: r.id}) SET t = r
     MERGE (m:Model {id: r.modelId}) ON CREATE SET m.name = r.modelId
     MERGE (t)-[:FOR_MODEL]->(m)`,
    opts,
  );
}

/**
 * Features by id: properties given are set, others kept (labels, graph counts and ablation
 * summaries are maintained by their own writers). `id` and `featureId` are derived when absent.
 */
export async function upsertFeatures(
  rows: (Omit<FeatureRow, "id" | "featureId"> & { id?: string; featureId?: string })[],
  opts: BatchOptions = {},
): Promise<number> {
  const enc = rows.map((r, i) =>
    encodeRow(
      FeatureRow,
      {
        ...r,
        id: r.id ?? qualifiedFeatureId(r.transcoderId, r.layer, r.featureIndex),
        featureId: r.featureId ?? `${r.layer}_${r.featureIndex}`,
      },
      "Feature",
      `feature ${i}`,
    ),
  );
  return inBatches(enc, "UNWIND $rows AS r MERGE (f:Feature {id: r.id}) SET f += r", opts);
}

/**
 * Creates a stub Feature for every (layer, featureIndex) of a transcoder that has none yet, one
 * transaction per layer, so graphs, labels and virtual weights can link to any feature.
 */
export async function ensureTranscoderFeatures(transcoderId: string, opts: BatchOptions = {}): Promise<number> {
  const t = await writeTx((tx) =>
    tx.maybeOne<{ nLayers: number; nFeatures: number }>(
      "MATCH (t:Transcoder {id: $id}) RETURN t.nLayers AS nLayers, t.nFeatures AS nFeatures",
      { id: transcoderId },
    ),
  );
  if (!t) throw new NotFoundError(`transcoder ${transcoderId} is not in the atlas`);
  const size = opts.batchSize ?? 50000;
  let created = 0;
  for (let layer = 0; layer < t.nLayers; layer++) {
    for (let i0 = 0; i0 < t.nFeatures; i0 += size) {
      const c = await writeTx((tx) =>
        tx.run(
          `UNWIND range($i0, $i1) AS i
           MERGE (f:Feature {id: $t + '/' + toString($layer) + '_' + toString(i)})
             ON CREATE SET f.transcoderId = $t, f.layer = $layer, f.featureIndex = i,
                           f.featureId = toString($layer) + '_' + toString(i)`,
          { t: transcoderId, layer: int(layer), i0: int(i0), i1: int(Math.min(i0 + size, t.nFeatures) - 1) },
        ),
      );
      created += c.nodesCreated;
      opts.onBatch?.(layer * t.nFeatures + Math.min(i0 + size, t.nFeatures), t.nLayers * t.nFeatures);
    }
  }
  return created;
}

// ── Labels ──────────────────────────────────────────────────────────────────────────────────────

/** Stable label id: the feature id + a hash of (source, explainer, text). */
export function labelId(featureId: string, source: string, explainer: string | undefined, text: string): string {
  const h = createHash("sha256")
    .update(JSON.stringify([featureId, source, explainer ?? "", text]))
    .digest("hex");
  return `${featureId}#${h.slice(0, 16)}`;
}

export type LabelInput = Omit<LabelRow, "id" | "current" | "createdAt"> & {
  id?: string;
  createdAt?: string;
  /** Make it the feature's current label (default true). */
  current?: boolean;
};

/**
 * Labels (MERGE by id) with DESCRIBES → Feature (the feature must exist). A label marked current
 * becomes the only current label of its feature and is copied onto the Feature for search.
 */
export async function upsertLabels(rows: LabelInput[], opts: BatchOptions = {}): Promise<number> {
  const now = new Date().toISOString();
  const enc = rows.map((r, i) =>
    encodeRow(
      LabelRow,
      {
        ...r,
        id: r.id ?? labelId(r.featureId, r.source, r.explainer, r.text),
        createdAt: r.createdAt ?? now,
        current: r.current ?? true,
      },
      "Label",
      `label ${i} (${r.featureId})`,
    ),
  );
  // A batch may hold several labels of one feature: the last current one wins, as in file order.
  const lastCurrent = new Map<string, number>();
  enc.forEach((r, i) => {
    if (r.current) lastCurrent.set(r.featureId as string, i);
  });
  enc.forEach((r, i) => {
    if (r.current && lastCurrent.get(r.featureId as string) !== i) r.current = false;
  });
  const size = opts.batchSize ?? 5000;
  for (let i = 0; i < enc.length; i += size) {
    const batch = enc.slice(i, i + size);
    await writeTx(async (tx) => {
      const missing = await tx.rows<{ id: string }>(
        "UNWIND $ids AS id WITH DISTINCT id WHERE NOT EXISTS { MATCH (:Feature {id: id}) } RETURN id LIMIT 1",
        { ids: batch.map((r) => r.featureId) },
      );
      if (missing.length > 0) throw new NotFoundError(`label for unknown feature ${missing[0]!.id}`);
      await tx.run(
        `UNWIND $rows AS r
         MATCH (f:Feature {id: r.featureId})
         MERGE (l:Label {id: r.id}) SET l = r
         MERGE (l)-[:DESCRIBES]->(f)`,
        { rows: batch },
      );
      await tx.run(
        `UNWIND $rows AS r
         WITH r WHERE r.current
         MATCH (f:Feature {id: r.featureId})
         OPTIONAL MATCH (other:Label {featureId: r.featureId}) WHERE other.id <> r.id AND other.current
         SET other.current = false
         WITH DISTINCT f, r
         SET f.label = r.text, f.description = r.description, f.labelId = r.id, f.labelScore = r.score`,
        { rows: batch },
      );
    });
    opts.onBatch?.(Math.min(i + size, enc.length), enc.length);
  }
  return enc.length;
}

// ── Graphs ──────────────────────────────────────────────────────────────────────────────────────

export interface GraphEdge {
  /** Index into `nodes` of the source and of the target. */
  source: number;
  target: number;
  weight: number;
}

export interface GraphInput {
  graph: Omit<GraphRow, "ingestedAt" | "nNodes" | "nEdges">;
  /** GraphNode rows without `id`/`graphId` (derived). */
  nodes: Omit<GraphNodeRow, "id" | "graphId">[];
  edges: GraphEdge[];
}

export interface GraphWriteResult {
  graphId: string;
  status: "created" | "replaced" | "unchanged";
  nodes: number;
  edges: number;
  /** Distinct feature pairs whose INFLUENCES aggregate this graph touched. */
  pairs: number;
}

/** A feature pair's contribution to INFLUENCES (summed over one graph, or a batch of graphs). */
interface PairSum {
  a: string;
  b: string;
  s: number;
  sa: number;
  c: number;
  g: number;
}

/** The INFLUENCES relationship key (`{source feature id}>{target feature id}`; unique, indexed by 0003). */
export function influencesKey(source: string, target: string): string {
  return `${source}>${target}`;
}

/** Per-graph contribution to INFLUENCES: one entry per (source feature, target feature), keyed. */
function featurePairs(nodes: GraphInput["nodes"], edges: GraphEdge[]): Map<string, PairSum> {
  const pairs = new Map<string, PairSum>();
  for (const e of edges) {
    const a = nodes[e.source]!.featureId;
    const b = nodes[e.target]!.featureId;
    if (a === undefined || b === undefined) continue;
    const key = influencesKey(a, b);
    let p = pairs.get(key);
    if (!p) {
      p = { a, b, s: 0, sa: 0, c: 0, g: 1 };
      pairs.set(key, p);
    }
    p.s += e.weight;
    p.sa += Math.abs(e.weight);
    p.c++;
  }
  return pairs;
}

/** Checks a graph's rows and returns them encoded; errors name the graph and the offending row. */
export function encodeGraph(input: GraphInput, ingestedAt = new Date().toISOString()) {
  const gid = input.graph.id;
  const graph = encodeRow(
    GraphRow,
    { ...input.graph, ingestedAt, nNodes: input.nodes.length, nEdges: input.edges.length },
    "Graph",
    `graph ${gid}`,
  );
  const seen = new Set<string>();
  const nodes = input.nodes.map((n, i) => {
    if (seen.has(n.nodeId)) throw new DbError(`graph ${gid}: duplicate node ${n.nodeId}`);
    seen.add(n.nodeId);
    if (n.kind === "feature") {
      const f = n.featureId === undefined ? null : parseFeatureId(n.featureId);
      if (
        !f ||
        f.transcoderId !== input.graph.transcoderId ||
        f.layer !== n.layer ||
        f.featureIndex !== n.featureIndex
      ) {
        throw new DbError(
          `graph ${gid}: feature node ${n.nodeId} needs featureId "${input.graph.transcoderId}/${n.layer}_${n.featureIndex}"`,
        );
      }
    }
    return encodeRow(
      GraphNodeRow,
      { ...n, id: `${gid}/${n.nodeId}`, graphId: gid },
      "GraphNode",
      `graph ${gid} node ${i}`,
    );
  });
  const src: number[] = [];
  const dst: number[] = [];
  const w: number[] = [];
  for (const [i, e] of input.edges.entries()) {
    if (!(e.source >= 0 && e.source < nodes.length && e.target >= 0 && e.target < nodes.length)) {
      throw new DbError(`graph ${gid}: edge ${i} refers to a node index outside 0..${nodes.length - 1}`);
    }
    if (!Number.isFinite(e.weight)) throw new DbError(`graph ${gid}: edge ${i} has a non-finite weight`);
    src.push(e.source);
    dst.push(e.target);
    w.push(e.weight);
  }
  return { graph, nodes, src, dst, w, pairs: featurePairs(input.nodes, input.edges) };
}

type EncodedGraph = ReturnType<typeof encodeGraph>;

/** Milliseconds spent per phase of graph writes (accumulated; for benchmarks). */
export type GraphWriteTimings = Record<
  "check" | "features" | "nodesAndEdges" | "influences" | "ablation" | "delete",
  number
>;

export function newGraphWriteTimings(): GraphWriteTimings {
  return { check: 0, features: 0, nodesAndEdges: 0, influences: 0, ablation: 0, delete: 0 };
}

async function timed<T>(t: GraphWriteTimings | undefined, k: keyof GraphWriteTimings, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    if (t) t[k] += performance.now() - t0;
  }
}

export interface GraphWriteOptions {
  timings?: GraphWriteTimings;
}

/**
 * Writes one graph in one transaction (see `writeGraphs`). The transcoder must exist; Features
 * referenced by feature nodes are created as stubs when missing.
 */
export async function writeGraph(input: GraphInput, opts: GraphWriteOptions = {}): Promise<GraphWriteResult> {
  return (await writeGraphs([input], opts))[0]!;
}

/**
 * Writes a batch of graphs in ONE transaction, so an interrupted ingest leaves each batch (and each
 * graph) complete or absent. A graph whose contentHash is stored already is left alone; a changed one
 * replaces the stored one (its contribution subtracted first). The batch's INFLUENCES contributions
 * are summed in memory first (one row per distinct feature pair), then existing pairs are updated
 * through the unique `INFLUENCES.key` index and the missing ones created between Feature nodes
 * addressed by element id, so no pair costs a MERGE (expand-into on hub features).
 */
export async function writeGraphs(inputs: GraphInput[], opts: GraphWriteOptions = {}): Promise<GraphWriteResult[]> {
  const ingestedAt = new Date().toISOString();
  const encs = inputs.map((i) => encodeGraph(i, ingestedAt));
  const ids = new Set<string>();
  for (const e of encs) {
    const id = e.graph.id as string;
    if (ids.has(id)) throw new DbError(`graph ${id} appears twice in one write batch`);
    ids.add(id);
  }
  // Two writers creating the same new pair: the unique key rejects the second; its batch is redone
  // (it sees the pair then). Any other error is the caller's.
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeTx((tx) => writeGraphsIn(tx, encs, opts.timings));
    } catch (err) {
      if (!(err instanceof ConstraintViolationError && err.property === "key" && attempt < 4)) throw err;
    }
  }
}

async function writeGraphsIn(tx: Tx, encs: EncodedGraph[], t?: GraphWriteTimings): Promise<GraphWriteResult[]> {
  const prev = await timed(t, "check", () =>
    tx.rows<{ id: string; hash: string | null }>(
      "UNWIND $ids AS id MATCH (g:Graph {id: id}) RETURN g.id AS id, g.contentHash AS hash",
      { ids: encs.map((e) => e.graph.id) },
    ),
  );
  const prevHash = new Map(prev.map((r) => [r.id, r.hash]));
  const results: GraphWriteResult[] = encs.map((e) => {
    const id = e.graph.id as string;
    const status = !prevHash.has(id) ? "created" : prevHash.get(id) === e.graph.contentHash ? "unchanged" : "replaced";
    return { graphId: id, status, nodes: e.nodes.length, edges: e.w.length, pairs: 0 };
  });
  const todo = encs.filter((_, i) => results[i]!.status !== "unchanged");
  if (todo.length === 0) return results;
  const transcoders = [...new Set(todo.map((e) => e.graph.transcoderId as string))];
  const known = await tx.rows<{ id: string }>("UNWIND $ids AS id MATCH (t:Transcoder {id: id}) RETURN t.id AS id", {
    ids: transcoders,
  });
  const missing = transcoders.find((id) => !known.some((k) => k.id === id));
  if (missing !== undefined) {
    const g = todo.find((e) => e.graph.transcoderId === missing)!;
    throw new NotFoundError(`graph ${g.graph.id as string}: transcoder ${missing} is not in the atlas`);
  }
  for (const r of results) {
    if (r.status === "replaced") await timed(t, "delete", () => deleteGraphIn(tx, r.graphId));
  }

  // Features of the batch: stubs where missing, graphCount += number of graphs holding the feature
  // (a feature at several positions counts once per graph); their element ids for the links below.
  const feats = new Map<
    string,
    { id: string; transcoderId: string; layer: Integer; featureIndex: Integer; g: number }
  >();
  const validated = new Set<string>();
  for (const e of todo) {
    const inGraph = new Set<string>();
    for (const n of e.nodes) {
      if (n.kind !== "feature") continue;
      const id = n.featureId as string;
      if (n.ablationPredicted !== undefined) validated.add(id);
      if (inGraph.has(id)) continue;
      inGraph.add(id);
      const f = feats.get(id);
      if (f) f.g++;
      else {
        feats.set(id, {
          id,
          transcoderId: e.graph.transcoderId as string,
          layer: n.layer as Integer,
          featureIndex: n.featureIndex as Integer,
          g: 1,
        });
      }
    }
  }
  const featureRows = [...feats.values()]
    .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
    .map((f) => ({ ...f, g: int(f.g) }));
  const eids = new Map<string, string>();
  if (featureRows.length > 0) {
    const rows = await timed(t, "features", () =>
      tx.rows<{ id: string; e: string }>(
        `UNWIND $rows AS r
         MERGE (f:Feature {id: r.id})
           ON CREATE SET f.transcoderId = r.transcoderId, f.layer = r.layer, f.featureIndex = r.featureIndex,
                         f.featureId = toString(r.layer) + '_' + toString(r.featureIndex)
         SET f.graphCount = coalesce(f.graphCount, 0) + r.g
         RETURN r.id AS id, elementId(f) AS e`,
        { rows: featureRows },
      ),
    );
    for (const r of rows) eids.set(r.id, r.e);
  }

  // Nodes, HAS_NODE, OF and ATTRIBUTES of each graph in one statement: links address the new nodes
  // by list index and the Features by element id, so no index lookup per edge.
  for (const e of todo) {
    const links: { i: Integer; f: string }[] = [];
    e.nodes.forEach((n, i) => {
      if (n.kind === "feature") links.push({ i: int(i), f: eids.get(n.featureId as string)! });
    });
    await timed(t, "nodesAndEdges", () =>
      tx.run(
        `MATCH (t:Transcoder {id: $graph.transcoderId})
         CREATE (g:Graph) SET g = $graph
         CREATE (g)-[:USES]->(t)
         WITH g
         UNWIND $nodes AS r
         CREATE (n:GraphNode) SET n = r
         CREATE (g)-[:HAS_NODE]->(n)
         WITH collect(n) AS ns
         CALL {
           WITH ns
           UNWIND $links AS l
           MATCH (f:Feature) WHERE elementId(f) = l.f
           WITH ns[l.i] AS n, f
           CREATE (n)-[:OF]->(f)
         }
         UNWIND range(0, size($w) - 1) AS i
         WITH ns[toInteger($src[i])] AS a, ns[toInteger($dst[i])] AS b, $w[i] AS w
         CREATE (a)-[:ATTRIBUTES {weight: w}]->(b)`,
        { graph: e.graph, nodes: e.nodes, links, src: e.src, dst: e.dst, w: e.w },
      ),
    );
  }

  // INFLUENCES: the batch's pairs summed in memory, sorted by key (same lock order for every writer).
  const sums = new Map<string, PairSum>();
  todo.forEach((e) => {
    for (const [k, p] of e.pairs) {
      const q = sums.get(k);
      if (!q) sums.set(k, { ...p });
      else {
        q.s += p.s;
        q.sa += p.sa;
        q.c += p.c;
        q.g += p.g;
      }
    }
  });
  for (const [i, e] of encs.entries()) if (results[i]!.status !== "unchanged") results[i]!.pairs = e.pairs.size;
  if (sums.size > 0) {
    const keys = [...sums.keys()].sort();
    const rows = keys.map((k, i) => {
      const p = sums.get(k)!;
      return { i: int(i), k, a: eids.get(p.a)!, b: eids.get(p.b)!, s: p.s, sa: p.sa, c: int(p.c), g: int(p.g) };
    });
    await timed(t, "influences", async () => {
      const hit = await tx.rows<{ i: number }>(
        `UNWIND $rows AS p
         MATCH ()-[r:INFLUENCES {key: p.k}]->()
         SET r.weightSum = r.weightSum + p.s, r.weightAbsSum = r.weightAbsSum + p.sa,
             r.count = r.count + p.c, r.graphs = r.graphs + p.g
         RETURN p.i AS i`,
        { rows },
      );
      const found = new Set(hit.map((h) => h.i));
      const fresh = rows.filter((_, i) => !found.has(i));
      if (fresh.length > 0) {
        await tx.run(
          `UNWIND $rows AS p
           MATCH (a:Feature) WHERE elementId(a) = p.a
           MATCH (b:Feature) WHERE elementId(b) = p.b
           CREATE (a)-[:INFLUENCES {key: p.k, weightSum: p.s, weightAbsSum: p.sa, count: p.c, graphs: p.g}]->(b)`,
          { rows: fresh },
        );
      }
    });
  }
  if (validated.size > 0) {
    await timed(t, "ablation", () => refreshAblationSummaries(tx, [...validated].sort()));
  }
  return results;
}

/** Recomputes the ablation summary of the features `ids` from all their validated graph nodes. */
export async function refreshAblationSummaries(tx: Tx, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await tx.run(
    `UNWIND $ids AS id
     MATCH (f:Feature {id: id})
     OPTIONAL MATCH (f)<-[:OF]-(n:GraphNode) WHERE n.ablationPredicted IS NOT NULL
     WITH f, count(n) AS c, avg(n.ablationPredicted) AS p, avg(n.ablationMeasuredLive) AS ml,
          avg(n.ablationMeasuredFrozen) AS mf
     SET f.ablationCount = c, f.ablationPredictedMean = p, f.ablationMeasuredLiveMean = ml,
         f.ablationMeasuredFrozenMean = mf`,
    { ids },
  );
}

/** Deletes a graph, subtracting its contribution from INFLUENCES and the feature summaries. */
export async function deleteGraph(graphId: string): Promise<boolean> {
  return writeTx(async (tx) => {
    const g = await tx.maybeOne("MATCH (g:Graph {id: $id}) RETURN g.id AS id", { id: graphId });
    if (!g) return false;
    await deleteGraphIn(tx, graphId);
    return true;
  });
}

async function deleteGraphIn(tx: Tx, gid: string): Promise<void> {
  await tx.run(
    `MATCH (a:GraphNode {graphId: $gid})-[e:ATTRIBUTES]->(b:GraphNode)
     WHERE a.kind = 'feature' AND b.kind = 'feature'
     WITH a.featureId + '>' + b.featureId AS k, sum(e.weight) AS s, sum(abs(e.weight)) AS sa, count(e) AS c
     ORDER BY k
     MATCH ()-[r:INFLUENCES {key: k}]->()
     SET r.weightSum = r.weightSum - s, r.weightAbsSum = r.weightAbsSum - sa, r.count = r.count - c,
         r.graphs = r.graphs - 1
     WITH r WHERE r.count <= 0
     DELETE r`,
    { gid },
  );
  const validated = await tx.rows<{ id: string }>(
    `MATCH (n:GraphNode {graphId: $gid}) WHERE n.kind = 'feature' AND n.ablationPredicted IS NOT NULL
     RETURN DISTINCT n.featureId AS id`,
    { gid },
  );
  await tx.run(
    `MATCH (n:GraphNode {graphId: $gid})-[:OF]->(f:Feature)
     WITH DISTINCT f
     SET f.graphCount = f.graphCount - 1`,
    { gid },
  );
  await tx.run("MATCH (n:GraphNode {graphId: $gid}) DETACH DELETE n", { gid });
  await tx.run("MATCH (g:Graph {id: $gid}) DETACH DELETE g", { gid });
  await refreshAblationSummaries(
    tx,
    validated.map((r) => r.id),
  );
}

/**
 * Removes a transcoder and everything ingested for it: its graphs with their nodes, the labels and
 * features (with their INFLUENCES aggregates and virtual weights), its studies and the transcoder
 * node; the model stays (other transcoders may use it). In batches of auto-committed transactions,
 * so a GPT-2-Small-sized atlas does not have to fit one transaction. False if there was nothing.
 */
export async function deleteTranscoder(transcoderId: string): Promise<boolean> {
  const had = await readTx((tx) =>
    tx.one<{ n: number }>(
      `CALL () { MATCH (t:Transcoder {id: $t}) RETURN count(t) AS a }
       CALL () { MATCH (f:Feature {transcoderId: $t}) RETURN count(f) AS b }
       RETURN a + b AS n`,
      { t: transcoderId },
    ),
  );
  await withSession(async (s) => {
    for (const q of [
      "MATCH (:Graph {transcoderId: $t})-[:HAS_NODE]->(n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
      "MATCH (n:Graph {transcoderId: $t}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS",
      "MATCH (l:Label)-[:DESCRIBES]->(:Feature {transcoderId: $t}) CALL (l) { DETACH DELETE l } IN TRANSACTIONS OF 10000 ROWS",
      // relationships first, so no batch holds a popular feature's thousands of INFLUENCES at once
      "MATCH (:Feature {transcoderId: $t})-[r]-() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS",
      "MATCH (n:Feature {transcoderId: $t}) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS",
      "MATCH (n:Study {transcoderId: $t}) DETACH DELETE n",
      "MATCH (n:Transcoder {id: $t}) DETACH DELETE n",
    ]) {
      await s.run(q, { t: transcoderId });
    }
  });
  return had.n > 0;
}

// ── Studies ─────────────────────────────────────────────────────────────────────────────────────

export interface StudyInput {
  study: Omit<StudyRow, "ingestedAt">;
  features: (StudiedRel & { featureId: string })[];
}

/** A study and its per-feature results (replaces the previous STUDIED set of the same study). */
export async function writeStudy(input: StudyInput): Promise<number> {
  const study = encodeRow(StudyRow, { ...input.study, ingestedAt: new Date().toISOString() }, "Study", "study");
  const rels = input.features.map((f, i) => {
    const { featureId, ...rel } = f;
    const p = parseFeatureId(featureId);
    if (!p) throw new DbError(`study ${input.study.id}: feature ${i} has no qualified id (${featureId})`);
    return {
      featureId,
      layer: int(p.layer),
      featureIndex: int(p.featureIndex),
      rel: encodeRow(StudiedRel, rel, "STUDIED", `study ${input.study.id} feature ${featureId}`),
    };
  });
  await writeTx(async (tx) => {
    const t = await tx.maybeOne("MATCH (t:Transcoder {id: $id}) RETURN t.id AS id", { id: input.study.transcoderId });
    if (!t)
      throw new NotFoundError(`study ${input.study.id}: transcoder ${input.study.transcoderId} is not in the atlas`);
    await tx.run(
      `MATCH (t:Transcoder {id: $study.transcoderId})
       MERGE (s:Study {id: $study.id}) SET s = $study
       MERGE (s)-[:USES]->(t)
       WITH s
       OPTIONAL MATCH (s)-[old:STUDIED]->() DELETE old`,
      { study },
    );
    await tx.run(
      `MATCH (s:Study {id: $id})
       UNWIND $rels AS r
       MERGE (f:Feature {id: r.featureId})
         ON CREATE SET f.transcoderId = s.transcoderId, f.layer = r.layer, f.featureIndex = r.featureIndex,
                       f.featureId = toString(r.layer) + '_' + toString(r.featureIndex)
       CREATE (s)-[st:STUDIED]->(f) SET st = r.rel`,
      { id: study.id, rels },
    );
  });
  return rels.length;
}

// ── Virtual weights ─────────────────────────────────────────────────────────────────────────────

export interface VirtualEdge {
  source: string;
  target: string;
  weight: number;
}

/** Replaces the VIRTUAL edges of a transcoder's features by `edges` (batched). */
export async function writeVirtualWeights(
  transcoderId: string,
  edges: VirtualEdge[],
  opts: BatchOptions = {},
): Promise<number> {
  await writeTx((tx) => tx.run("MATCH (:Feature {transcoderId: $t})-[v:VIRTUAL]->() DELETE v", { t: transcoderId }));
  const rows = edges.map((e) => ({ a: e.source, b: e.target, w: e.weight }));
  const size = opts.batchSize ?? 20000;
  for (let i = 0; i < rows.length; i += size) {
    await writeTx((tx) =>
      tx.run(
        `UNWIND $rows AS r
         MATCH (a:Feature {id: r.a}) MATCH (b:Feature {id: r.b})
         CREATE (a)-[:VIRTUAL {weight: r.w}]->(b)`,
        { rows: rows.slice(i, i + size) },
      ),
    );
    opts.onBatch?.(Math.min(i + size, rows.length), rows.length);
  }
  return rows.length;
}

// ── Export ──────────────────────────────────────────────────────────────────────────────────────

/** Every Label (optionally of one transcoder) as stored, ordered by feature and time: for JSONL backups. */
export async function exportLabels(transcoderId?: string): Promise<LabelRow[]> {
  return readTx((tx) =>
    tx.rows(
      `MATCH (l:Label)-[:DESCRIBES]->(f:Feature)
       WHERE $t IS NULL OR f.transcoderId = $t
       RETURN l {.*} AS l ORDER BY l.featureId, l.createdAt, l.id`,
      { t: transcoderId ?? null },
    ),
  ).then((rows) => rows.map((r) => LabelRow.parse(r.l)));
}
