// The graph viewer's pure parts: indexing, layout (circuit-tracer's layer × position grid), URL state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_MARGIN, edgeWidth, layoutGraph } from "../src/lib/graph-layout.ts";
import { indexGraph, nodeTitle, pinnedSubgraph, type ViewGraph, type ViewNode } from "../src/lib/graph-model.ts";
import { DEFAULT_VIEW, parseViewState, serializeViewState, togglePinned } from "../src/lib/graph-state.ts";

const node = (
  id: string,
  kind: ViewNode["kind"],
  layer: number | null,
  position: number,
  influence: number | null = null,
): ViewNode => ({
  id,
  kind,
  layer,
  position,
  activation: 1,
  influence,
  featureId: kind === "feature" ? id.split("_").slice(0, 2).join("_") : null,
  label: kind === "feature" ? `label ${id}` : "tok",
});

const sample = (): ViewGraph => ({
  id: "g",
  prompt: "a b c",
  tokens: ["<bos>", " a", " b"],
  nodes: [
    node("E_1_0", "embedding", null, 0),
    node("E_2_1", "embedding", null, 1),
    node("0_5_1", "feature", 0, 1, 0.3),
    node("0_6_1", "feature", 0, 1, 0.1),
    node("0_-1_1", "error", 0, 1),
    node("1_7_2", "feature", 1, 2, 0.2),
    node("2_9_2", "logit", null, 2),
  ],
  edges: [
    { source: "E_2_1", target: "0_5_1", weight: 0.5 },
    { source: "0_5_1", target: "1_7_2", weight: -2 },
    { source: "0_6_1", target: "1_7_2", weight: 1 },
    { source: "1_7_2", target: "2_9_2", weight: 3 },
    { source: "0_6_1", target: "missing", weight: 9 },
  ],
});

test("indexGraph drops edges to unknown nodes and orders each node's inputs/outputs by |weight|", () => {
  const g = indexGraph(sample());
  assert.equal(g.edges.length, 4);
  assert.equal(g.maxAbsWeight, 3);
  assert.equal(g.nLayers, 2);
  assert.deepEqual(
    g.inputs.get("1_7_2")!.map((e) => e.source),
    ["0_5_1", "0_6_1"],
  );
  assert.deepEqual(
    g.outputs.get("0_6_1")!.map((e) => e.target),
    ["1_7_2"],
  );
  assert.equal(g.inputs.get("E_1_0"), undefined);
});

test("pinnedSubgraph keeps pinned nodes in pin order and only the edges among them", () => {
  const g = indexGraph(sample());
  const sub = pinnedSubgraph(g, ["1_7_2", "0_5_1", "nope"]);
  assert.deepEqual(
    sub.nodes.map((n) => n.id),
    ["1_7_2", "0_5_1"],
  );
  assert.deepEqual(sub.edges, [{ source: "0_5_1", target: "1_7_2", weight: -2 }]);
});

test("layout: x follows token position, y follows layer (embeddings bottom, logits top), all inside the margins", () => {
  const g = indexGraph(sample());
  const L = layoutGraph(g, { width: 600, height: 400 });
  const p = (id: string) => L.xy.get(id)!;
  assert.equal(L.xy.size, g.nodes.length);
  assert.ok(p("E_1_0").y > p("0_5_1").y, "embedding below layer 0");
  assert.ok(p("0_5_1").y > p("1_7_2").y, "layer 0 below layer 1");
  assert.ok(p("1_7_2").y > p("2_9_2").y, "logit on top");
  assert.ok(p("E_1_0").x < p("E_2_1").x && p("E_2_1").x < p("1_7_2").x, "x increases with position");
  for (const { x, y } of L.xy.values()) {
    assert.ok(x >= DEFAULT_MARGIN.left && x <= 600 - DEFAULT_MARGIN.right, `x ${x}`);
    assert.ok(y >= DEFAULT_MARGIN.top && y <= 400 - DEFAULT_MARGIN.bottom, `y ${y}`);
  }
  // Position 1's busiest cell holds 3 nodes (two features + an error) → its column is 3× the others.
  const w = L.columns.map((c) => c.x1 - c.x0);
  assert.ok(Math.abs(w[1]! - 3 * w[0]!) < 1e-9 && Math.abs(w[0]! - w[2]!) < 1e-9, `widths ${w}`);
  // Inside a cell: most influential (smallest cumulative influence) first, error node last.
  assert.ok(p("0_6_1").x < p("0_5_1").x && p("0_5_1").x < p("0_-1_1").x);
});

test("layout stays finite for a 1,000-node graph and gives every node its own point", () => {
  const nodes: ViewNode[] = [];
  for (let i = 0; i < 1000; i++) nodes.push(node(`${i % 12}_${i}_${i % 20}`, "feature", i % 12, i % 20, i / 1000));
  const g = indexGraph({
    id: "big",
    prompt: "",
    tokens: Array.from({ length: 20 }, (_, i) => `t${i}`),
    nodes,
    edges: [],
  });
  const L = layoutGraph(g, { width: 1200, height: 700 });
  const seen = new Set<string>();
  for (const { x, y } of L.xy.values()) {
    assert.ok(Number.isFinite(x) && Number.isFinite(y));
    seen.add(`${x.toFixed(3)},${y.toFixed(3)}`);
  }
  assert.equal(seen.size, 1000);
});

test("edge width grows with sqrt(|w| / max) between a floor and the maximum", () => {
  assert.equal(edgeWidth(0, 2), 0.4);
  assert.equal(edgeWidth(-2, 2), 4);
  assert.ok(Math.abs(edgeWidth(0.5, 2) - (0.4 + 3.6 * 0.5)) < 1e-12);
});

test("view state round-trips through the URL and rejects bad thresholds", () => {
  const s = { nodeThreshold: 0.55, edgeThreshold: 0.9, selected: "1_7_2", pinned: ["0_5_1", "E_2_1"] };
  const q = serializeViewState(s);
  assert.deepEqual(parseViewState(new URLSearchParams(q)), s);
  assert.equal(serializeViewState(DEFAULT_VIEW), "");
  const bad = parseViewState({ nodeThreshold: "2", edgeThreshold: "NaN", pinned: "a,,a, b" });
  assert.equal(bad.nodeThreshold, DEFAULT_VIEW.nodeThreshold);
  assert.equal(bad.edgeThreshold, DEFAULT_VIEW.edgeThreshold);
  assert.deepEqual(bad.pinned, ["a", "b"]);
  assert.deepEqual(togglePinned(["a", "b"], "a"), ["b"]);
  assert.deepEqual(togglePinned(["b"], "a"), ["b", "a"]);
});

test("node titles: feature labels, with fallbacks that say what the node is", () => {
  assert.equal(nodeTitle(node("0_5_1", "feature", 0, 1)), "label 0_5_1");
  assert.equal(nodeTitle({ ...node("0_5_1", "feature", 0, 1), label: null }), "feature 0_5");
  assert.equal(nodeTitle(node("0_-1_1", "error", 0, 1)), "MLP reconstruction error, layer 0");
  assert.equal(nodeTitle(node("E_1_0", "embedding", null, 0)), 'embedding "tok"');
});

test("the model's block count from the API keeps the logit row above the last block even when it has no nodes", () => {
  const g = indexGraph({ ...sample(), nLayers: 4 });
  assert.equal(g.nLayers, 4);
  const L = layoutGraph(g, { width: 600, height: 400 });
  assert.equal(L.rowY.length, 6);
  assert.equal(L.xy.get("2_9_2")!.y, L.rowY[5]);
});
