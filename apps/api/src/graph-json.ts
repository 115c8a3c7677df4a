// Stored graph rows → the circuit-tracer / Neuronpedia graph JSON ({metadata, qParams, nodes, links}),
// the same shape `atlas trace` writes (pipeline/src/graph/json.ts), for download from the API.
import type { GraphEdgeRecord, GraphNodeRecord, GraphRecord } from "@circuit-atlas/db";

/** Cantor pairing of (layer, feature index): circuit-tracer's numeric `feature` of a CLT node. */
const cantorPair = (x: number, y: number) => ((x + y) * (x + y + 1)) / 2 + y;

const FEATURE_TYPE = {
  feature: "cross layer transcoder",
  error: "mlp reconstruction error",
  embedding: "embedding",
  logit: "logit",
} as const;

export function circuitTracerJson(
  g: GraphRecord,
  nodes: readonly GraphNodeRecord[],
  edges: readonly GraphEdgeRecord[],
  nodeThreshold: number | null,
) {
  const common = { run_idx: 0, reverse_ctx_idx: 0, is_target_logit: false, token_prob: 0 };
  return {
    metadata: {
      slug: g.id,
      scan: g.transcoderId,
      transcoder_list: [],
      prompt_tokens: g.tokens,
      prompt: g.prompt,
      node_threshold: nodeThreshold,
      schema_version: 1,
    },
    qParams: { pinnedIds: [], supernodes: [], linkType: "both", clickedId: "", sg_pos: "" },
    nodes: nodes.map((n) => {
      const base = { node_id: n.nodeId, ctx_idx: n.position, ...common, clerp: n.label ?? "" };
      switch (n.kind) {
        case "feature":
          return {
            ...base,
            feature: cantorPair(n.layer, n.featureIndex ?? 0),
            layer: String(n.layer),
            feature_type: FEATURE_TYPE.feature,
            jsNodeId: `${n.layer}_${n.featureIndex}-0`,
            influence: n.influence,
            activation: n.activation,
          };
        case "error":
          return {
            ...base,
            feature: -1,
            layer: String(n.layer),
            feature_type: FEATURE_TYPE.error,
            jsNodeId: `${n.layer}_-1-${n.position}`,
            influence: n.influence,
            activation: null,
          };
        case "embedding":
          return {
            ...base,
            feature: n.position,
            layer: "E",
            feature_type: FEATURE_TYPE.embedding,
            jsNodeId: `E_${n.tokenId ?? 0}-${n.position}`,
            influence: n.influence,
            activation: null,
          };
        default:
          // Stored logit layer = nLayers; circuit-tracer's JSON puts logits one past it.
          return {
            ...base,
            feature: n.tokenId ?? 0,
            layer: String(n.layer + 1),
            feature_type: FEATURE_TYPE.logit,
            token_prob: Math.min(1, Math.max(0, n.probability ?? 0)),
            is_target_logit: n.isTarget ?? false,
            jsNodeId: `L_${n.tokenId ?? 0}-${n.position}`,
            clerp: n.label ?? `Output "${n.token ?? ""}" (p=${(n.probability ?? 0).toFixed(3)})`,
            influence: null,
            activation: null,
          };
      }
    }),
    links: edges.map((e) => ({ source: e.source, target: e.target, weight: e.weight })),
  };
}

/**
 * Further pruning of a stored graph. Nodes: feature nodes whose cumulative influence (circuit-tracer's
 * node ranking, smaller = more important) is ≤ nodeThreshold; other kinds stay. Edges: among the
 * edges between kept nodes, the strongest by |weight| that together hold `edgeThreshold` of the total
 * |weight|. Feature nodes left without an edge are dropped (as the pipeline's export does).
 */
export function pruneStored(
  nodes: readonly GraphNodeRecord[],
  edges: readonly GraphEdgeRecord[],
  nodeThreshold: number | null,
  edgeThreshold: number | null,
): { nodes: GraphNodeRecord[]; edges: GraphEdgeRecord[] } {
  if (nodeThreshold === null && edgeThreshold === null) return { nodes: [...nodes], edges: [...edges] };
  const keep = new Set(
    nodes
      .filter((n) => n.kind !== "feature" || nodeThreshold === null || (n.influence ?? 0) <= nodeThreshold)
      .map((n) => n.nodeId),
  );
  let kept = edges.filter((e) => keep.has(e.source) && keep.has(e.target));
  if (edgeThreshold !== null && kept.length > 0) {
    const sorted = [...kept].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
    const total = sorted.reduce((s, e) => s + Math.abs(e.weight), 0);
    const out: GraphEdgeRecord[] = [];
    let acc = 0;
    for (const e of sorted) {
      if (out.length > 0 && acc >= edgeThreshold * total) break;
      out.push(e);
      acc += Math.abs(e.weight);
    }
    kept = out;
  }
  const linked = new Set<string>();
  for (const e of kept) {
    linked.add(e.source);
    linked.add(e.target);
  }
  return {
    nodes: nodes.filter((n) => keep.has(n.nodeId) && (n.kind !== "feature" || linked.has(n.nodeId))),
    edges: kept,
  };
}
