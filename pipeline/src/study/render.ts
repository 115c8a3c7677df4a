// Heatmap rendering to SVG (a string), and to PNG by rendering that SVG with resvg: title, grid
// (row 0 at the top), tick labels, axis labels, the y = x diagonal (optional) and a colour bar. Signed data use a diverging blue–white–red map symmetric around 0; non-negative data
// a sequential (viridis-like) map. Rows without data (NaN) are grey.
import { Resvg } from "@resvg/resvg-js";
import type { Heatmap } from "./metrics.ts";

export type RGB = readonly [number, number, number];

const DIVERGING: RGB[] = [
  [33, 102, 172],
  [146, 197, 222],
  [247, 247, 247],
  [244, 165, 130],
  [178, 24, 43],
];
const SEQUENTIAL: RGB[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];
export const MISSING: RGB = [200, 200, 200];

function ramp(stops: RGB[], t: number): RGB {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [
    Math.round(a[0] + (b[0] - a[0]) * f),
    Math.round(a[1] + (b[1] - a[1]) * f),
    Math.round(a[2] + (b[2] - a[2]) * f),
  ];
}

/** Colour of v on [vmin, vmax]; signed maps put 0 at white (vmin = −vmax). */
export function colorOf(v: number, vmin: number, vmax: number, signed: boolean): RGB {
  if (!Number.isFinite(v)) return MISSING;
  if (signed) {
    const m = Math.max(Math.abs(vmin), Math.abs(vmax));
    return ramp(DIVERGING, m > 0 ? (v / m + 1) / 2 : 0.5);
  }
  return ramp(SEQUENTIAL, vmax > vmin ? (v - vmin) / (vmax - vmin) : 0);
}

export interface HeatmapRenderOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Diverging map symmetric around 0; default: true if any value is negative. */
  signed?: boolean;
  vmin?: number;
  vmax?: number;
  /** Colour-scale limit when vmax is not given: this quantile of |v| (default 0.995), so a few
   * extreme cells do not wash out the rest; values beyond it saturate. */
  clipQuantile?: number;
  /** Pixels per cell (default 4). */
  cellSize?: number;
  /** Label every n-th row/column (default 10). */
  tickEvery?: number;
  /** Draw the y = x line (cells where ZZ = YY). Default true for square maps. */
  diagonal?: boolean;
}

export function formatValue(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 0.01) return String(Number(v.toPrecision(2)));
  return v.toExponential(1).replace("e", "E");
}

interface Resolved {
  signed: boolean;
  vmin: number;
  vmax: number;
  cs: number;
  tick: number;
  diagonal: boolean;
}

function resolve(h: Heatmap, o: HeatmapRenderOptions): Resolved {
  const finite = Float64Array.from(h.values).filter(Number.isFinite);
  let lo = 0;
  let hi = 0;
  if (finite.length > 0) {
    const q = o.clipQuantile ?? 0.995;
    const abs = finite.map(Math.abs).sort();
    const lim = abs[Math.min(abs.length - 1, Math.floor(q * (abs.length - 1)))]!;
    lo = Math.max(Math.min(...finite), -lim);
    hi = Math.min(Math.max(...finite), lim);
  }
  const signed = o.signed ?? lo < 0;
  // Non-negative data (probabilities) start their colour scale at 0.
  let vmin = o.vmin ?? (lo >= 0 ? 0 : lo);
  let vmax = o.vmax ?? hi;
  if (signed) {
    const m = Math.max(Math.abs(vmin), Math.abs(vmax));
    vmin = -m;
    vmax = m;
  }
  return {
    signed,
    vmin,
    vmax,
    cs: o.cellSize ?? 4,
    tick: o.tickEvery ?? 10,
    diagonal: o.diagonal ?? h.rows === h.cols,
  };
}

interface Layout {
  width: number;
  height: number;
  gridX: number;
  gridY: number;
  gridW: number;
  gridH: number;
  titleY: number;
  barX: number;
  barW: number;
  labels: string[];
}

const PAD = 8;
const TITLE_SCALE = 2;
// Layout metrics of the 9 px monospace labels (cap height ~7 px, advance ~5.4 px, rounded up).
const GLYPH_H = 7;
const CHAR_W = 6;
const textWidth = (text: string, scale = 1): number => text.length * CHAR_W * scale;

function layoutOf(h: Heatmap, o: HeatmapRenderOptions, r: Resolved): Layout {
  const gridW = h.cols * r.cs;
  const gridH = h.rows * r.cs;
  const labels = r.signed
    ? [formatValue(r.vmax), "0", formatValue(r.vmin)]
    : [formatValue(r.vmax), formatValue((r.vmin + r.vmax) / 2), formatValue(r.vmin)];
  const yTickW = textWidth(String(h.rows - 1));
  const left = PAD + (o.yLabel ? GLYPH_H + 6 : 0) + yTickW + 4 + 3;
  const top = PAD + (o.title ? GLYPH_H * TITLE_SCALE + 8 : 0);
  const bottom = 3 + 3 + GLYPH_H + (o.xLabel ? 6 + GLYPH_H : 0) + PAD;
  const barW = 12;
  const barX = left + gridW + 12;
  const labelW = Math.max(...labels.map((l) => textWidth(l)));
  const titleW = o.title ? textWidth(o.title, TITLE_SCALE) + 2 * PAD : 0;
  return {
    width: Math.max(barX + barW + 4 + labelW + PAD, titleW),
    height: top + gridH + bottom,
    gridX: left,
    gridY: top,
    gridW,
    gridH,
    titleY: PAD,
    barX,
    barW,
    labels,
  };
}

const hex = (c: RGB) => `#${c.map((x) => x.toString(16).padStart(2, "0")).join("")}`;
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function renderHeatmapSvg(h: Heatmap, options: HeatmapRenderOptions = {}): string {
  const r = resolve(h, options);
  const L = layoutOf(h, options, r);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}" font-family="monospace" font-size="9">`,
  );
  out.push(`<rect width="${L.width}" height="${L.height}" fill="#ffffff"/>`);
  if (options.title) out.push(`<text x="${PAD}" y="${L.titleY + 13}" font-size="14">${esc(options.title)}</text>`);
  out.push(`<g shape-rendering="crispEdges">`);
  for (let y = 0; y < h.rows; y++)
    for (let x = 0; x < h.cols; x++) {
      const v = h.values[y * h.cols + x]!;
      const c = hex(colorOf(v, r.vmin, r.vmax, r.signed));
      out.push(
        `<rect x="${L.gridX + x * r.cs}" y="${L.gridY + y * r.cs}" width="${r.cs}" height="${r.cs}" fill="${c}"><title>${y},${x}: ${Number.isFinite(v) ? v.toPrecision(4) : "no data"}</title></rect>`,
      );
    }
  out.push("</g>");
  if (r.diagonal) {
    const d = Math.min(h.rows, h.cols) * r.cs;
    out.push(
      `<line x1="${L.gridX}" y1="${L.gridY}" x2="${L.gridX + d}" y2="${L.gridY + d}" stroke="#5a5a5a" stroke-width="0.6" stroke-dasharray="2 2"/>`,
    );
  }
  for (let v = 0; v < Math.max(h.rows, h.cols); v += r.tick) {
    if (v < h.cols) {
      const cx = L.gridX + v * r.cs + r.cs / 2;
      out.push(
        `<line x1="${cx}" y1="${L.gridY + L.gridH}" x2="${cx}" y2="${L.gridY + L.gridH + 3}" stroke="#1e1e1e"/>`,
      );
      out.push(`<text x="${cx}" y="${L.gridY + L.gridH + 13}" text-anchor="middle">${v}</text>`);
    }
    if (v < h.rows) {
      const cy = L.gridY + v * r.cs + r.cs / 2;
      out.push(`<line x1="${L.gridX - 3}" y1="${cy}" x2="${L.gridX}" y2="${cy}" stroke="#1e1e1e"/>`);
      out.push(`<text x="${L.gridX - 5}" y="${cy + 3}" text-anchor="end">${v}</text>`);
    }
  }
  if (options.xLabel) {
    out.push(
      `<text x="${L.gridX + L.gridW / 2}" y="${L.gridY + L.gridH + 6 + GLYPH_H + 6 + 7}" text-anchor="middle">${esc(options.xLabel)}</text>`,
    );
  }
  if (options.yLabel) {
    const cx = PAD + 6;
    const cy = L.gridY + L.gridH / 2;
    out.push(
      `<text x="${cx}" y="${cy}" text-anchor="middle" transform="rotate(-90 ${cx} ${cy})">${esc(options.yLabel)}</text>`,
    );
  }
  const stops = Array.from({ length: 11 }, (_, i) => {
    const v = r.vmax - ((r.vmax - r.vmin) * i) / 10;
    return `<stop offset="${i * 10}%" stop-color="${hex(colorOf(v, r.vmin, r.vmax, r.signed))}"/>`;
  });
  out.push(`<defs><linearGradient id="cbar" x1="0" y1="0" x2="0" y2="1">${stops.join("")}</linearGradient></defs>`);
  out.push(`<rect x="${L.barX}" y="${L.gridY}" width="${L.barW}" height="${L.gridH}" fill="url(#cbar)"/>`);
  const ys = [L.gridY + 7, L.gridY + L.gridH / 2 + 3, L.gridY + L.gridH];
  L.labels.forEach((lab, i) => {
    out.push(`<text x="${L.barX + L.barW + 4}" y="${ys[i]}">${esc(lab)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}

/** The heatmap as PNG: the SVG above rendered by resvg (system fonts, DejaVu Sans Mono where present). */
export function renderHeatmapPng(h: Heatmap, options: HeatmapRenderOptions = {}): Buffer {
  const svg = renderHeatmapSvg(h, options);
  const resvg = new Resvg(svg, {
    fitTo: { mode: "original" },
    background: "#ffffff",
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans Mono", monospaceFamily: "DejaVu Sans Mono" },
  });
  return resvg.render().asPng();
}
