"use client";
// A YY × ZZ heatmap (rows = start year YY, top to bottom; columns = predicted ZZ, left to right) drawn
// cell-per-pixel on a canvas and scaled up; hovering a cell reads out its value.
import { type PointerEvent, useEffect, useMemo, useRef, useState } from "react";
import { colorLimit, cssColor, scaleColor } from "../lib/colors.ts";
import { fmt } from "../lib/format.ts";

export interface HeatmapProps {
  /** Row-major rows; a null row has no data (drawn grey). */
  rows: readonly (readonly number[] | null)[];
  title: string;
  /** CSS pixels of the square plot. */
  size?: number;
  /** Diverging scale around 0 (default: if any value is negative). */
  signed?: boolean;
  rowLabel?: string;
  colLabel?: string;
  /** Hide axes, colour bar and hover readout (small multiples). */
  compact?: boolean;
}

export function Heatmap({ rows, title, size = 300, signed, rowLabel = "YY", colLabel = "ZZ", compact }: HeatmapProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const nRows = rows.length;
  const nCols = Math.max(0, ...rows.map((r) => r?.length ?? 0));
  const stats = useMemo(() => {
    let neg = false;
    let best = { v: Number.NEGATIVE_INFINITY, r: -1, c: -1 };
    const all: number[] = [];
    rows.forEach((row, r) => {
      row?.forEach((v, c) => {
        all.push(v);
        if (v < 0) neg = true;
        if (Math.abs(v) > best.v) best = { v: Math.abs(v), r, c };
      });
    });
    return { signed: signed ?? neg, limit: colorLimit(all), best };
  }, [rows, signed]);
  const [hover, setHover] = useState<{ r: number; c: number } | null>(null);

  useEffect(() => {
    const c = canvas.current;
    if (!c || nRows === 0 || nCols === 0) return;
    c.width = nCols;
    c.height = nRows;
    const ctx = c.getContext("2d")!;
    const img = ctx.createImageData(nCols, nRows);
    for (let r = 0; r < nRows; r++) {
      const row = rows[r];
      for (let col = 0; col < nCols; col++) {
        const [R, G, B] = scaleColor(row?.[col] ?? Number.NaN, stats.limit, stats.signed);
        const o = (r * nCols + col) * 4;
        img.data[o] = R;
        img.data[o + 1] = G;
        img.data[o + 2] = B;
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
  }, [rows, nRows, nCols, stats]);

  const onMove = (e: PointerEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const c = Math.floor(((e.clientX - rect.left) / rect.width) * nCols);
    const r = Math.floor(((e.clientY - rect.top) / rect.height) * nRows);
    setHover(r >= 0 && r < nRows && c >= 0 && c < nCols ? { r, c } : null);
  };
  const hv = hover ? rows[hover.r]?.[hover.c] : undefined;
  const summary =
    stats.best.r >= 0
      ? `${title}: ${nRows}×${nCols} cells; largest |value| ${fmt(stats.best.v)} at ${rowLabel}=${stats.best.r}, ${colLabel}=${stats.best.c}`
      : `${title}: no data`;

  return (
    <figure className="heatmap" style={{ margin: 0 }} data-testid="heatmap">
      {!compact && <figcaption className="small">{title}</figcaption>}
      <div style={{ display: "flex", alignItems: "stretch", gap: 6 }}>
        {!compact && (
          <span
            className="small muted"
            style={{ writingMode: "vertical-rl", transform: "rotate(180deg)", textAlign: "center" }}
          >
            {rowLabel} (0 at top)
          </span>
        )}
        <canvas
          ref={canvas}
          role="img"
          aria-label={summary}
          style={{ width: size, height: size }}
          onPointerMove={compact ? undefined : onMove}
          onPointerLeave={() => setHover(null)}
        />
        {!compact && <ColorBar limit={stats.limit} signed={stats.signed} height={size} />}
      </div>
      {!compact && (
        <div className="small muted" aria-live="polite" style={{ minHeight: "1.4em" }}>
          {colLabel} (0 at left) ·{" "}
          {hover
            ? `${rowLabel}=${String(hover.r).padStart(2, "0")} ${colLabel}=${String(hover.c).padStart(2, "0")}: ${hv == null ? "no data" : fmt(hv)}`
            : "hover a cell"}
        </div>
      )}
    </figure>
  );
}

function ColorBar({ limit, signed, height }: { limit: number; signed: boolean; height: number }) {
  const steps = 24;
  const lo = signed ? -limit : 0;
  return (
    <div style={{ display: "flex", gap: 4, height }} aria-hidden="true">
      <div style={{ display: "flex", flexDirection: "column", width: 10, border: "1px solid var(--border)" }}>
        {Array.from({ length: steps }, (_, i) => {
          const v = limit - ((limit - lo) * i) / (steps - 1);
          return <div key={v} style={{ flex: 1, background: cssColor(v, limit, signed) }} />;
        })}
      </div>
      <div
        className="small muted"
        style={{ display: "flex", flexDirection: "column", justifyContent: "space-between" }}
      >
        <span>{fmt(limit)}</span>
        {signed && <span>0</span>}
        <span>{fmt(lo)}</span>
      </div>
    </div>
  );
}
