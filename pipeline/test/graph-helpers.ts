// Shared helpers for the graph tests: a float64 reference of the influence computation via an
// explicit matrix inverse, and random acyclic graphs in circuit-tracer's node layout.

import { Rng } from "@circuit-atlas/util";
import {
  type AttributionGraph,
  denseAdjacency,
  errorNodeIndex,
  type FeatureNode,
  graphLayout,
  type LogitNode,
} from "../src/graph/index.ts";

/** Gauss-Jordan inverse with partial pivoting, float64, row-major n×n. */
export function invert(m: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(m);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[p * n + c]!)) p = r;
    if (a[p * n + c] === 0) throw new Error("singular");
    if (p !== c) {
      for (let k = 0; k < n; k++) {
        [a[p * n + k], a[c * n + k]] = [a[c * n + k]!, a[p * n + k]!];
        [inv[p * n + k], inv[c * n + k]] = [inv[c * n + k]!, inv[p * n + k]!];
      }
    }
    const d = a[c * n + c]!;
    for (let k = 0; k < n; k++) {
      a[c * n + k]! /= d;
      inv[c * n + k]! /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r * n + c]!;
      if (f === 0) continue;
      for (let k = 0; k < n; k++) {
        a[r * n + k]! -= f * a[c * n + k]!;
        inv[r * n + k]! -= f * inv[c * n + k]!;
      }
    }
  }
  return inv;
}

/** Â = row-normalized |A| in float64 (rows with no input stay 0). */
export function normalizedAbs(data: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.abs(data[t * n + j]!);
    if (s > 0) for (let j = 0; j < n; j++) out[t * n + j] = Math.abs(data[t * n + j]!) / s;
  }
  return out;
}

/** w·((I − Â)⁻¹ − I) by explicit inversion. */
export function referenceInfluence(data: ArrayLike<number>, n: number, w: ArrayLike<number>): Float64Array {
  const ahat = normalizedAbs(data, n);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = (i === j ? 1 : 0) - ahat[i * n + j]!;
  const inv = invert(m, n);
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += w[i]! * (inv[i * n + j]! - (i === j ? 1 : 0));
    out[j] = s;
  }
  return out;
}

/**
 * A random graph with the real graph's structure: features at (layer, pos ≥ 1) read from embeddings,
 * errors and features of earlier layers at positions ≤ theirs; logits read from everything; error
 * nodes at position 0 and feature nodes at position 0 are absent/empty, as in attribution.
 */
export function randomGraph(
  seed: number,
  opts: { nLayers?: number; nPos?: number; featuresPerSite?: number; nLogits?: number } = {},
): AttributionGraph {
  const rand = new Rng(seed).uniform;
  const nLayers = opts.nLayers ?? 3;
  const nPos = opts.nPos ?? 4;
  const perSite = opts.featuresPerSite ?? 2;
  const nLogits = opts.nLogits ?? 2;
  const features: FeatureNode[] = [];
  for (let l = 0; l < nLayers; l++)
    for (let p = 1; p < nPos; p++)
      for (let k = 0; k < perSite; k++)
        features.push({ layer: l, position: p, featureIndex: 10 * k + l + p, activation: 0.5 + rand() });
  let probLeft = 0.9;
  const logits: LogitNode[] = Array.from({ length: nLogits }, (_, k) => {
    const p = k === nLogits - 1 ? probLeft : probLeft * 0.6;
    probLeft -= p;
    return { tokenId: 100 + k, token: `t${k}`, probability: p };
  });
  const inputTokens = [50256, ...Array.from({ length: nPos - 1 }, (_, i) => 1000 + i)];
  const g: AttributionGraph = {
    prompt: "random",
    inputTokens,
    tokenStrings: inputTokens.map((t) => `<${t}>`),
    nLayers,
    features,
    logits,
    adjacency: denseAdjacency(0),
    scan: "test-scan",
  };
  const layout = graphLayout(g);
  const n = layout.size;
  const a = denseAdjacency(n);
  const w = () => (rand() - 0.5) * 4 * (rand() < 0.2 ? 0 : 1);
  const sources: { idx: number; layer: number; pos: number }[] = [];
  features.forEach((f, i) => {
    sources.push({ idx: i, layer: f.layer, pos: f.position });
  });
  for (let l = 0; l < nLayers; l++)
    for (let p = 1; p < nPos; p++) sources.push({ idx: errorNodeIndex(layout, l, p), layer: l, pos: p });
  for (let p = 0; p < nPos; p++) sources.push({ idx: layout.tokenStart + p, layer: -1, pos: p });
  features.forEach((f, t) => {
    for (const s of sources) if (s.layer < f.layer && s.pos <= f.position) a.data[t * n + s.idx] = w();
  });
  for (let k = 0; k < nLogits; k++) {
    const t = layout.logitStart + k;
    for (const s of sources) a.data[t * n + s.idx] = w();
  }
  g.adjacency = a;
  return g;
}
