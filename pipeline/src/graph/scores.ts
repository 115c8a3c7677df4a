// Graph quality scores (Ameisen et al. 2025 §"Evaluating graphs"; circuit-tracer compute_graph_scores):
// - replacement score: of the logit influence that starts at embedding or error nodes, the share
//   that starts at embedding nodes: Σ inf(tokens) / (Σ inf(tokens) + Σ inf(errors));
// - completeness score: Σ_t (1 − share of t's normalized input from error nodes)·(inf(t) + w(t)),
//   divided by Σ_t (inf(t) + w(t)). Rows without inputs count as fully explained (as in circuit-tracer).
// Pruned variants (Neuronpedia's convention): every dropped feature node's outgoing edges are added
// to the error node at the same (layer, position) before |·| and normalization; rows of dropped
// nodes are removed; all error nodes stay as sinks. Edge pruning is not reflected (it keeps ≥ the
// edge threshold of the edge influence by construction).
import { type Adjacency, forEachInRow } from "./adjacency.ts";
import { type AttributionGraph, errorNodeIndex, type GraphLayout, graphLayout, logitWeights } from "./graph.ts";
import { absRowSums, computeInfluence, type NodeMask } from "./influence.ts";

export interface GraphScores {
  replacement: number;
  completeness: number;
}

export function scoresOf(a: Adjacency, layout: GraphLayout, weights: Float64Array): GraphScores {
  const rowSums = absRowSums(a);
  const influence = computeInfluence(a, weights, { rowSums });
  let tokenInf = 0;
  let errorInf = 0;
  for (let i = layout.errorStart; i < layout.tokenStart; i++) errorInf += influence[i]!;
  for (let i = layout.tokenStart; i < layout.logitStart; i++) tokenInf += influence[i]!;
  let num = 0;
  let den = 0;
  for (let t = 0; t < layout.size; t++) {
    const out = influence[t]! + weights[t]!;
    if (out === 0) continue;
    let errIn = 0;
    forEachInRow(a, t, (s, w) => {
      if (s >= layout.errorStart && s < layout.tokenStart) errIn += Math.abs(w);
    });
    const nonError = 1 - errIn / Math.max(rowSums[t]!, 1e-10);
    num += nonError * out;
    den += out;
  }
  return {
    replacement: tokenInf + errorInf > 0 ? tokenInf / (tokenInf + errorInf) : 0,
    completeness: den > 0 ? num / den : 0,
  };
}

export function graphScores(g: AttributionGraph): GraphScores {
  const layout = graphLayout(g);
  return scoresOf(g.adjacency, layout, logitWeights(g, layout));
}

/** The adjacency of the node-pruned graph with dropped features merged into their error nodes. */
export function mergedPrunedAdjacency(g: AttributionGraph, nodeMask: NodeMask): Adjacency {
  const layout = graphLayout(g);
  const n = layout.size;
  const remap = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    if (s < layout.errorStart && !nodeMask[s]) {
      const f = g.features[s]!;
      remap[s] = errorNodeIndex(layout, f.layer, f.position);
    } else remap[s] = s;
  }
  const keepRow = (t: number) => (t >= layout.errorStart && t < layout.tokenStart) || nodeMask[t] === 1;
  // Rows arrive in order, so CSR arrays are filled directly (a real graph has millions of entries).
  const rowPtr = new Int32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  const scratch = new Float64Array(n);
  const touched = new Uint8Array(n);
  const list: number[] = [];
  for (let t = 0; t < n; t++) {
    if (keepRow(t)) {
      forEachInRow(g.adjacency, t, (s, w) => {
        const r = remap[s]!;
        if (!touched[r]) {
          touched[r] = 1;
          list.push(r);
        }
        scratch[r]! += w;
      });
      list.sort((x, y) => x - y);
      for (const r of list) {
        if (scratch[r] !== 0) {
          cols.push(r);
          vals.push(scratch[r]!);
        }
        scratch[r] = 0;
        touched[r] = 0;
      }
      list.length = 0;
    }
    rowPtr[t + 1] = cols.length;
  }
  return { kind: "sparse", size: n, rowPtr, colIdx: Int32Array.from(cols), values: Float32Array.from(vals) };
}

export function prunedGraphScores(g: AttributionGraph, nodeMask: NodeMask): GraphScores {
  const layout = graphLayout(g);
  return scoresOf(mergedPrunedAdjacency(g, nodeMask), layout, logitWeights(g, layout));
}
