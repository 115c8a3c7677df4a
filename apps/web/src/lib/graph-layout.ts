// Layer × position layout in the manner of circuit-tracer's viewer: x is the token position, each
// column as wide as its busiest (position, layer) cell needs; y is the layer, embeddings at the
// bottom and logits at the top. Inside a cell the nodes sit side by side, most influential first.
import { type IndexedGraph, rowOf, type ViewNode } from "./graph-model.ts";

export interface LayoutOptions {
  width: number;
  height: number;
  /** Space left for the token labels under the plot and the layer labels on its left. */
  margin?: { top: number; right: number; bottom: number; left: number };
  /** Horizontal room per node in a cell, before the columns are scaled to the width. */
  nodeSpacing?: number;
}

export interface Column {
  position: number;
  x0: number;
  x1: number;
}

export interface Layout {
  /** Centre of each node, by node id. */
  xy: Map<string, { x: number; y: number }>;
  columns: Column[];
  /** y of each row (0 = embeddings … nLayers + 1 = logits). */
  rowY: number[];
  width: number;
  height: number;
}

export const DEFAULT_MARGIN = { top: 24, right: 16, bottom: 56, left: 56 };

const cellOrder = (a: ViewNode, b: ViewNode) => {
  // Error nodes last in their cell; otherwise by influence (circuit-tracer's cumulative influence
  // fraction: smaller = more important, unknown last), then |activation|, then id for stability.
  const ea = a.kind === "error" ? 1 : 0;
  const eb = b.kind === "error" ? 1 : 0;
  if (ea !== eb) return ea - eb;
  const ia = a.influence ?? Number.POSITIVE_INFINITY;
  const ib = b.influence ?? Number.POSITIVE_INFINITY;
  if (ia !== ib) return ia < ib ? -1 : 1;
  const aa = Math.abs(a.activation ?? 0);
  const ab = Math.abs(b.activation ?? 0);
  if (aa !== ab) return ab - aa;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
};

export function layoutGraph(g: Pick<IndexedGraph, "nodes" | "nLayers" | "tokens">, o: LayoutOptions): Layout {
  const m = o.margin ?? DEFAULT_MARGIN;
  const nRows = g.nLayers + 2;
  const nPos = Math.max(g.tokens.length, 1 + Math.max(-1, ...g.nodes.map((n) => n.position)));
  const cells = new Map<number, ViewNode[]>();
  const key = (pos: number, row: number) => pos * nRows + row;
  for (const n of g.nodes) {
    const k = key(n.position, rowOf(n, g.nLayers));
    const list = cells.get(k);
    if (list) list.push(n);
    else cells.set(k, [n]);
  }
  // Column weight = the busiest cell of that position (at least 1, so every token keeps a column).
  const weight = new Array<number>(nPos).fill(1);
  for (const [k, list] of cells) {
    const pos = Math.floor(k / nRows);
    weight[pos] = Math.max(weight[pos]!, list.length);
  }
  const innerW = Math.max(1, o.width - m.left - m.right);
  const innerH = Math.max(1, o.height - m.top - m.bottom);
  const total = weight.reduce((s, w) => s + w, 0);
  const columns: Column[] = [];
  let x = m.left;
  for (let p = 0; p < nPos; p++) {
    const w = (innerW * weight[p]!) / total;
    columns.push({ position: p, x0: x, x1: x + w });
    x += w;
  }
  const rowY = Array.from(
    { length: nRows },
    (_, r) => m.top + (nRows === 1 ? innerH / 2 : ((nRows - 1 - r) * innerH) / (nRows - 1)),
  );
  const xy = new Map<string, { x: number; y: number }>();
  for (const [k, list] of cells) {
    const pos = Math.floor(k / nRows);
    const row = k % nRows;
    const col = columns[pos]!;
    list.sort(cellOrder);
    const step = (col.x1 - col.x0) / list.length;
    list.forEach((n, i) => {
      xy.set(n.id, { x: col.x0 + step * (i + 0.5), y: rowY[row]! });
    });
  }
  return { xy, columns, rowY, width: o.width, height: o.height };
}

/** Edge stroke width on a square-root scale of |weight| / max |weight| (as circuit-tracer's viewer). */
export function edgeWidth(weight: number, maxAbs: number, maxWidth = 4): number {
  if (maxAbs <= 0) return 0.5;
  return 0.4 + (maxWidth - 0.4) * Math.sqrt(Math.min(1, Math.abs(weight) / maxAbs));
}
