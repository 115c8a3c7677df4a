// Pruning (Ameisen et al. 2025; circuit-tracer's prune_graph):
// 1. nodes: keep those carrying `nodeThreshold` (0.8) of the total logit influence. Boundary
//    choice: circuit-tracer's — the node at which the descending cumulative sum crosses the
//    threshold is kept, together with every node of equal influence (Anthropic's pseudocode would
//    stop just before it). Embedding and logit nodes are always kept.
// 2. edges: on the node-pruned graph, re-normalize |A| rows (Â'), score each edge Â'[t,s]·(inf'(t) +
//    w_logit(t)) and keep the top edges covering `edgeThreshold` (0.98) of the total score.
// 3. clean-up, repeated until stable: drop feature/error nodes without a kept outgoing edge and
//    feature nodes without a kept incoming edge; drop the edges of dropped nodes.
import { type AttributionGraph, graphLayout, logitWeights } from "./graph.ts";
import {
  absRowSums,
  computeInfluence,
  cumulativeRankFractions,
  cumulativeThreshold,
  type NodeMask,
  nodeInfluence,
} from "./influence.ts";

export interface PruneOptions {
  nodeThreshold?: number;
  edgeThreshold?: number;
}

export interface PruneResult {
  nodeThreshold: number;
  edgeThreshold: number;
  /** 1 = node kept after all passes. */
  nodeMask: NodeMask;
  /** Kept edges (parallel arrays), with the raw signed weight A[t, s]. */
  edgeTargets: Int32Array;
  edgeSources: Int32Array;
  edgeWeights: Float32Array;
  /** Logit influence of every node in the unpruned graph. */
  influence: Float64Array;
  /** circuit-tracer's cumulative rank fraction (smaller = more important). */
  cumulativeInfluence: Float64Array;
  /** Nodes kept by the node threshold alone (before the edge clean-up). */
  nodesAfterNodeThreshold: number;
}

export function pruneGraph(g: AttributionGraph, options: PruneOptions = {}): PruneResult {
  const nodeThreshold = options.nodeThreshold ?? 0.8;
  const edgeThreshold = options.edgeThreshold ?? 0.98;
  for (const [name, v] of [
    ["nodeThreshold", nodeThreshold],
    ["edgeThreshold", edgeThreshold],
  ] as const) {
    if (!(v >= 0 && v <= 1)) throw new Error(`${name} must be between 0 and 1, got ${v}`);
  }
  const layout = graphLayout(g);
  const n = layout.size;
  const a = g.adjacency;
  const weights = logitWeights(g, layout);

  const influence = nodeInfluence(g);
  const nodeCut = cumulativeThreshold(influence, nodeThreshold);
  const nodeMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (i >= layout.tokenStart || (influence[i]! > 0 && influence[i]! >= nodeCut)) nodeMask[i] = 1;
  }
  let nodesAfterNodeThreshold = 0;
  for (const m of nodeMask) nodesAfterNodeThreshold += m;

  // Edge scores on the node-pruned graph.
  const rowSums = absRowSums(a, nodeMask);
  const prunedInfluence = computeInfluence(a, weights, { keep: nodeMask, rowSums });
  const tList: number[] = [];
  const sList: number[] = [];
  const scoreList: number[] = [];
  for (let t = 0; t < n; t++) {
    if (!nodeMask[t] || rowSums[t]! <= 0) continue;
    const factor = (prunedInfluence[t]! + weights[t]!) / rowSums[t]!;
    if (!(factor > 0)) continue;
    const visit = (s: number, w: number) => {
      if (!nodeMask[s] || w === 0) return;
      tList.push(t);
      sList.push(s);
      scoreList.push(Math.abs(w) * factor);
    };
    if (a.kind === "dense") {
      const base = t * n;
      for (let s = 0; s < n; s++) {
        const w = a.data[base + s]!;
        if (w !== 0) visit(s, w);
      }
    } else {
      for (let k = a.rowPtr[t]!; k < a.rowPtr[t + 1]!; k++) visit(a.colIdx[k]!, a.values[k]!);
    }
  }
  const edgeCut = cumulativeThreshold(scoreList, edgeThreshold);
  let edgeKeep = scoreList.map((sc) => sc > 0 && sc >= edgeCut);

  // Clean-up until nothing changes.
  for (;;) {
    const hasOut = new Uint8Array(n);
    const hasIn = new Uint8Array(n);
    for (let e = 0; e < edgeKeep.length; e++) {
      if (!edgeKeep[e]) continue;
      hasOut[sList[e]!] = 1;
      hasIn[tList[e]!] = 1;
    }
    let changed = false;
    for (let i = 0; i < layout.tokenStart; i++) {
      if (!nodeMask[i]) continue;
      const isFeature = i < layout.errorStart;
      if (!hasOut[i] || (isFeature && !hasIn[i])) {
        nodeMask[i] = 0;
        changed = true;
      }
    }
    if (!changed) break;
    edgeKeep = edgeKeep.map((k, e) => k && nodeMask[tList[e]!] === 1 && nodeMask[sList[e]!] === 1);
  }

  const kept: number[] = [];
  for (let e = 0; e < edgeKeep.length; e++) if (edgeKeep[e]) kept.push(e);
  const edgeTargets = Int32Array.from(kept, (e) => tList[e]!);
  const edgeSources = Int32Array.from(kept, (e) => sList[e]!);
  const edgeWeights = new Float32Array(kept.length);
  kept.forEach((e, k) => {
    const t = tList[e]!;
    const s = sList[e]!;
    edgeWeights[k] = a.kind === "dense" ? a.data[t * n + s]! : sparseGet(a, t, s);
  });
  return {
    nodeThreshold,
    edgeThreshold,
    nodeMask,
    edgeTargets,
    edgeSources,
    edgeWeights,
    influence,
    cumulativeInfluence: cumulativeRankFractions(influence),
    nodesAfterNodeThreshold,
  };
}

function sparseGet(a: Extract<AttributionGraph["adjacency"], { kind: "sparse" }>, t: number, s: number): number {
  for (let k = a.rowPtr[t]!; k < a.rowPtr[t + 1]!; k++) if (a.colIdx[k] === s) return a.values[k]!;
  return 0;
}

export function countKept(mask: NodeMask): number {
  let c = 0;
  for (const m of mask) c += m;
  return c;
}
