// Adjacency matrices of attribution graphs, indexed A[target, source] (rows = targets, as in
// circuit-tracer). Dense row-major Float32Array for real graphs (every earlier feature reaches every
// later one through attention, so they are nearly dense); CSR for hand-built or merged graphs.

export interface DenseAdjacency {
  readonly kind: "dense";
  readonly size: number;
  /** Row-major [size, size]: data[t * size + s] = A[t, s]. */
  readonly data: Float32Array;
}

export interface SparseAdjacency {
  readonly kind: "sparse";
  readonly size: number;
  /** CSR: row t owns entries rowPtr[t] .. rowPtr[t+1]-1. */
  readonly rowPtr: Int32Array;
  readonly colIdx: Int32Array;
  readonly values: Float32Array;
}

export type Adjacency = DenseAdjacency | SparseAdjacency;

export function denseAdjacency(size: number, data?: Float32Array): DenseAdjacency {
  if (!Number.isInteger(size) || size < 0)
    throw new Error(`adjacency size must be a non-negative integer, got ${size}`);
  const d = data ?? new Float32Array(size * size);
  if (d.length !== size * size) throw new Error(`dense adjacency needs ${size * size} values, got ${d.length}`);
  return { kind: "dense", size, data: d };
}

/** Builds a CSR matrix from (target, source, weight) triplets; duplicates are summed. */
export function sparseAdjacency(
  size: number,
  entries: Iterable<{ target: number; source: number; weight: number }>,
): SparseAdjacency {
  const rows: Map<number, number>[] = Array.from({ length: size }, () => new Map());
  for (const { target, source, weight } of entries) {
    if (!(target >= 0 && target < size && source >= 0 && source < size)) {
      throw new Error(`edge ${source}→${target} is outside a ${size}-node adjacency`);
    }
    const row = rows[target]!;
    row.set(source, (row.get(source) ?? 0) + weight);
  }
  const rowPtr = new Int32Array(size + 1);
  let nnz = 0;
  for (let t = 0; t < size; t++) {
    nnz += rows[t]!.size;
    rowPtr[t + 1] = nnz;
  }
  const colIdx = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let k = 0;
  for (let t = 0; t < size; t++) {
    const sorted = [...rows[t]!.entries()].sort((a, b) => a[0] - b[0]);
    for (const [s, w] of sorted) {
      colIdx[k] = s;
      values[k] = w;
      k++;
    }
  }
  return { kind: "sparse", size, rowPtr, colIdx, values };
}

export function getEntry(a: Adjacency, target: number, source: number): number {
  if (a.kind === "dense") return a.data[target * a.size + source]!;
  for (let k = a.rowPtr[target]!; k < a.rowPtr[target + 1]!; k++) {
    if (a.colIdx[k] === source) return a.values[k]!;
  }
  return 0;
}

/** Calls fn(source, weight) for every stored (possibly zero for dense) entry of row `target`. */
export function forEachInRow(a: Adjacency, target: number, fn: (source: number, weight: number) => void): void {
  if (a.kind === "dense") {
    const base = target * a.size;
    for (let s = 0; s < a.size; s++) {
      const w = a.data[base + s]!;
      if (w !== 0) fn(s, w);
    }
    return;
  }
  for (let k = a.rowPtr[target]!; k < a.rowPtr[target + 1]!; k++) fn(a.colIdx[k]!, a.values[k]!);
}

export function toDense(a: Adjacency): DenseAdjacency {
  if (a.kind === "dense") return a;
  const out = denseAdjacency(a.size);
  for (let t = 0; t < a.size; t++) {
    for (let k = a.rowPtr[t]!; k < a.rowPtr[t + 1]!; k++) out.data[t * a.size + a.colIdx[k]!] = a.values[k]!;
  }
  return out;
}

export function countNonZero(a: Adjacency): number {
  if (a.kind === "sparse") {
    let n = 0;
    for (const v of a.values) if (v !== 0) n++;
    return n;
  }
  let n = 0;
  for (const v of a.data) if (v !== 0) n++;
  return n;
}
