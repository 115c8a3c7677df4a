import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type AttributionGraph,
  computeInfluence,
  cumulativeRankFractions,
  cumulativeThreshold,
  denseAdjacency,
  embeddingNodeIndex,
  errorNodeIndex,
  graphLayout,
  graphScores,
  logitNodeIndex,
  logitWeights,
  mergedPrunedAdjacency,
  nodeId,
  nodeInfluence,
  prunedGraphScores,
  pruneGraph,
  sparseAdjacency,
  toDense,
  validateGraph,
} from "../src/graph/index.ts";
import { randomGraph, referenceInfluence } from "./graph-helpers.ts";

/**
 * Hand-built graph: 2 layers, positions [BOS, x], features f0 = (L0, pos 1), f1 = (L1, pos 1), one logit (p = 1).
 * Edges: logit ← f1: 3, logit ← err(1,1): −1, f1 ← f0: 2, f1 ← emb1: 2, f0 ← emb1: 1.
 * By hand: Â rows: logit = (f1 .75, err .25), f1 = (f0 .5, emb1 .5), f0 = (emb1 1).
 * influence: f1 = .75, err(1,1) = .25, f0 = .375, emb1 = .75·.5 + .375 = .75.
 */
function handGraph(): AttributionGraph {
  const g: AttributionGraph = {
    prompt: "x",
    inputTokens: [50256, 87],
    tokenStrings: ["<|endoftext|>", "x"],
    nLayers: 2,
    features: [
      { layer: 0, position: 1, featureIndex: 7, activation: 1.5 },
      { layer: 1, position: 1, featureIndex: 3, activation: 2.5 },
    ],
    logits: [{ tokenId: 42, token: "K", probability: 1 }],
    adjacency: denseAdjacency(0),
    scan: "hand",
  };
  const l = graphLayout(g);
  const a = denseAdjacency(l.size);
  const set = (t: number, s: number, w: number) => {
    a.data[t * l.size + s] = w;
  };
  const logit = logitNodeIndex(l, 0);
  set(logit, 1, 3);
  set(logit, errorNodeIndex(l, 1, 1), -1);
  set(1, 0, 2);
  set(1, embeddingNodeIndex(l, 1), 2);
  set(0, embeddingNodeIndex(l, 1), 1);
  g.adjacency = a;
  return g;
}

const close = (a: number, b: number, tol = 1e-9, msg = "") => assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b}`);

describe("graph layout and ids", () => {
  test("circuit-tracer ordering and node ids", () => {
    const g = handGraph();
    const l = validateGraph(g);
    assert.deepEqual(
      [l.nFeatures, l.errorStart, l.tokenStart, l.logitStart, l.size],
      [2, 2, 2 + 2 * 2, 2 + 4 + 2, 2 + 4 + 2 + 1],
    );
    assert.equal(nodeId(g, 0), "0_7_1");
    assert.equal(nodeId(g, 1), "1_3_1");
    assert.equal(nodeId(g, errorNodeIndex(l, 1, 0)), "1_-1_0");
    assert.equal(nodeId(g, errorNodeIndex(l, 0, 1)), "0_-1_1");
    assert.equal(nodeId(g, embeddingNodeIndex(l, 1)), "E_87_1");
    assert.equal(nodeId(g, logitNodeIndex(l, 0)), "3_42_1");
  });

  test("validateGraph rejects a mis-sized adjacency", () => {
    const g = handGraph();
    g.adjacency = denseAdjacency(3);
    assert.throws(() => validateGraph(g), /adjacency is 3×3 but the graph has 9 nodes/);
  });
});

describe("influence", () => {
  test("hand-computed influences", () => {
    const g = handGraph();
    const l = graphLayout(g);
    const inf = nodeInfluence(g);
    close(inf[1]!, 0.75);
    close(inf[errorNodeIndex(l, 1, 1)]!, 0.25);
    close(inf[0]!, 0.375);
    close(inf[embeddingNodeIndex(l, 1)]!, 0.75);
    close(inf[embeddingNodeIndex(l, 0)]!, 0);
    close(inf[logitNodeIndex(l, 0)]!, 0);
  });

  test("power series equals w·((I − Â)⁻¹ − I) from a float64 inverse (dense and sparse)", () => {
    for (const seed of [1, 2, 3]) {
      const g = randomGraph(seed, { nLayers: 3, nPos: 5, featuresPerSite: 2, nLogits: 3 });
      const l = graphLayout(g);
      const w = logitWeights(g);
      const expected = referenceInfluence(toDense(g.adjacency).data, l.size, w);
      const dense = computeInfluence(g.adjacency, w);
      const entries = [];
      const d = toDense(g.adjacency).data;
      for (let t = 0; t < l.size; t++)
        for (let s = 0; s < l.size; s++)
          if (d[t * l.size + s] !== 0) entries.push({ target: t, source: s, weight: d[t * l.size + s]! });
      const sparse = computeInfluence(sparseAdjacency(l.size, entries), w);
      let maxAbs = 0;
      for (let i = 0; i < l.size; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
        close(dense[i]!, expected[i]!, 1e-9, `dense node ${i}`);
        close(sparse[i]!, expected[i]!, 1e-9, `sparse node ${i}`);
      }
      assert.ok(maxAbs > 0.05, "reference influence is not trivial");
    }
  });

  test("a cycle is reported instead of looping forever", () => {
    const a = sparseAdjacency(2, [
      { target: 0, source: 1, weight: 1 },
      { target: 1, source: 0, weight: 1 },
    ]);
    assert.throws(() => computeInfluence(a, Float64Array.from([1, 0]), { maxIter: 50 }), /cycle/);
  });

  test("cumulative threshold keeps the crossing element (circuit-tracer boundary)", () => {
    // total 10: cumulative .4, .7, .9, 1.0
    const s = [1, 4, 3, 2];
    assert.equal(cumulativeThreshold(s, 0.7), 3); // reaches exactly .7 at the 2nd element
    assert.equal(cumulativeThreshold(s, 0.71), 2); // crossing element (2) is kept
    assert.equal(cumulativeThreshold(s, 0.0), 4);
    assert.equal(cumulativeThreshold(s, 1.0), 1);
    assert.equal(cumulativeThreshold([0, 0], 0.8), Number.POSITIVE_INFINITY);
    assert.equal(cumulativeThreshold([5, 0, 0], 1.0), 5, "never past the last non-zero score");
    assert.throws(() => cumulativeThreshold(s, 1.5), /threshold must be in \[0, 1\]/);
    const frac = cumulativeRankFractions(s);
    assert.deepEqual(
      Array.from(frac, (x) => Math.round(x * 10) / 10),
      [1.0, 0.4, 0.7, 0.9],
    );
  });
});

describe("pruning", () => {
  test("node threshold keeps the crossing node; tokens and logits always kept", () => {
    const g = handGraph();
    const l = graphLayout(g);
    // influences .75 (emb1), .75 (f1), .375 (f0), .25 (err): cumulative .35, .71, .88 → f0 crosses 0.8.
    const r = pruneGraph(g, { nodeThreshold: 0.8, edgeThreshold: 0.98 });
    assert.equal(r.nodeMask[0], 1, "crossing node f0 kept");
    assert.equal(r.nodeMask[1], 1);
    assert.equal(r.nodeMask[errorNodeIndex(l, 1, 1)], 0, "error node below the threshold dropped");
    for (let i = l.tokenStart; i < l.size; i++) assert.equal(r.nodeMask[i], 1, "tokens and logits kept");
    // Remaining edges all have score ≥ 0.5 of 2.5 total: all kept at 0.98.
    const edges = Array.from(r.edgeTargets, (t, e) => `${r.edgeSources[e]}->${t}:${r.edgeWeights[e]}`).sort();
    assert.deepEqual(edges, ["0->1:2", "1->8:3", "7->0:1", "7->1:2"]);
    assert.equal(r.nodesAfterNodeThreshold, 2 + 2 + 1);
  });

  test("edge threshold and iterative clean-up", () => {
    const g = handGraph();
    const l = graphLayout(g);
    // Edge scores on the pruned graph: logit←f1 1, f1←f0 .5, f1←emb1 .5, f0←emb1 .5 (total 2.5).
    // At 0.3 only logit←f1 survives; f1 then has no input → dropped, then f0 has no output → dropped.
    const r = pruneGraph(g, { nodeThreshold: 0.8, edgeThreshold: 0.3 });
    assert.equal(r.nodeMask[0], 0);
    assert.equal(r.nodeMask[1], 0);
    assert.equal(r.edgeTargets.length, 0);
    assert.equal(r.nodeMask[logitNodeIndex(l, 0)], 1);
  });

  test("thresholds 1.0 keep every node with influence and every non-zero edge", () => {
    const g = randomGraph(7, { nLayers: 3, nPos: 4 });
    const l = graphLayout(g);
    const inf = nodeInfluence(g);
    const r = pruneGraph(g, { nodeThreshold: 1, edgeThreshold: 1 });
    let nnzAmongKept = 0;
    const d = toDense(g.adjacency).data;
    for (let t = 0; t < l.size; t++)
      for (let s = 0; s < l.size; s++) if (d[t * l.size + s] !== 0 && r.nodeMask[t] && r.nodeMask[s]) nnzAmongKept++;
    for (let i = 0; i < l.tokenStart; i++) if (inf[i]! > 0) assert.equal(r.nodeMask[i], 1, `node ${i}`);
    assert.equal(r.edgeTargets.length, nnzAmongKept);
  });

  test("default pruning on a random graph keeps fewer nodes and edges, kept edges reference kept nodes", () => {
    const g = randomGraph(11, { nLayers: 4, nPos: 6, featuresPerSite: 3 });
    const l = graphLayout(g);
    const r = pruneGraph(g);
    let kept = 0;
    for (const m of r.nodeMask) kept += m;
    assert.ok(kept < l.size);
    for (let e = 0; e < r.edgeTargets.length; e++) {
      assert.equal(r.nodeMask[r.edgeTargets[e]!], 1);
      assert.equal(r.nodeMask[r.edgeSources[e]!], 1);
      assert.equal(r.edgeWeights[e], toDense(g.adjacency).data[r.edgeTargets[e]! * l.size + r.edgeSources[e]!]);
    }
    // Every kept feature has an input and an output edge.
    for (let i = 0; i < l.errorStart; i++) {
      if (!r.nodeMask[i]) continue;
      assert.ok(r.edgeSources.includes(i) && r.edgeTargets.includes(i), `feature ${i} connected`);
    }
    assert.throws(() => pruneGraph(g, { nodeThreshold: 2 }), /nodeThreshold must be between 0 and 1/);
  });
});

describe("scores", () => {
  test("hand-computed replacement and completeness", () => {
    const s = graphScores(handGraph());
    close(s.replacement, 0.75);
    // Σ nonError·(inf + w) / Σ (inf + w) = (.75 + .75 + .375 + .75 + .25) / (1 + .75 + .375 + .75 + .25)
    close(s.completeness, 2.875 / 3.125);
  });

  test("a graph without error inputs scores 1 and 1; logits fed only by errors score replacement 0", () => {
    const g = handGraph();
    const l = graphLayout(g);
    toDense(g.adjacency).data[logitNodeIndex(l, 0) * l.size + errorNodeIndex(l, 1, 1)] = 0;
    const s = graphScores(g);
    close(s.replacement, 1);
    close(s.completeness, 1);
    const h = handGraph();
    toDense(h.adjacency).data[logitNodeIndex(l, 0) * l.size + 1] = 0;
    close(graphScores(h).replacement, 0);
  });

  test("pruned scores: keeping every node reproduces the unpruned scores", () => {
    const g = randomGraph(5, { nLayers: 3, nPos: 5 });
    const all = new Uint8Array(graphLayout(g).size).fill(1);
    const a = graphScores(g);
    const b = prunedGraphScores(g, all);
    close(a.replacement, b.replacement, 1e-6);
    close(a.completeness, b.completeness, 1e-6);
  });

  test("pruned scores merge a dropped feature into its error node (hand-computed)", () => {
    const g = handGraph();
    const l = graphLayout(g);
    const mask = new Uint8Array(l.size).fill(1);
    mask[0] = 0; // drop f0 (layer 0, pos 1): its edge f1←f0 (2) moves to err(0,1)
    const merged = toDense(mergedPrunedAdjacency(g, mask)).data;
    assert.equal(merged[1 * l.size + errorNodeIndex(l, 0, 1)], 2);
    assert.equal(merged[1 * l.size + 0], 0);
    // f1 = .75, err(1,1) = .25, err(0,1) = .375, emb1 = .375 → replacement .375 / (.375 + .625)
    const s = prunedGraphScores(g, mask);
    close(s.replacement, 0.375);
    assert.ok(s.completeness < graphScores(g).completeness);
  });
});
