"use client";
// Hop-by-hop circuit exploration over the cross-prompt aggregate (or one graph): start from a feature,
// expand any node's upstream or downstream neighbours, one GraphQL request per expansion. Features are
// laid out by layer (x); the expansions are kept in the URL so a view can be shared.
import Link from "next/link";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { CircuitQuery, Direction } from "../../gql/graphql.ts";
import { request } from "../../lib/api.ts";
import { fmt } from "../../lib/format.ts";
import { featureHref } from "../../lib/links.ts";
import { CircuitDoc } from "../../lib/queries.ts";

type C = CircuitQuery["circuit"];
type CNode = C["nodes"][number];
type CEdge = C["edges"][number];

export interface CircuitExplorerProps {
  from: string;
  graphId: string | null;
  initial: C;
  /** Expansions to replay on load ("featureId~UPSTREAM"). */
  expand: string[];
  perHop: number;
}

const BOX_W = 170;
const BOX_H = 34;
const COL_GAP = 60;
const ROW_GAP = 14;

export function CircuitExplorer(p: CircuitExplorerProps) {
  const [nodes, setNodes] = useState(() => new Map(p.initial.nodes.map((n) => [n.id, n])));
  const [edges, setEdges] = useState(() => new Map(p.initial.edges.map((e) => [`${e.source}>${e.target}`, e])));
  const [done, setDone] = useState<string[]>([]);
  const [selected, setSelected] = useState<string>(p.initial.nodes.find((n) => n.depth === 0)?.id ?? p.from);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const merge = useCallback((c: C) => {
    setNodes((m) => {
      const next = new Map(m);
      for (const n of c.nodes) if (!next.has(n.id)) next.set(n.id, n);
      return next;
    });
    setEdges((m) => {
      const next = new Map(m);
      for (const e of c.edges) next.set(`${e.source}>${e.target}`, e);
      return next;
    });
  }, []);

  const expand = useCallback(
    async (id: string, direction: Direction) => {
      const key = `${id}~${direction}`;
      setBusy(key);
      try {
        const data = await request(
          CircuitDoc,
          { featureId: id, direction, depth: 1, graphId: p.graphId, first: p.perHop },
          { url: "/graphql" },
        );
        merge(data.circuit);
        setDone((d) => (d.includes(key) ? d : [...d, key]));
        setError(null);
      } catch (e) {
        setError((e as Error).message);
      } finally {
        setBusy(null);
      }
    },
    [merge, p.graphId, p.perHop],
  );

  // Replay the expansions named in the URL once.
  const replayed = useRef(false);
  useEffect(() => {
    if (replayed.current) return;
    replayed.current = true;
    (async () => {
      for (const k of p.expand) {
        const [id, dir] = k.split("~");
        if (id && (dir === "UPSTREAM" || dir === "DOWNSTREAM")) await expand(id, dir);
      }
    })();
  }, [p.expand, expand]);

  useEffect(() => {
    const u = new URL(window.location.href);
    if (done.length) u.searchParams.set("expand", done.join(","));
    else u.searchParams.delete("expand");
    window.history.replaceState(null, "", u);
  }, [done]);

  const layout = useMemo(() => layoutByLayer([...nodes.values()]), [nodes]);
  const maxAbs = Math.max(1e-12, ...[...edges.values()].map((e) => Math.abs(e.weight)));
  const sel = nodes.get(selected);
  const ins = [...edges.values()]
    .filter((e) => e.target === selected)
    .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
  const outs = [...edges.values()]
    .filter((e) => e.source === selected)
    .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
  const name = (id: string) => {
    const n = nodes.get(id);
    return n ? (n.feature.label?.text ?? n.feature.featureId) : id;
  };

  return (
    <div className="graph-viewer">
      <div style={{ overflowX: "auto", minWidth: 0 }}>
        <p className="mono small" data-testid="circuit-counts">
          {nodes.size} features · {edges.size} edges{busy ? " · loading…" : ""}
        </p>
        <svg width={layout.width} height={layout.height} role="img" aria-label={`Circuit of ${nodes.size} features`}>
          {[...edges.values()].map((e) => {
            const a = layout.xy.get(e.source);
            const b = layout.xy.get(e.target);
            if (!a || !b) return null;
            const w = 0.6 + 4 * Math.sqrt(Math.abs(e.weight) / maxAbs);
            return (
              <path
                key={`${e.source}>${e.target}`}
                d={`M${a.x + BOX_W} ${a.y + BOX_H / 2} C${a.x + BOX_W + COL_GAP / 2} ${a.y + BOX_H / 2} ${b.x - COL_GAP / 2} ${b.y + BOX_H / 2} ${b.x} ${b.y + BOX_H / 2}`}
                fill="none"
                stroke={e.weight < 0 ? "var(--neg)" : "var(--pos)"}
                strokeOpacity={selected && (e.source === selected || e.target === selected) ? 0.95 : 0.45}
                strokeWidth={w}
              >
                <title>{`${name(e.source)} → ${name(e.target)}: ${fmt(e.weight)} (${e.count} edges)`}</title>
              </path>
            );
          })}
          {[...nodes.values()].map((n) => {
            const xy = layout.xy.get(n.id)!;
            const label = n.feature.label?.text ?? n.feature.featureId;
            return (
              // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>
              <g
                key={n.id}
                transform={`translate(${xy.x},${xy.y})`}
                role="button"
                tabIndex={0}
                aria-pressed={n.id === selected}
                aria-label={`${label} (${n.feature.featureId})`}
                onClick={() => setSelected(n.id)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" || e.key === " ") {
                    e.preventDefault();
                    setSelected(n.id);
                  }
                }}
                style={{ cursor: "pointer" }}
              >
                <rect
                  width={BOX_W}
                  height={BOX_H}
                  rx={5}
                  fill={n.depth === 0 ? "#dbeafe" : "#fff"}
                  stroke={n.id === selected ? "#111827" : "#8a93a3"}
                  strokeWidth={n.id === selected ? 2 : 1}
                />
                <text x={6} y={14} fontSize={11} fill="#1a1d23">
                  {label.length > 26 ? `${label.slice(0, 25)}…` : label}
                </text>
                <text x={6} y={27} fontSize={10} fill="#4b5361" className="mono">
                  {n.feature.featureId}
                </text>
              </g>
            );
          })}
          {layout.layers.map((l) => (
            <text key={l.layer} x={l.x} y={12} fontSize={11} fill="#4b5361">
              layer {l.layer}
            </text>
          ))}
        </svg>
      </div>
      <aside className="graph-side" aria-label="Feature details">
        {error && (
          <p className="notice" role="alert">
            {error}
          </p>
        )}
        {sel && (
          <section className="panel">
            <h2 style={{ marginTop: 0 }}>{sel.feature.label?.text ?? sel.feature.featureId}</h2>
            <p className="small">
              <Link href={featureHref(sel.feature.id)}>Feature page</Link> ·{" "}
              <span className="mono">{sel.feature.featureId}</span> · layer {sel.feature.layer}
            </p>
            <p style={{ display: "flex", gap: "0.5rem", flexWrap: "wrap" }}>
              <button type="button" disabled={busy !== null} onClick={() => expand(sel.id, "UPSTREAM")}>
                Expand upstream
              </button>
              <button type="button" disabled={busy !== null} onClick={() => expand(sel.id, "DOWNSTREAM")}>
                Expand downstream
              </button>
            </p>
            <EdgeRows title="Inputs" rows={ins} end="source" name={name} onSelect={setSelected} />
            <EdgeRows title="Outputs" rows={outs} end="target" name={name} onSelect={setSelected} />
          </section>
        )}
      </aside>
    </div>
  );
}

function EdgeRows(p: {
  title: string;
  rows: CEdge[];
  end: "source" | "target";
  name: (id: string) => string;
  onSelect: (id: string) => void;
}) {
  return (
    <>
      <h3>
        {p.title} <span className="muted small">({p.rows.length})</span>
      </h3>
      <ul className="edge-list">
        {p.rows.map((e) => (
          <li key={`${e.source}>${e.target}`}>
            <button type="button" onClick={() => p.onSelect(e[p.end])}>
              {p.name(e[p.end])}
            </button>
            <span className={e.weight < 0 ? "w-neg" : "w-pos"}>{fmt(e.weight)}</span>
          </li>
        ))}
      </ul>
    </>
  );
}

function layoutByLayer(nodes: CNode[]) {
  const byLayer = new Map<number, CNode[]>();
  for (const n of nodes) {
    const list = byLayer.get(n.feature.layer);
    if (list) list.push(n);
    else byLayer.set(n.feature.layer, [n]);
  }
  const layers = [...byLayer.keys()].sort((a, b) => a - b);
  const xy = new Map<string, { x: number; y: number }>();
  let maxRows = 0;
  layers.forEach((l, i) => {
    const list = byLayer.get(l)!.sort((a, b) => a.depth - b.depth || a.id.localeCompare(b.id));
    maxRows = Math.max(maxRows, list.length);
    list.forEach((n, j) => {
      xy.set(n.id, { x: 8 + i * (BOX_W + COL_GAP), y: 20 + j * (BOX_H + ROW_GAP) });
    });
  });
  return {
    xy,
    layers: layers.map((layer, i) => ({ layer, x: 8 + i * (BOX_W + COL_GAP) })),
    width: Math.max(320, 16 + layers.length * (BOX_W + COL_GAP) - COL_GAP),
    height: Math.max(120, 28 + maxRows * (BOX_H + ROW_GAP)),
  };
}
