// Greater-than metrics (Hanna et al. 2023), all on full-vocabulary probabilities of the 100
// two-digit tokens "00".."99" (not renormalized):
//   probability difference PD = Σ_{ZZ>YY} p(ZZ) − Σ_{ZZ≤YY} p(ZZ);
//   cutoff sharpness = p(YY+1) − p(YY−1);
//   YY×ZZ heatmap = mean p(ZZ) over the prompts with start year YY.

/** A 100×100 grid, rows = YY (start year), columns = ZZ; rows without data are NaN. */
export interface Heatmap {
  rows: number;
  cols: number;
  /** Row-major values. */
  values: Float64Array;
  /** Number of prompts averaged into each row. */
  counts: Int32Array;
}

export function emptyHeatmap(rows = 100, cols = 100): Heatmap {
  return { rows, cols, values: new Float64Array(rows * cols).fill(Number.NaN), counts: new Int32Array(rows) };
}

/** p(ZZ) for ZZ = 0..99 out of a full softmax. */
export function yearProbabilities(probs: ArrayLike<number>, yearTokenIds: readonly number[]): Float64Array {
  if (yearTokenIds.length !== 100) throw new Error(`need 100 year token ids, got ${yearTokenIds.length}`);
  return Float64Array.from(yearTokenIds, (id) => {
    const p = probs[id];
    if (p === undefined) throw new Error(`token id ${id} is outside the probability vector (${probs.length})`);
    return p;
  });
}

function checkYY(p100: ArrayLike<number>, yy: number): void {
  if (p100.length !== 100) throw new Error(`need 100 year probabilities, got ${p100.length}`);
  if (!(Number.isInteger(yy) && yy >= 0 && yy <= 99)) throw new Error(`YY must be 0..99, got ${yy}`);
}

export function probabilityDifference(p100: ArrayLike<number>, yy: number): number {
  checkYY(p100, yy);
  let d = 0;
  for (let zz = 0; zz < 100; zz++) d += zz > yy ? p100[zz]! : -p100[zz]!;
  return d;
}

export function cutoffSharpness(p100: ArrayLike<number>, yy: number): number {
  checkYY(p100, yy);
  if (yy === 0 || yy === 99) throw new Error(`cutoff sharpness needs 1 ≤ YY ≤ 98, got ${yy}`);
  return p100[yy + 1]! - p100[yy - 1]!;
}

export interface YearResult {
  yy: number;
  /** p("00".."99"). */
  p100: ArrayLike<number>;
}

export interface GreaterThanMetrics {
  n: number;
  probabilityDifference: number;
  cutoffSharpness: number;
  /** Mean total probability on the 100 year tokens. */
  yearMass: number;
  heatmap: Heatmap;
}

/** Heatmap of row-wise means of `values(r)` over results grouped by YY. */
export function meanHeatmap<T extends { yy: number }>(
  results: readonly T[],
  values: (r: T) => ArrayLike<number>,
): Heatmap {
  const h = emptyHeatmap();
  const sums = new Float64Array(100 * 100);
  for (const r of results) {
    const v = values(r);
    if (v.length !== 100) throw new Error(`heatmap rows need 100 values, got ${v.length}`);
    h.counts[r.yy]!++;
    for (let z = 0; z < 100; z++) sums[r.yy * 100 + z]! += v[z]!;
  }
  for (let y = 0; y < 100; y++) {
    const c = h.counts[y]!;
    if (c > 0) for (let z = 0; z < 100; z++) h.values[y * 100 + z] = sums[y * 100 + z]! / c;
  }
  return h;
}

export function greaterThanMetrics(results: readonly YearResult[]): GreaterThanMetrics {
  if (results.length === 0) throw new Error("no results to summarize");
  let pd = 0;
  let sharp = 0;
  let mass = 0;
  for (const r of results) {
    pd += probabilityDifference(r.p100, r.yy);
    sharp += cutoffSharpness(r.p100, r.yy);
    for (let z = 0; z < 100; z++) mass += r.p100[z]!;
  }
  const n = results.length;
  return {
    n,
    probabilityDifference: pd / n,
    cutoffSharpness: sharp / n,
    yearMass: mass / n,
    heatmap: meanHeatmap(results, (r) => r.p100),
  };
}
