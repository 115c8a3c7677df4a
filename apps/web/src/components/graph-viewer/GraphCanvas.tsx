"use client";
// The link graph: edges on a canvas (thousands of lines stay cheap), nodes as SVG elements (native
// hover, click, focus and labels for assistive technology). Hover only redraws the highlight layer.
import { type KeyboardEvent, memo, type PointerEvent, useEffect, useMemo, useRef } from "react";
import { fmt, showToken } from "../../lib/format.ts";
import { edgeWidth, type Layout } from "../../lib/graph-layout.ts";
import { type IndexedGraph, nodeTitle, rowOf, type ViewEdge, type ViewNode } from "../../lib/graph-model.ts";

export interface GraphCanvasProps {
  graph: IndexedGraph;
  layout: Layout;
  selected: string | null;
  hovered: string | null;
  pinned: readonly string[];
  onHover: (id: string | null) => void;
  onSelect: (id: string) => void;
  onTogglePin: (id: string) => void;
}

const POS = "27, 120, 55";
const NEG = "156, 42, 142";
const NODE_R = 5;

export function GraphCanvas(p: GraphCanvasProps) {
  const { graph, layout } = p;
  const base = useRef<HTMLCanvasElement>(null);
  const overlay = useRef<HTMLCanvasElement>(null);
  const focus = p.hovered ?? p.selected;

  useEffect(() => {
    const c = base.current;
    if (!c) return;
    const ctx = setupCanvas(c, layout.width, layout.height);
    drawEdges(ctx, graph.edges, layout, graph.maxAbsWeight, focus ? 0.12 : 0.45);
  }, [graph, layout, focus]);

  useEffect(() => {
    const c = overlay.current;
    if (!c) return;
    const ctx = setupCanvas(c, layout.width, layout.height);
    if (!focus) return;
    const mine = [...(graph.inputs.get(focus) ?? []), ...(graph.outputs.get(focus) ?? [])];
    drawEdges(ctx, mine, layout, graph.maxAbsWeight, 1);
    // The same feature at its other positions (as circuit-tracer's viewer marks them).
    const fid = graph.byId.get(focus)?.featureId;
    if (!fid) return;
    ctx.strokeStyle = "rgba(194, 65, 12, 0.9)";
    ctx.lineWidth = 2;
    for (const n of graph.nodes) {
      const xy = n.featureId === fid && n.id !== focus ? layout.xy.get(n.id) : undefined;
      if (!xy) continue;
      ctx.beginPath();
      ctx.arc(xy.x, xy.y, NODE_R + 4, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }, [graph, layout, focus]);

  const hoveredNode = p.hovered ? graph.byId.get(p.hovered) : undefined;
  const hoveredXY = p.hovered ? layout.xy.get(p.hovered) : undefined;

  return (
    <div className="graph-canvas-wrap" style={{ width: layout.width, height: layout.height }}>
      <canvas ref={base} />
      <canvas ref={overlay} />
      <Axes graph={graph} layout={layout} />
      <NodeLayer
        graph={graph}
        layout={layout}
        selected={p.selected}
        pinned={p.pinned}
        onHover={p.onHover}
        onSelect={p.onSelect}
        onTogglePin={p.onTogglePin}
      />
      {hoveredNode && hoveredXY && <Tooltip node={hoveredNode} x={hoveredXY.x} y={hoveredXY.y} layout={layout} />}
    </div>
  );
}

function setupCanvas(c: HTMLCanvasElement, w: number, h: number): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
  }
  const ctx = c.getContext("2d")!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return ctx;
}

/** Edges grouped into (sign × width) buckets: one path and one stroke per bucket, not per edge. */
function drawEdges(
  ctx: CanvasRenderingContext2D,
  edges: readonly ViewEdge[],
  layout: Layout,
  maxAbs: number,
  alpha: number,
) {
  const BUCKETS = 8;
  const paths = new Map<number, Path2D>();
  for (const e of edges) {
    const a = layout.xy.get(e.source);
    const b = layout.xy.get(e.target);
    if (!a || !b) continue;
    const t = maxAbs > 0 ? Math.sqrt(Math.min(1, Math.abs(e.weight) / maxAbs)) : 0;
    const bucket = Math.min(BUCKETS - 1, Math.floor(t * BUCKETS)) * 2 + (e.weight < 0 ? 1 : 0);
    let path = paths.get(bucket);
    if (!path) {
      path = new Path2D();
      paths.set(bucket, path);
    }
    path.moveTo(a.x, a.y);
    path.lineTo(b.x, b.y);
  }
  for (const [bucket, path] of [...paths].sort((x, y) => x[0] - y[0])) {
    const level = (Math.floor(bucket / 2) + 0.5) / BUCKETS;
    ctx.strokeStyle = `rgba(${bucket % 2 ? NEG : POS}, ${Math.min(1, alpha * (0.35 + 0.65 * level))})`;
    ctx.lineWidth = edgeWidth(level * level * maxAbs, maxAbs);
    ctx.stroke(path);
  }
}

const Axes = memo(function Axes({ graph, layout }: { graph: IndexedGraph; layout: Layout }) {
  const rowNames = layout.rowY.map((_, r) => (r === 0 ? "Emb" : r === layout.rowY.length - 1 ? "Logit" : `L${r - 1}`));
  const bottom = layout.height - 8;
  return (
    <svg
      className="nodes"
      width={layout.width}
      height={layout.height}
      aria-hidden="true"
      style={{ pointerEvents: "none" }}
    >
      {layout.rowY.map((y, r) => (
        <g key={rowNames[r]}>
          <line
            x1={layout.columns[0]?.x0 ?? 0}
            x2={layout.columns.at(-1)?.x1 ?? layout.width}
            y1={y}
            y2={y}
            stroke="#eef0f3"
          />
          <text x={6} y={y + 4} fontSize={11} fill="#4b5361">
            {rowNames[r]}
          </text>
        </g>
      ))}
      {graph.nodes
        .filter((n) => n.kind === "logit")
        .map((n) => {
          const xy = layout.xy.get(n.id);
          return xy ? (
            <text key={n.id} x={xy.x} y={xy.y - 9} fontSize={10} textAnchor="middle" fill="#1a1d23" className="mono">
              {showToken(n.label ?? "").slice(0, 6)}
            </text>
          ) : null;
        })}
      {layout.columns.map((c) => {
        const tok = graph.tokens[c.position] ?? "";
        const w = c.x1 - c.x0;
        const maxChars = Math.max(2, Math.floor(w / 6.5));
        const shown = showToken(tok).length > maxChars ? `${showToken(tok).slice(0, maxChars - 1)}…` : showToken(tok);
        return (
          <g key={c.position}>
            <line x1={c.x0} x2={c.x0} y1={8} y2={bottom - 20} stroke="#f3f4f6" />
            <text
              x={(c.x0 + c.x1) / 2}
              y={bottom - 14}
              fontSize={11}
              textAnchor="middle"
              fill="#1a1d23"
              className="mono"
            >
              {shown.replace(/ /g, "␣")}
            </text>
            <text x={(c.x0 + c.x1) / 2} y={bottom} fontSize={9} textAnchor="middle" fill="#4b5361">
              {c.position}
            </text>
          </g>
        );
      })}
    </svg>
  );
});

interface NodeLayerProps {
  graph: IndexedGraph;
  layout: Layout;
  selected: string | null;
  pinned: readonly string[];
  onHover: (id: string | null) => void;
  onSelect: (id: string) => void;
  onTogglePin: (id: string) => void;
}

/** Memoized: hovering never re-renders the (up to thousands of) node elements. */
const NodeLayer = memo(function NodeLayer(p: NodeLayerProps) {
  const { graph, layout } = p;
  const pinned = useMemo(() => new Set(p.pinned), [p.pinned]);
  const neighbours = useMemo(() => keyboardNeighbours(graph, layout), [graph, layout]);
  // Roving tab stop: the selected node, else the most influential one.
  const tabStop = p.selected && graph.byId.has(p.selected) ? p.selected : (mostInfluential(graph)?.id ?? null);

  const idOf = (e: { target: EventTarget }) =>
    (e.target as Element).closest?.("[data-node-id]")?.getAttribute("data-node-id") ?? null;

  const onPointerOver = (e: PointerEvent) => p.onHover(idOf(e));
  const onPointerLeave = () => p.onHover(null);
  const onClick = (e: React.MouseEvent) => {
    const id = idOf(e);
    if (!id) return;
    if (e.shiftKey || e.metaKey || e.ctrlKey) p.onTogglePin(id);
    else p.onSelect(id);
  };
  const onKeyDown = (e: KeyboardEvent) => {
    const id = idOf(e);
    if (!id) return;
    const n = neighbours.get(id);
    const move = (to: string | undefined) => {
      if (!to) return;
      e.preventDefault();
      const el = (e.currentTarget as Element).querySelector<SVGGElement>(`[data-node-id="${CSS.escape(to)}"]`);
      el?.focus();
      p.onHover(to);
    };
    switch (e.key) {
      case "Enter":
      case " ":
        e.preventDefault();
        p.onSelect(id);
        break;
      case "p":
      case "P":
        e.preventDefault();
        p.onTogglePin(id);
        break;
      case "ArrowLeft":
        move(n?.left);
        break;
      case "ArrowRight":
        move(n?.right);
        break;
      case "ArrowUp":
        move(n?.up);
        break;
      case "ArrowDown":
        move(n?.down);
        break;
      case "Escape":
        p.onHover(null);
        break;
    }
  };

  return (
    <svg
      className="nodes"
      width={layout.width}
      height={layout.height}
      aria-label={`Attribution graph: ${graph.nodes.length} nodes, ${graph.edges.length} edges. Arrow keys move between nodes, Enter selects, P pins.`}
      onPointerOver={onPointerOver}
      onPointerLeave={onPointerLeave}
      onClick={onClick}
      onKeyDown={onKeyDown}
      onFocus={(e) => p.onHover(idOf(e))}
    >
      {graph.nodes.map((n) => {
        const xy = layout.xy.get(n.id);
        if (!xy) return null;
        const isSel = n.id === p.selected;
        const isPin = pinned.has(n.id);
        return (
          // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>
          <g
            key={n.id}
            className="graph-node"
            data-node-id={n.id}
            data-kind={n.kind}
            transform={`translate(${xy.x},${xy.y})`}
            tabIndex={n.id === tabStop ? 0 : -1}
            role="button"
            aria-pressed={isSel}
            aria-label={`${nodeTitle(n)}; layer ${n.layer ?? n.kind}, position ${n.position}${isPin ? ", pinned" : ""}`}
          >
            <NodeShape node={n} />
            <circle
              className="ring"
              r={NODE_R + 3}
              fill="none"
              stroke={isSel ? "#111827" : isPin ? "var(--pin)" : "none"}
              strokeWidth={isSel ? 2.5 : 2}
            />
            {/* A larger transparent target so small nodes are easy to hit with a mouse or finger. */}
            <circle r={NODE_R + 5} fill="transparent" />
          </g>
        );
      })}
    </svg>
  );
});

function NodeShape({ node }: { node: ViewNode }) {
  switch (node.kind) {
    case "feature":
      return <circle r={NODE_R} fill="var(--feature)" stroke="#fff" strokeWidth={1} />;
    case "error":
      return (
        <rect x={-NODE_R} y={-NODE_R} width={NODE_R * 2} height={NODE_R * 2} fill="var(--error-node)" stroke="#fff" />
      );
    case "embedding":
    case "logit":
      return (
        <rect
          x={-NODE_R - 2}
          y={-NODE_R + 1}
          width={NODE_R * 2 + 4}
          height={NODE_R * 2 - 2}
          rx={2}
          fill="var(--io-node)"
          stroke="#fff"
        />
      );
  }
}

function Tooltip({ node, x, y, layout }: { node: ViewNode; x: number; y: number; layout: Layout }) {
  const left = Math.min(x + 12, layout.width - 240);
  const top = y > layout.height / 2 ? y - 70 : y + 12;
  return (
    <div className="graph-tooltip" role="status" style={{ left: Math.max(0, left), top }} data-testid="graph-tooltip">
      <strong>{nodeTitle(node)}</strong>
      <div>
        {node.kind === "feature" && <span className="mono">{node.featureId} · </span>}
        {node.layer !== null && `L${node.layer} · `}pos {node.position}
        {node.activation !== null && ` · act ${fmt(node.activation)}`}
        {node.influence !== null && ` · infl ${fmt(node.influence)}`}
      </div>
    </div>
  );
}

export function mostInfluential(g: IndexedGraph): ViewNode | undefined {
  let best: ViewNode | undefined;
  for (const n of g.nodes) {
    if (n.kind !== "feature") continue;
    // Cumulative influence fraction: the smallest value is the most important node.
    if (!best || (n.influence ?? Number.POSITIVE_INFINITY) < (best.influence ?? Number.POSITIVE_INFINITY)) best = n;
  }
  return best ?? g.nodes[0];
}

/** For arrow-key moves: the next node left/right in the same row, and the x-nearest node one row up/down. */
function keyboardNeighbours(g: IndexedGraph, layout: Layout) {
  const rows = new Map<number, { id: string; x: number }[]>();
  for (const n of g.nodes) {
    const xy = layout.xy.get(n.id);
    if (!xy) continue;
    const r = rowOf(n, g.nLayers);
    const list = rows.get(r);
    if (list) list.push({ id: n.id, x: xy.x });
    else rows.set(r, [{ id: n.id, x: xy.x }]);
  }
  for (const list of rows.values()) list.sort((a, b) => a.x - b.x);
  const nearestIn = (r: number, x: number): string | undefined => {
    // Skip empty rows so Up/Down always lands somewhere when a row further away has nodes.
    const list = rows.get(r);
    if (!list?.length) return undefined;
    let best = list[0]!;
    for (const c of list) if (Math.abs(c.x - x) < Math.abs(best.x - x)) best = c;
    return best.id;
  };
  const rowKeys = [...rows.keys()].sort((a, b) => a - b);
  const out = new Map<string, { left?: string; right?: string; up?: string; down?: string }>();
  for (const [r, list] of rows) {
    const ri = rowKeys.indexOf(r);
    list.forEach((c, i) => {
      out.set(c.id, {
        left: list[i - 1]?.id,
        right: list[i + 1]?.id,
        up: ri + 1 < rowKeys.length ? nearestIn(rowKeys[ri + 1]!, c.x) : undefined,
        down: ri > 0 ? nearestIn(rowKeys[ri - 1]!, c.x) : undefined,
      });
    });
  }
  return out;
}
