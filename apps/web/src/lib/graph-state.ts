// The graph viewer's state as URL search parameters, so a view can be shared or reloaded:
// ?nodeThreshold=0.8&edgeThreshold=0.98&node=<id>&pinned=<id>,<id>. Bad values fall back to the defaults.

export interface GraphViewState {
  /** Keep the nodes that account for this share of the cumulative influence (0..1]. */
  nodeThreshold: number;
  /** Keep the edges that account for this share of the cumulative edge influence (0..1]. */
  edgeThreshold: number;
  selected: string | null;
  pinned: string[];
}

export const DEFAULT_VIEW: GraphViewState = { nodeThreshold: 0.8, edgeThreshold: 0.98, selected: null, pinned: [] };

type Params = URLSearchParams | Record<string, string | string[] | undefined>;

function get(p: Params, k: string): string | undefined {
  if (p instanceof URLSearchParams) return p.get(k) ?? undefined;
  const v = p[k];
  return Array.isArray(v) ? v[0] : v;
}

function threshold(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const v = Number(raw);
  return Number.isFinite(v) && v > 0 && v <= 1 ? v : fallback;
}

export function parseViewState(p: Params): GraphViewState {
  const pinnedRaw = get(p, "pinned") ?? "";
  const pinned = [
    ...new Set(
      pinnedRaw
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  const selected = get(p, "node")?.trim() || null;
  return {
    nodeThreshold: threshold(get(p, "nodeThreshold"), DEFAULT_VIEW.nodeThreshold),
    edgeThreshold: threshold(get(p, "edgeThreshold"), DEFAULT_VIEW.edgeThreshold),
    selected,
    pinned,
  };
}

/** Search string (without "?") holding only what differs from the defaults. */
export function serializeViewState(s: GraphViewState): string {
  const q = new URLSearchParams();
  if (s.nodeThreshold !== DEFAULT_VIEW.nodeThreshold) q.set("nodeThreshold", String(s.nodeThreshold));
  if (s.edgeThreshold !== DEFAULT_VIEW.edgeThreshold) q.set("edgeThreshold", String(s.edgeThreshold));
  if (s.selected) q.set("node", s.selected);
  if (s.pinned.length) q.set("pinned", s.pinned.join(","));
  return q.toString();
}

export function togglePinned(pinned: readonly string[], id: string): string[] {
  return pinned.includes(id) ? pinned.filter((p) => p !== id) : [...pinned, id];
}
