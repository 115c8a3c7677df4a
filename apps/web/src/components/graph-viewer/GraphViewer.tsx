"use client";
// The attribution-graph viewer: pruning sliders that re-fetch the graph through GraphQL, the link
// graph, the selected node's inputs and outputs, and a pinned subgraph. The view state lives in the URL.
import Link from "next/link";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { fmt } from "../../lib/format.ts";
import { fetchGraph, fetchGraphJson } from "../../lib/graph-client.ts";
import { layoutGraph } from "../../lib/graph-layout.ts";
import { indexGraph, nodeTitle, pinnedSubgraph, type ViewEdge, type ViewGraph } from "../../lib/graph-model.ts";
import { type GraphViewState, serializeViewState, togglePinned } from "../../lib/graph-state.ts";
import { GraphCanvas } from "./GraphCanvas.tsx";

export interface GraphViewerProps {
  initialGraph: ViewGraph;
  initialState: GraphViewState;
}

const MIN_COLUMN = 44;

export function GraphViewer({ initialGraph, initialState }: GraphViewerProps) {
  const [raw, setRaw] = useState(initialGraph);
  const [state, setState] = useState(initialState);
  const [hovered, setHovered] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [width, setWidth] = useState(960);
  const wrap = useRef<HTMLDivElement>(null);
  const graph = useMemo(() => indexGraph(raw), [raw]);

  // Fit the plot to its container; many tokens scroll horizontally instead of overlapping.
  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(([entry]) => setWidth(Math.floor(entry!.contentRect.width)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const plotW = Math.max(width, graph.tokens.length * MIN_COLUMN + 72);
  const plotH = Math.min(760, Math.max(360, (graph.nLayers + 2) * 64 + 72));
  const layout = useMemo(() => layoutGraph(graph, { width: plotW, height: plotH }), [graph, plotW, plotH]);

  // The URL follows the view (replaceState: no history entry per slider step, no server round trip).
  useEffect(() => {
    const q = serializeViewState(state);
    const url = `${window.location.pathname}${q ? `?${q}` : ""}`;
    if (url !== `${window.location.pathname}${window.location.search}`) window.history.replaceState(null, "", url);
  }, [state]);

  // Re-fetch when a threshold changes (debounced while the slider moves; stale answers are dropped).
  const { nodeThreshold, edgeThreshold } = state;
  const loadedFor = useRef(`${initialState.nodeThreshold}/${initialState.edgeThreshold}`);
  useEffect(() => {
    const key = `${nodeThreshold}/${edgeThreshold}`;
    if (key === loadedFor.current) return;
    const ctl = new AbortController();
    const t = setTimeout(async () => {
      setLoading(true);
      try {
        const g = await fetchGraph(raw.id, nodeThreshold, edgeThreshold, ctl.signal);
        loadedFor.current = key;
        setRaw(g);
        setError(null);
      } catch (e) {
        if (!ctl.signal.aborted) setError((e as Error).message);
      } finally {
        if (!ctl.signal.aborted) setLoading(false);
      }
    }, 200);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [raw.id, nodeThreshold, edgeThreshold]);

  const onHover = useCallback((id: string | null) => setHovered(id), []);
  const onSelect = useCallback(
    (id: string) => setState((s) => ({ ...s, selected: s.selected === id ? null : id })),
    [],
  );
  const onTogglePin = useCallback((id: string) => setState((s) => ({ ...s, pinned: togglePinned(s.pinned, id) })), []);

  const download = async () => {
    try {
      const json = await fetchGraphJson(raw.id, nodeThreshold, edgeThreshold);
      const url = URL.createObjectURL(new Blob([json], { type: "application/json" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `${raw.id}.json`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const selectedNode = state.selected ? graph.byId.get(state.selected) : undefined;

  return (
    <div>
      <fieldset className="graph-controls">
        <legend className="visually-hidden">Pruning and download</legend>
        <ThresholdSlider
          label="Node threshold"
          testId="node-threshold"
          value={nodeThreshold}
          onChange={(v) => setState((s) => ({ ...s, nodeThreshold: v }))}
        />
        <ThresholdSlider
          label="Edge threshold"
          testId="edge-threshold"
          value={edgeThreshold}
          onChange={(v) => setState((s) => ({ ...s, edgeThreshold: v }))}
        />
        <span data-testid="graph-counts" aria-live="polite" className="mono small">
          {graph.nodes.length} nodes · {graph.edges.length} edges{loading ? " · loading…" : ""}
        </span>
        <button type="button" className="secondary" onClick={download}>
          Download JSON
        </button>
      </fieldset>
      <p id="threshold-help" className="muted small">
        Thresholds keep the nodes and edges that account for that share of the cumulative influence on the output (as
        circuit-tracer's pruning). Click a node to list its inputs and outputs; shift-click (or P) pins it.
      </p>
      {error && (
        <p className="notice" role="alert">
          {error}
        </p>
      )}
      <div className="graph-viewer">
        <div ref={wrap} style={{ overflowX: "auto", minWidth: 0 }}>
          <GraphCanvas
            graph={graph}
            layout={layout}
            selected={state.selected}
            hovered={hovered}
            pinned={state.pinned}
            onHover={onHover}
            onSelect={onSelect}
            onTogglePin={onTogglePin}
          />
          <Legend />
        </div>
        <aside className="graph-side" aria-label="Node details">
          <section className="panel" data-testid="node-details">
            <h2 style={{ marginTop: 0 }}>Selected node</h2>
            {selectedNode ? (
              <>
                <p style={{ margin: 0 }}>
                  <strong>{nodeTitle(selectedNode)}</strong>
                </p>
                <p className="small muted" style={{ margin: "0.25rem 0" }}>
                  {selectedNode.kind}
                  {selectedNode.layer !== null && ` · layer ${selectedNode.layer}`} · position {selectedNode.position} ·
                  activation {fmt(selectedNode.activation)} · influence {fmt(selectedNode.influence)}
                </p>
                <p style={{ display: "flex", gap: "0.5rem", flexWrap: "wrap" }}>
                  {selectedNode.featureId && (
                    <Link href={`/features/${encodeURIComponent(selectedNode.featureId)}`}>Feature page</Link>
                  )}
                  <button type="button" className="secondary" onClick={() => onTogglePin(selectedNode.id)}>
                    {state.pinned.includes(selectedNode.id) ? "Unpin" : "Pin"}
                  </button>
                </p>
                <EdgeList
                  title="Inputs"
                  edges={graph.inputs.get(selectedNode.id) ?? []}
                  end="source"
                  graph={graph}
                  onSelect={onSelect}
                />
                <EdgeList
                  title="Outputs"
                  edges={graph.outputs.get(selectedNode.id) ?? []}
                  end="target"
                  graph={graph}
                  onSelect={onSelect}
                />
              </>
            ) : (
              <p className="muted small">No node selected.</p>
            )}
          </section>
          <PinnedPanel
            graph={graph}
            pinned={state.pinned}
            onSelect={onSelect}
            onClear={() => setState((s) => ({ ...s, pinned: [] }))}
          />
        </aside>
      </div>
    </div>
  );
}

function EdgeList(props: {
  title: string;
  edges: readonly ViewEdge[];
  end: "source" | "target";
  graph: ReturnType<typeof indexGraph>;
  onSelect: (id: string) => void;
}) {
  return (
    <>
      <h3>
        {props.title} <span className="muted small">({props.edges.length})</span>
      </h3>
      {props.edges.length === 0 ? (
        <p className="muted small">none at this threshold</p>
      ) : (
        <ul className="edge-list" data-testid={`node-${props.title.toLowerCase()}`}>
          {props.edges.map((e) => {
            const other = props.graph.byId.get(e[props.end])!;
            return (
              <li key={`${e.source}>${e.target}`}>
                <button type="button" onClick={() => props.onSelect(other.id)} title={other.id}>
                  {nodeTitle(other)}
                </button>
                <span className={e.weight < 0 ? "w-neg" : "w-pos"}>{fmt(e.weight)}</span>
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}

function PinnedPanel(props: {
  graph: ReturnType<typeof indexGraph>;
  pinned: readonly string[];
  onSelect: (id: string) => void;
  onClear: () => void;
}) {
  const sub = useMemo(() => pinnedSubgraph(props.graph, props.pinned), [props.graph, props.pinned]);
  const missing = props.pinned.length - sub.nodes.length;
  return (
    <section className="panel" data-testid="pinned-subgraph">
      <h2 style={{ marginTop: 0 }}>
        Pinned subgraph <span className="muted small">({sub.nodes.length})</span>
      </h2>
      {sub.nodes.length === 0 ? (
        <p className="muted small">Shift-click nodes (or press P on a focused node) to pin them here.</p>
      ) : (
        <>
          <ul className="edge-list">
            {sub.nodes.map((n) => (
              <li key={n.id}>
                <button type="button" onClick={() => props.onSelect(n.id)} title={n.id}>
                  {nodeTitle(n)}
                </button>
                <span className="mono small">{n.layer !== null ? `L${n.layer}` : n.kind}</span>
              </li>
            ))}
          </ul>
          <h3>
            Edges among pinned nodes <span className="muted small">({sub.edges.length})</span>
          </h3>
          <ul className="edge-list">
            {sub.edges.map((e) => (
              <li key={`${e.source}>${e.target}`}>
                <span className="small">
                  {nodeTitle(props.graph.byId.get(e.source)!)} → {nodeTitle(props.graph.byId.get(e.target)!)}
                </span>
                <span className={e.weight < 0 ? "w-neg" : "w-pos"}>{fmt(e.weight)}</span>
              </li>
            ))}
          </ul>
          <p>
            <button type="button" className="secondary" onClick={props.onClear}>
              Clear pins
            </button>
          </p>
        </>
      )}
      {missing > 0 && (
        <p className="muted small">{missing} pinned node(s) are pruned away at the current thresholds.</p>
      )}
    </section>
  );
}

function Legend() {
  return (
    <p className="legend">
      <span>
        <span className="swatch" style={{ background: "var(--feature)", borderRadius: "50%" }} />
        feature
      </span>
      <span>
        <span className="swatch" style={{ background: "var(--error-node)" }} />
        MLP error
      </span>
      <span>
        <span className="swatch" style={{ background: "var(--io-node)" }} />
        embedding / logit
      </span>
      <span>
        <span className="swatch" style={{ background: "var(--pos)" }} />
        positive edge
      </span>
      <span>
        <span className="swatch" style={{ background: "var(--neg)" }} />
        negative edge
      </span>
      <span>edge width ∝ √|weight|</span>
    </p>
  );
}

function ThresholdSlider(p: { label: string; testId: string; value: number; onChange: (v: number) => void }) {
  return (
    <label>
      {p.label}
      <input
        type="range"
        min={0.1}
        max={1}
        step={0.01}
        value={p.value}
        aria-describedby="threshold-help"
        data-testid={p.testId}
        onChange={(e) => p.onChange(Number(e.target.value))}
      />
      <output className="mono">{p.value.toFixed(2)}</output>
    </label>
  );
}
