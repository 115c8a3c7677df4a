// Heatmap rendering to PNG (own raster + 5×7 font + png.ts) and SVG (string), with the same layout:
// title, grid (row 0 at the top), tick labels, axis labels, the y = x diagonal (optional) and a
// colour bar. Signed data use a diverging blue–white–red map symmetric around 0; non-negative data
// a sequential (viridis-like) map. Rows without data (NaN) are grey.
import { GLYPH_H, GLYPH_W, glyph, textWidth } from "./font.ts";
import type { Heatmap } from "./metrics.ts";
import { encodePng } from "./png.ts";

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

class Raster {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3).fill(255);
  }
  set(x: number, y: number, c: RGB): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
  }
  rect(x: number, y: number, w: number, h: number, c: RGB): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }
  text(x: number, y: number, s: string, c: RGB, scale = 1): void {
    let cx = x;
    for (const ch of s) {
      const g = glyph(ch);
      for (let r = 0; r < GLYPH_H; r++)
        for (let q = 0; q < GLYPH_W; q++) if (g[r]![q]) this.rect(cx + q * scale, y + r * scale, scale, scale, c);
      cx += (GLYPH_W + 1) * scale;
    }
  }
  /** Text rotated 90° counter-clockwise, reading bottom to top; (x, y) = top-left of its box. */
  textUp(x: number, y: number, s: string, c: RGB): void {
    const len = textWidth(s);
    let cy = y + len;
    for (const ch of s) {
      const g = glyph(ch);
      for (let r = 0; r < GLYPH_H; r++) for (let q = 0; q < GLYPH_W; q++) if (g[r]![q]) this.set(x + r, cy - q - 1, c);
      cy -= GLYPH_W + 1;
    }
  }
}

const INK: RGB = [30, 30, 30];
const GUIDE: RGB = [90, 90, 90];

export function renderHeatmapPng(h: Heatmap, options: HeatmapRenderOptions = {}): Buffer {
  const r = resolve(h, options);
  const L = layoutOf(h, options, r);
  const img = new Raster(L.width, L.height);
  if (options.title) img.text(PAD, L.titleY, options.title, INK, TITLE_SCALE);
  for (let y = 0; y < h.rows; y++)
    for (let x = 0; x < h.cols; x++) {
      const c = colorOf(h.values[y * h.cols + x]!, r.vmin, r.vmax, r.signed);
      img.rect(L.gridX + x * r.cs, L.gridY + y * r.cs, r.cs, r.cs, c);
    }
  if (r.diagonal) {
    for (let k = 0; k < Math.min(h.rows, h.cols) * r.cs; k += 2) img.set(L.gridX + k, L.gridY + k, GUIDE);
  }
  // Ticks and labels.
  for (let v = 0; v < Math.max(h.rows, h.cols); v += r.tick) {
    const label = String(v);
    if (v < h.cols) {
      const cx = L.gridX + v * r.cs + Math.floor(r.cs / 2);
      img.rect(cx, L.gridY + L.gridH, 1, 3, INK);
      img.text(cx - Math.floor(textWidth(label) / 2), L.gridY + L.gridH + 6, label, INK);
    }
    if (v < h.rows) {
      const cy = L.gridY + v * r.cs + Math.floor(r.cs / 2);
      img.rect(L.gridX - 3, cy, 3, 1, INK);
      img.text(L.gridX - 7 - textWidth(label), cy - Math.floor(GLYPH_H / 2), label, INK);
    }
  }
  if (options.xLabel) {
    img.text(
      L.gridX + Math.floor((L.gridW - textWidth(options.xLabel)) / 2),
      L.gridY + L.gridH + 6 + GLYPH_H + 6,
      options.xLabel,
      INK,
    );
  }
  if (options.yLabel) {
    img.textUp(PAD, L.gridY + Math.floor((L.gridH - textWidth(options.yLabel)) / 2), options.yLabel, INK);
  }
  // Colour bar, vmax at the top.
  for (let j = 0; j < L.gridH; j++) {
    const v = r.vmax - ((r.vmax - r.vmin) * j) / Math.max(1, L.gridH - 1);
    img.rect(L.barX, L.gridY + j, L.barW, 1, colorOf(v, r.vmin, r.vmax, r.signed));
  }
  const ys = [L.gridY, L.gridY + Math.floor(L.gridH / 2) - 3, L.gridY + L.gridH - GLYPH_H];
  L.labels.forEach((lab, i) => {
    img.text(L.barX + L.barW + 4, ys[i]!, lab, INK);
  });
  return encodePng({ width: L.width, height: L.height, channels: 3, data: img.data });
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
