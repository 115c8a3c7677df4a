// Atlas test helpers: a per-run transcoder scope, small deterministic graphs, cleanup, and the
// independent Cypher that recomputes aggregates from the per-graph edges.

import { type GraphInput, qualifiedFeatureId, upsertModels, upsertTranscoders } from "../src/atlas/index.ts";
import { readTx, writeTx } from "../src/driver.ts";
import { RUN } from "./helpers.ts";

/** Ids unique to this test process (no "/"). */
export function scope(name: string): { transcoderId: string; modelId: string; graphPrefix: string } {
  const base = `${RUN}-${name}`;
  return { transcoderId: `${base}-clt`, modelId: `${base}-model`, graphPrefix: `${base}-g` };
}

/** The scope's model and transcoder: 4 layers, d_model 8, `nFeatures` per layer, our CLT's hooks. */
export async function upsertScope(s: ReturnType<typeof scope>, nFeatures: number): Promise<void> {
  await upsertModels([{ id: s.modelId, name: "test model", nLayers: 4, dModel: 8 }]);
  await upsertTranscoders([
    {
      id: s.transcoderId,
      modelId: s.modelId,
      kind: "clt",
      nLayers: 4,
      dModel: 8,
      nFeatures,
      featureInputHook: "hook_resid_mid",
      featureOutputHook: "hook_mlp_out",
    },
  ]);
}

/** Deletes everything the scope wrote. */
export async function cleanupScope(s: ReturnType<typeof scope>): Promise<void> {
  await writeTx(async (tx) => {
    await tx.run("MATCH (n:GraphNode) WHERE n.graphId STARTS WITH $p DETACH DELETE n", { p: s.graphPrefix });
    await tx.run("MATCH (n:Graph) WHERE n.id STARTS WITH $p DETACH DELETE n", { p: s.graphPrefix });
    await tx.run("MATCH (n:Label) WHERE n.featureId STARTS WITH $p DETACH DELETE n", { p: `${s.transcoderId}/` });
    await tx.run("MATCH (n:Feature {transcoderId: $t}) DETACH DELETE n", { t: s.transcoderId });
    await tx.run("MATCH (n:Study {transcoderId: $t}) DETACH DELETE n", { t: s.transcoderId });
    await tx.run("MATCH (n:Transcoder {id: $t}) DETACH DELETE n", { t: s.transcoderId });
    await tx.run("MATCH (n:Model {id: $m}) DETACH DELETE n", { m: s.modelId });
  });
}

/**
 * A small graph: `features` = [layer, featureIndex, position] triples, 2 error nodes, 1 embedding,
 * 1 logit; edges from every lower-layer node to every higher-layer node (and everything → logit)
 * with weights from a formula (`seed` varies them).
 */
export function smallGraph(
  s: ReturnType<typeof scope>,
  name: string,
  features: [number, number, number][],
  seed: number,
): GraphInput {
  const nodes: GraphInput["nodes"] = features.map(([layer, featureIndex, position]) => ({
    nodeId: `${layer}_${featureIndex}_${position}`,
    kind: "feature" as const,
    layer,
    position,
    featureIndex,
    featureId: qualifiedFeatureId(s.transcoderId, layer, featureIndex),
    activation: 1 + ((featureIndex * 7 + seed) % 5),
    influence: 0.1 * (1 + (featureIndex % 3)),
  }));
  nodes.push(
    { nodeId: "0_-1_1", kind: "error", layer: 0, position: 1 },
    { nodeId: "1_-1_2", kind: "error", layer: 1, position: 2 },
    { nodeId: "E_50256_0", kind: "embedding", layer: -1, position: 0, tokenId: 50256, token: "<|endoftext|>" },
    {
      nodeId: "4_17_2",
      kind: "logit",
      layer: 4,
      position: 2,
      tokenId: 17,
      token: "2",
      probability: 0.5,
      isTarget: true,
    },
  );
  const edges: GraphInput["edges"] = [];
  for (let a = 0; a < nodes.length; a++) {
    for (let b = 0; b < nodes.length; b++) {
      const na = nodes[a]!;
      const nb = nodes[b]!;
      if (na.kind === "logit" || a === b) continue;
      if (nb.kind === "logit" || (nb.layer > na.layer && nb.kind !== "embedding")) {
        edges.push({ source: a, target: b, weight: Math.sin(1 + a * 3.1 + b * 1.7 + seed) });
      }
    }
  }
  return {
    graph: {
      id: `${s.graphPrefix}-${name}`,
      transcoderId: s.transcoderId,
      prompt: `prompt ${name}`,
      tokens: ["<|endoftext|>", "a", "b"],
      inputTokens: [50256, 64, 65],
      targetLogits: JSON.stringify([{ tokenId: 17, token: "2", probability: 0.5 }]),
      contentHash: `hash-${name}-${seed}`,
    },
    nodes,
    edges,
  };
}

export interface PairAggregate {
  a: string;
  b: string;
  /** Stored key (recomputed rows carry the key the writers must have used). */
  key: string;
  weightSum: number;
  weightAbsSum: number;
  count: number;
  graphs: number;
}

/** INFLUENCES of the scope as stored. */
export function storedInfluences(transcoderId: string): Promise<PairAggregate[]> {
  return readTx((tx) =>
    tx.rows<PairAggregate>(
      `MATCH (a:Feature {transcoderId: $t})-[r:INFLUENCES]->(b:Feature)
       RETURN a.id AS a, b.id AS b, r.key AS key, r.weightSum AS weightSum, r.weightAbsSum AS weightAbsSum,
              r.count AS count, r.graphs AS graphs ORDER BY a, b`,
      { t: transcoderId },
    ),
  );
}

/** The same aggregates recomputed from the per-graph ATTRIBUTES edges (independent of the writer). */
export function recomputedInfluences(transcoderId: string): Promise<PairAggregate[]> {
  return readTx((tx) =>
    tx.rows<PairAggregate>(
      `MATCH (g:Graph {transcoderId: $t})-[:HAS_NODE]->(x:GraphNode)-[e:ATTRIBUTES]->(y:GraphNode),
             (x)-[:OF]->(a:Feature), (y)-[:OF]->(b:Feature)
       RETURN a.id AS a, b.id AS b, a.id + '>' + b.id AS key, sum(e.weight) AS weightSum, sum(abs(e.weight)) AS weightAbsSum,
              count(e) AS count, count(DISTINCT g) AS graphs ORDER BY a, b`,
      { t: transcoderId },
    ),
  );
}

/** Node and relationship counts of the scope (for idempotency checks). */
export function scopeCounts(s: ReturnType<typeof scope>): Promise<Record<string, number>> {
  return readTx((tx) =>
    tx.one<Record<string, number>>(
      `CALL { MATCH (n:Feature {transcoderId: $t}) RETURN count(n) AS features }
       CALL { MATCH (n:Graph {transcoderId: $t}) RETURN count(n) AS graphs }
       CALL { MATCH (n:GraphNode) WHERE n.graphId STARTS WITH $p RETURN count(n) AS graphNodes }
       CALL { MATCH (n:GraphNode)-[r:ATTRIBUTES]->() WHERE n.graphId STARTS WITH $p RETURN count(r) AS attributes }
       CALL { MATCH (n:GraphNode)-[r:OF]->() WHERE n.graphId STARTS WITH $p RETURN count(r) AS ofs }
       CALL { MATCH (:Graph {transcoderId: $t})-[r:HAS_NODE]->() RETURN count(r) AS hasNode }
       CALL { MATCH (:Feature {transcoderId: $t})-[r:INFLUENCES]->() RETURN count(r) AS influences }
       CALL { MATCH (n:Label) WHERE n.featureId STARTS WITH $f RETURN count(n) AS labels }
       CALL { MATCH (:Feature {transcoderId: $t})-[r:VIRTUAL]->() RETURN count(r) AS virtual }
       CALL { MATCH (:Study {transcoderId: $t})-[r:STUDIED]->() RETURN count(r) AS studied }
       RETURN features, graphs, graphNodes, attributes, ofs, hasNode, influences, labels, virtual, studied`,
      { t: s.transcoderId, p: s.graphPrefix, f: `${s.transcoderId}/` },
    ),
  );
}
