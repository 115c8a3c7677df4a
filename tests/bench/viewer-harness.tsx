// Browser side of bench:web — the graph viewer's link graph (GraphCanvas: canvas edges + SVG nodes)
// on a synthetic attribution graph of the requested size, and a floor page that does the least a
// hover can do in React (one state update, one text node).
// Only the RNG module: the package entry also loads Node-only helpers (fs, locks) the browser lacks.
import { Rng } from "@circuit-atlas/util/rng";
import { type ReactNode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { GraphCanvas } from "../../apps/web/src/components/graph-viewer/GraphCanvas.tsx";
import { layoutGraph } from "../../apps/web/src/lib/graph-layout.ts";
import { indexGraph, type ViewEdge, type ViewNode } from "../../apps/web/src/lib/graph-model.ts";

export interface BenchParams {
  nodes: number;
  edges: number;
  positions: number;
  layers: number;
  seed: number;
}

function synthetic(p: BenchParams) {
  const rand = new Rng(p.seed).uniform;
  const nodes: ViewNode[] = [];
  const seen = new Set<string>();
  while (nodes.length < p.nodes) {
    const layer = Math.floor(rand() * p.layers);
    const idx = Math.floor(rand() * 4096);
    const pos = 1 + Math.floor(rand() * (p.positions - 1));
    const id = `${layer}_${idx}_${pos}`;
    if (seen.has(id)) continue;
    seen.add(id);
    nodes.push({
      id,
      kind: "feature",
      layer,
      position: pos,
      activation: rand() * 5,
      influence: rand(),
      featureId: `${layer}_${idx}`,
      label: `feature ${layer}_${idx}`,
    });
  }
  // Attribution flows up the layers and never backwards in position: draw pairs until the quota is met.
  const edges: ViewEdge[] = [];
  const keys = new Set<string>();
  for (let tries = 0; edges.length < p.edges && tries < p.edges * 50; tries++) {
    const a = nodes[Math.floor(rand() * nodes.length)]!;
    const b = nodes[Math.floor(rand() * nodes.length)]!;
    const key = `${a.id}>${b.id}`;
    if (a.layer! >= b.layer! || a.position > b.position || keys.has(key)) continue;
    keys.add(key);
    edges.push({ source: a.id, target: b.id, weight: (rand() - 0.4) * 2 });
  }
  const tokens = Array.from({ length: p.positions }, (_, i) => ` t${i}`);
  return { id: "bench", prompt: "", tokens, nodes, edges, nLayers: p.layers };
}

function Viewer({ p }: { p: BenchParams }) {
  const [graph] = useState(() => indexGraph(synthetic(p)));
  const [layout] = useState(() => layoutGraph(graph, { width: 1400, height: Math.max(400, (p.layers + 2) * 64 + 72) }));
  const [hovered, setHovered] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  (window as unknown as { __edges: number }).__edges = graph.edges.length;
  return (
    <GraphCanvas
      graph={graph}
      layout={layout}
      selected={selected}
      hovered={hovered}
      pinned={[]}
      onHover={setHovered}
      onSelect={setSelected}
      onTogglePin={() => {}}
    />
  );
}

function Floor({ n }: { n: number }) {
  const [hovered, setHovered] = useState<string | null>(null);
  const items: ReactNode[] = [];
  for (let i = 0; i < n; i++)
    items.push(
      <span key={i} data-node-id={`f${i}`} className="graph-node" onPointerOver={() => setHovered(`f${i}`)}>
        ·{" "}
      </span>,
    );
  return (
    <div>
      <p>{hovered}</p>
      {items}
    </div>
  );
}

const q = new URLSearchParams(location.search);
const p: BenchParams = {
  nodes: Number(q.get("nodes") ?? 1000),
  edges: Number(q.get("edges") ?? 10000),
  positions: Number(q.get("positions") ?? 24),
  layers: Number(q.get("layers") ?? 12),
  seed: Number(q.get("seed") ?? 0),
};
const t0 = performance.now();
/** Marks the first frame after the first commit: the initial render cost as a user sees it. */
function Timed({ children }: { children: ReactNode }) {
  useEffect(() => {
    requestAnimationFrame(() =>
      setTimeout(() => ((window as unknown as { __rendered: number }).__rendered = performance.now() - t0), 0),
    );
  }, []);
  return children;
}
createRoot(document.getElementById("root")!).render(
  <Timed>{q.get("floor") ? <Floor n={p.nodes} /> : <Viewer p={p} />}</Timed>,
);
