// Influence on the logits: Â = |A| with rows normalized to sum 1 (the inputs of each target),
// B = Â + Â² + … = (I − Â)⁻¹ − I, node influence = w_logitᵀ B. As in circuit-tracer the series is
// summed as v ← v·Â until v is exactly zero, which happens after at most (graph depth) steps
// because the graph is acyclic; Â is never materialized (v·Â[s] = Σ_t v[t]/rowsum[t]·|A[t,s]|).
import type { Adjacency } from "./adjacency.ts";
import { type AttributionGraph, graphLayout, logitWeights } from "./graph.ts";

/** 1 = node kept. Rows and columns of dropped nodes are treated as zero. */
export type NodeMask = Uint8Array;

const ROW_SUM_FLOOR = 1e-10;

/** Σ_s |A[t,s]| over kept sources, for kept targets (0 for dropped targets). */
export function absRowSums(a: Adjacency, keep?: NodeMask): Float64Array {
  const n = a.size;
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    if (keep && !keep[t]) continue;
    let sum = 0;
    if (a.kind === "dense") {
      const base = t * n;
      if (keep) {
        for (let s = 0; s < n; s++) if (keep[s]) sum += Math.abs(a.data[base + s]!);
      } else {
        for (let s = 0; s < n; s++) sum += Math.abs(a.data[base + s]!);
      }
    } else {
      for (let k = a.rowPtr[t]!; k < a.rowPtr[t + 1]!; k++) {
        if (!keep || keep[a.colIdx[k]!]) sum += Math.abs(a.values[k]!);
      }
    }
    out[t] = sum;
  }
  return out;
}

/** One step of the series: returns v·Â. */
export function propagate(a: Adjacency, rowSums: Float64Array, v: Float64Array, keep?: NodeMask): Float64Array {
  const n = a.size;
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const vt = v[t]!;
    if (vt === 0 || (keep && !keep[t])) continue;
    const c = vt / Math.max(rowSums[t]!, ROW_SUM_FLOOR);
    if (a.kind === "dense") {
      const base = t * n;
      const d = a.data;
      if (keep) {
        for (let s = 0; s < n; s++) {
          const w = d[base + s]!;
          if (w !== 0 && keep[s]) out[s]! += c * Math.abs(w);
        }
      } else {
        for (let s = 0; s < n; s++) {
          const w = d[base + s]!;
          if (w !== 0) out[s]! += c * Math.abs(w);
        }
      }
    } else {
      for (let k = a.rowPtr[t]!; k < a.rowPtr[t + 1]!; k++) {
        const s = a.colIdx[k]!;
        if (!keep || keep[s]) out[s]! += c * Math.abs(a.values[k]!);
      }
    }
  }
  return out;
}

/** w·(Â + Â² + …). Throws if the series does not reach zero (a cycle in the graph). */
export function computeInfluence(
  a: Adjacency,
  weights: Float64Array,
  options: { keep?: NodeMask; rowSums?: Float64Array; maxIter?: number } = {},
): Float64Array {
  const { keep } = options;
  const rowSums = options.rowSums ?? absRowSums(a, keep);
  const maxIter = options.maxIter ?? a.size + 1;
  const total = new Float64Array(a.size);
  let v = propagate(a, rowSums, weights, keep);
  for (let iter = 0; ; iter++) {
    let any = false;
    for (let i = 0; i < v.length; i++) {
      if (v[i] !== 0) {
        any = true;
        total[i]! += v[i]!;
      }
    }
    if (!any) return total;
    if (iter >= maxIter) throw new Error(`influence did not converge after ${maxIter} steps: the graph has a cycle`);
    v = propagate(a, rowSums, v, keep);
  }
}

/** Node logit-influence of every node of the (unpruned) graph. */
export function nodeInfluence(g: AttributionGraph): Float64Array {
  return computeInfluence(g.adjacency, logitWeights(g, graphLayout(g)));
}

/**
 * The score value at which the descending cumulative sum first reaches `threshold` of the total
 * (circuit-tracer's boundary: the crossing element is included, and everything tied with it).
 * Keep items with score ≥ the returned value (and > 0). Returns +Infinity when every score is 0.
 */
export function cumulativeThreshold(scores: ArrayLike<number>, threshold: number): number {
  if (!(threshold >= 0 && threshold <= 1)) throw new Error(`threshold must be in [0, 1], got ${threshold}`);
  const sorted = Float64Array.from(scores).sort().reverse();
  let total = 0;
  let nNonZero = 0;
  for (const s of sorted) {
    total += s;
    if (s > 0) nNonZero++;
  }
  if (nNonZero === 0 || !(total > 0)) return Number.POSITIVE_INFINITY;
  let cum = 0;
  let idx = sorted.length - 1;
  for (let i = 0; i < sorted.length; i++) {
    cum += sorted[i]!;
    if (cum / total >= threshold) {
      idx = i;
      break;
    }
  }
  // Never go past the last non-zero score (cumsum rounding at threshold 1.0).
  return sorted[Math.min(idx, nNonZero - 1)]!;
}

/** circuit-tracer's exported `influence`: cumulative fraction of total influence at each node's
 * rank (descending); smaller = more important. */
export function cumulativeRankFractions(influence: ArrayLike<number>): Float64Array {
  const n = influence.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => influence[b]! - influence[a]! || a - b);
  let total = 0;
  for (let i = 0; i < n; i++) total += influence[i]!;
  const out = new Float64Array(n);
  let cum = 0;
  for (const i of order) {
    cum += influence[i]!;
    out[i] = total > 0 ? cum / total : 0;
  }
  return out;
}
