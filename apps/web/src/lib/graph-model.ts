// The graph viewer's own view of an attribution graph: what the GraphQL `Graph` query returns,
// flattened into plain arrays and indexed once, so hover/click/pruning never rescan the whole graph.

export type NodeKind = "feature" | "error" | "embedding" | "logit";

export interface ViewNode {
  id: string;
  kind: NodeKind;
  /** Block index for features/errors; null for embeddings and logits (drawn below / above the blocks). */
  layer: number | null;
  position: number;
  activation: number | null;
  influence: number | null;
  /** "{layer}_{featureIndex}" for feature nodes. */
  featureId: string | null;
  /** Feature label (features), the token (embeddings, logits), or null. */
  label: string | null;
}

export interface ViewEdge {
  source: string;
  target: string;
  weight: number;
}

export interface ViewGraph {
  id: string;
  prompt: string;
  tokens: string[];
  nodes: ViewNode[];
  edges: ViewEdge[];
  /** Blocks of the model (the logit row sits above the last); inferred from the nodes when absent. */
  nLayers?: number;
}

export interface IndexedGraph extends ViewGraph {
  byId: Map<string, ViewNode>;
  /** Edges into each node (node is the target), strongest |weight| first. */
  inputs: Map<string, ViewEdge[]>;
  /** Edges out of each node (node is the source), strongest |weight| first. */
  outputs: Map<string, ViewEdge[]>;
  maxAbsWeight: number;
  nLayers: number;
}

const byAbsWeight = (a: ViewEdge, b: ViewEdge) => Math.abs(b.weight) - Math.abs(a.weight);

export function indexGraph(g: ViewGraph): IndexedGraph {
  const byId = new Map<string, ViewNode>();
  let nLayers = g.nLayers ?? 0;
  for (const n of g.nodes) {
    byId.set(n.id, n);
    if (n.layer !== null) nLayers = Math.max(nLayers, n.layer + 1);
  }
  const inputs = new Map<string, ViewEdge[]>();
  const outputs = new Map<string, ViewEdge[]>();
  let maxAbsWeight = 0;
  const edges: ViewEdge[] = [];
  for (const e of g.edges) {
    // Edges whose ends were pruned away cannot be drawn; keep the rest.
    if (!byId.has(e.source) || !byId.has(e.target)) continue;
    edges.push(e);
    maxAbsWeight = Math.max(maxAbsWeight, Math.abs(e.weight));
    push(inputs, e.target, e);
    push(outputs, e.source, e);
  }
  for (const list of inputs.values()) list.sort(byAbsWeight);
  for (const list of outputs.values()) list.sort(byAbsWeight);
  return { ...g, edges, byId, inputs, outputs, maxAbsWeight, nLayers };
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** Row of a node in the layer × position grid: 0 = embeddings, 1..nLayers = blocks, nLayers+1 = logits. */
export function rowOf(n: ViewNode, nLayers: number): number {
  if (n.kind === "embedding") return 0;
  if (n.kind === "logit") return nLayers + 1;
  return (n.layer ?? 0) + 1;
}

/** The subgraph of pinned nodes: the pinned nodes (in the given order, unknown ids dropped) and the edges among them. */
export function pinnedSubgraph(g: IndexedGraph, pinned: readonly string[]): { nodes: ViewNode[]; edges: ViewEdge[] } {
  const keep = new Set(pinned.filter((id) => g.byId.has(id)));
  const nodes = [...keep].map((id) => g.byId.get(id)!);
  const edges = g.edges.filter((e) => keep.has(e.source) && keep.has(e.target));
  return { nodes, edges };
}

export function nodeTitle(n: ViewNode): string {
  switch (n.kind) {
    case "feature":
      return n.label?.trim() ? n.label : `feature ${n.featureId ?? n.id}`;
    case "error":
      return `MLP reconstruction error, layer ${n.layer}`;
    case "embedding":
      return `embedding ${JSON.stringify(n.label ?? "")}`;
    case "logit":
      return `logit ${JSON.stringify(n.label ?? "")}`;
  }
}
