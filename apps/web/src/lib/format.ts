// Number formatting shared by pages and components (one place, so tables and tooltips agree).

export function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 0.001) return String(Number(v.toPrecision(digits)));
  return v.toExponential(1);
}

export function pct(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  const p = v * 100;
  if (p !== 0 && Math.abs(p) < 10 ** -digits) return `${p.toExponential(1)}%`;
  return `${p.toFixed(digits)}%`;
}

/** A token as shown inside text: leading spaces kept visible, newlines as ↵. */
export function showToken(t: string): string {
  return t.replace(/\n/g, "↵");
}

/** A labelled heatmap (rows[k] is the row value of values[k]) as a dense grid: grid[rowValue], null where no data. */
export function heatmapGrid(h: {
  rows: readonly number[];
  values: readonly (readonly number[])[];
}): (readonly number[] | null)[] {
  const n = h.rows.length ? Math.max(...h.rows) + 1 : 0;
  const grid: (readonly number[] | null)[] = new Array(n).fill(null);
  h.rows.forEach((r, k) => {
    if (r >= 0 && h.values[k]) grid[r] = h.values[k]!;
  });
  return grid;
}

/** Histogram bins from bin edges (length = counts + 1). */
export function histogramBins(h: { binEdges: readonly number[]; counts: readonly number[] }) {
  return h.counts.map((count, i) => ({
    start: h.binEdges[i] ?? 0,
    end: h.binEdges[i + 1] ?? h.binEdges[i] ?? 0,
    count,
  }));
}
