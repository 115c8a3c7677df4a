// A histogram as SVG bars (server-rendered; each bar's title shows its range and count).
import { fmt } from "../lib/format.ts";

export interface Bin {
  start: number;
  end: number;
  count: number;
}

export interface HistogramProps {
  bins: readonly Bin[];
  title: string;
  xLabel?: string;
  width?: number;
  height?: number;
  /** Log-scaled bar heights (log(1 + count)): activation histograms are heavy-tailed. */
  logY?: boolean;
}

export function Histogram({
  bins,
  title,
  xLabel = "activation",
  width = 360,
  height = 140,
  logY = false,
}: HistogramProps) {
  if (bins.length === 0) return <p className="muted small">{title}: no data.</p>;
  const pad = { l: 8, r: 8, t: 8, b: 28 };
  const h = (c: number) => (logY ? Math.log1p(c) : c);
  const maxH = Math.max(...bins.map((b) => h(b.count)), 1e-9);
  const total = bins.reduce((s, b) => s + b.count, 0);
  const bw = (width - pad.l - pad.r) / bins.length;
  const innerH = height - pad.t - pad.b;
  const lo = bins[0]!.start;
  const hi = bins.at(-1)!.end;
  return (
    <figure style={{ margin: 0 }}>
      <svg
        width="100%"
        viewBox={`0 0 ${width} ${height}`}
        style={{ maxWidth: width }}
        role="img"
        aria-label={`${title}: ${bins.length} bins from ${fmt(lo)} to ${fmt(hi)}, ${total} values${logY ? ", log-scaled heights" : ""}`}
      >
        {bins.map((b, i) => {
          const bh = (h(b.count) / maxH) * innerH;
          return (
            <rect
              key={`${b.start}:${b.end}`}
              x={pad.l + i * bw + 0.5}
              y={pad.t + innerH - bh}
              width={Math.max(0.5, bw - 1)}
              height={bh}
              fill="#2563eb"
            >
              <title>{`${fmt(b.start)} – ${fmt(b.end)}: ${b.count}`}</title>
            </rect>
          );
        })}
        <line x1={pad.l} x2={width - pad.r} y1={pad.t + innerH} y2={pad.t + innerH} stroke="#8a93a3" />
        <text x={pad.l} y={height - 12} fontSize={11} fill="#4b5361">
          {fmt(lo)}
        </text>
        <text x={width - pad.r} y={height - 12} fontSize={11} fill="#4b5361" textAnchor="end">
          {fmt(hi)}
        </text>
        <text x={width / 2} y={height - 2} fontSize={11} fill="#4b5361" textAnchor="middle">
          {xLabel}
          {logY ? " (bar height: log(1 + count))" : ""}
        </text>
      </svg>
      <figcaption className="small muted">{title}</figcaption>
    </figure>
  );
}
