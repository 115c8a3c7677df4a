// Colour scales for heatmaps: signed data on a diverging purple–white–green map centred on 0 (the same
// hues as positive/negative graph edges), non-negative data on a sequential white→blue map.
// Each is a lookup table built once, with an odd length so that its middle entry is exactly 0.

type RGB = [number, number, number];

function hex(h: string): RGB {
  return [Number.parseInt(h.slice(1, 3), 16), Number.parseInt(h.slice(3, 5), 16), Number.parseInt(h.slice(5, 7), 16)];
}

const LUT_SIZE = 255;

function lut(stops: string[]): Uint8ClampedArray {
  const rgb = stops.map(hex);
  const out = new Uint8ClampedArray(LUT_SIZE * 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    const x = (i / (LUT_SIZE - 1)) * (rgb.length - 1);
    const k = Math.min(rgb.length - 2, Math.floor(x));
    const f = x - k;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = rgb[k]![c]! + (rgb[k + 1]![c]! - rgb[k]![c]!) * f;
  }
  return out;
}

const DIVERGING = lut(["#762a83", "#c2a5cf", "#f7f7f7", "#a6dba0", "#1b7837"]);
const SEQUENTIAL = lut(["#ffffff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]);
export const MISSING_RGB: RGB = [205, 208, 214];

/** Colour of v: signed maps put 0 at white and ±limit at the ends; values beyond the limit saturate. */
export function scaleColor(v: number, limit: number, signed: boolean): RGB {
  if (!Number.isFinite(v)) return MISSING_RGB;
  const t = limit > 0 ? (signed ? (v / limit + 1) / 2 : v / limit) : signed ? 0.5 : 0;
  const i = Math.round(Math.min(1, Math.max(0, t)) * (LUT_SIZE - 1)) * 3;
  const table = signed ? DIVERGING : SEQUENTIAL;
  return [table[i]!, table[i + 1]!, table[i + 2]!];
}

export function cssColor(v: number, limit: number, signed: boolean): string {
  const [r, g, b] = scaleColor(v, limit, signed);
  return `rgb(${r},${g},${b})`;
}

/** The colour limit: this quantile of |v| over finite cells, so a few extreme cells do not wash out the rest. */
export function colorLimit(values: Iterable<number>, quantile = 0.995): number {
  const abs: number[] = [];
  for (const v of values) if (Number.isFinite(v)) abs.push(Math.abs(v));
  if (abs.length === 0) return 0;
  abs.sort((a, b) => a - b);
  return abs[Math.min(abs.length - 1, Math.floor(quantile * (abs.length - 1)))]!;
}
