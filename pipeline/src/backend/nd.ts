// Fast strided loops on row-major float32 buffers, used by the kernel overrides of the "blas" backend.
// The stock tfjs cpu kernels fall back to per-element index arithmetic (with allocations) for
// broadcasting, transposes and non-innermost reductions; these loops collapse dimensions first and
// run a tight innermost loop instead.

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** NumPy broadcasting of two shapes; throws on incompatible dimensions. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`Operands could not be broadcast together with shapes ${a} and ${b}.`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of `shape` aligned to the rank of `out`; broadcast dimensions get stride 0. */
export function alignedStrides(shape: Shape, out: Shape): number[] {
  const r = out.length;
  const s = new Array<number>(r).fill(0);
  let acc = 1;
  for (let i = shape.length - 1, j = r - 1; i >= 0; i--, j--) {
    const d = shape[i]!;
    s[j] = d === 1 ? 0 : acc;
    acc *= d;
  }
  return s;
}

/**
 * Collapse an iteration space (sizes + one stride vector per operand) by dropping size-1 dims and
 * merging neighbours that are contiguous for every operand. Returns outer→inner dims.
 */
function collapse(sizes: Shape, strides: number[][]): { sizes: number[]; strides: number[][] } {
  const outSizes: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let i = sizes.length - 1; i >= 0; i--) {
    const n = sizes[i]!;
    if (n === 1) continue;
    outSizes.push(n);
    strides.forEach((s, k) => {
      outStrides[k]!.push(s[i]!);
    });
  }
  // outSizes/outStrides are inner→outer now; merge dim j+1 (outer) into j (inner) when contiguous.
  const ms: number[] = [];
  const mst: number[][] = strides.map(() => []);
  for (let j = 0; j < outSizes.length; j++) {
    const n = outSizes[j]!;
    const top = ms.length - 1;
    if (top >= 0 && outStrides.every((s, k) => s[j] === mst[k]![top]! * ms[top]!)) {
      ms[top]! *= n;
      continue;
    }
    ms.push(n);
    outStrides.forEach((s, k) => {
      mst[k]!.push(s[j]!);
    });
  }
  ms.reverse();
  for (const s of mst) s.reverse();
  return { sizes: ms, strides: mst };
}

export enum BinOp {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
  Prelu = 4, // a < 0 ? a * b : a
}

// Innermost loop: n elements, operand strides sa/sb ∈ {0, 1}.
function inner(
  op: BinOp,
  out: Float32Array,
  o: number,
  a: Float32Array,
  ai: number,
  sa: number,
  b: Float32Array,
  bi: number,
  sb: number,
  n: number,
): void {
  if (sa === 1 && sb === 1) {
    switch (op) {
      case BinOp.Add:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! + b[bi + j]!;
        return;
      case BinOp.Sub:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! - b[bi + j]!;
        return;
      case BinOp.Mul:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! * b[bi + j]!;
        return;
      case BinOp.Div:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! / b[bi + j]!;
        return;
      case BinOp.Prelu:
        for (let j = 0; j < n; j++) {
          const x = a[ai + j]!;
          out[o + j] = x < 0 ? x * b[bi + j]! : x;
        }
        return;
    }
  } else if (sa === 1) {
    const bv = b[bi]!;
    switch (op) {
      case BinOp.Add:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! + bv;
        return;
      case BinOp.Sub:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! - bv;
        return;
      case BinOp.Mul:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! * bv;
        return;
      case BinOp.Div:
        for (let j = 0; j < n; j++) out[o + j] = a[ai + j]! / bv;
        return;
      case BinOp.Prelu:
        for (let j = 0; j < n; j++) {
          const x = a[ai + j]!;
          out[o + j] = x < 0 ? x * bv : x;
        }
        return;
    }
  } else if (sb === 1) {
    const av = a[ai]!;
    switch (op) {
      case BinOp.Add:
        for (let j = 0; j < n; j++) out[o + j] = av + b[bi + j]!;
        return;
      case BinOp.Sub:
        for (let j = 0; j < n; j++) out[o + j] = av - b[bi + j]!;
        return;
      case BinOp.Mul:
        for (let j = 0; j < n; j++) out[o + j] = av * b[bi + j]!;
        return;
      case BinOp.Div:
        for (let j = 0; j < n; j++) out[o + j] = av / b[bi + j]!;
        return;
      case BinOp.Prelu:
        for (let j = 0; j < n; j++) out[o + j] = av < 0 ? av * b[bi + j]! : av;
        return;
    }
  } else {
    // both broadcast along the innermost dim (only when n === 1 after collapsing)
    const v = applyScalar(op, a[ai]!, b[bi]!);
    for (let j = 0; j < n; j++) out[o + j] = v;
  }
}

function applyScalar(op: BinOp, x: number, y: number): number {
  switch (op) {
    case BinOp.Add:
      return x + y;
    case BinOp.Sub:
      return x - y;
    case BinOp.Mul:
      return x * y;
    case BinOp.Div:
      return x / y;
    case BinOp.Prelu:
      return x < 0 ? x * y : x;
  }
}

/** out = op(a, b) with NumPy broadcasting. */
export function binary(
  op: BinOp,
  a: Float32Array,
  aShape: Shape,
  b: Float32Array,
  bShape: Shape,
): { values: Float32Array; shape: number[] } {
  const shape = broadcastShapes(aShape, bShape);
  const size = sizeOf(shape);
  const out = new Float32Array(size);
  if (size === 0) return { values: out, shape };
  if (a.length === size && b.length === size) {
    inner(op, out, 0, a, 0, 1, b, 0, 1, size);
    return { values: out, shape };
  }
  const c = collapse(shape, [alignedStrides(aShape, shape), alignedStrides(bShape, shape)]);
  const [sa, sb] = c.strides as [number[], number[]];
  const r = c.sizes.length;
  if (r === 0) {
    out[0] = applyScalar(op, a[0]!, b[0]!);
    return { values: out, shape };
  }
  const n = c.sizes[r - 1]!;
  const isa = sa[r - 1]!;
  const isb = sb[r - 1]!;
  // Odometer over the outer dims.
  const idx = new Array<number>(r).fill(0);
  let ai = 0;
  let bi = 0;
  for (let o = 0; o < size; o += n) {
    inner(op, out, o, a, ai, isa, b, bi, isb, n);
    for (let d = r - 2; d >= 0; d--) {
      idx[d]!++;
      ai += sa[d]!;
      bi += sb[d]!;
      if (idx[d]! < c.sizes[d]!) break;
      ai -= sa[d]! * c.sizes[d]!;
      bi -= sb[d]! * c.sizes[d]!;
      idx[d] = 0;
    }
  }
  return { values: out, shape };
}

/** Generic permutation of a row-major array (any typed array). */
export function transpose<T extends Float32Array | Int32Array | Uint8Array>(x: T, shape: Shape, perm: Shape): T {
  const r = shape.length;
  const inStrides = new Array<number>(r);
  let acc = 1;
  for (let i = r - 1; i >= 0; i--) {
    inStrides[i] = acc;
    acc *= shape[i]!;
  }
  const outShape = perm.map((p) => shape[p]!);
  const size = acc;
  const out = new (x.constructor as new (n: number) => T)(size);
  if (size === 0) return out;
  // Iterate the output in order; operand 0 = input strides (permuted), operand 1 = output strides.
  const outStrides = new Array<number>(r);
  acc = 1;
  for (let i = r - 1; i >= 0; i--) {
    outStrides[i] = acc;
    acc *= outShape[i]!;
  }
  const c = collapse(
    outShape,
    [perm.map((p) => inStrides[p]!), outStrides].map((s) => s.map((v, i) => (outShape[i] === 1 ? 0 : v))),
  );
  const [si] = c.strides as [number[], number[]];
  const k = c.sizes.length;
  if (k === 0) {
    out[0] = x[0]!;
    return out;
  }
  const n = c.sizes[k - 1]!;
  const s = si[k - 1]!;
  const idx = new Array<number>(k).fill(0);
  let xi = 0;
  for (let o = 0; o < size; o += n) {
    if (s === 1) out.set(x.subarray(xi, xi + n) as never, o);
    else for (let j = 0, p = xi; j < n; j++, p += s) out[o + j] = x[p]!;
    for (let d = k - 2; d >= 0; d--) {
      idx[d]!++;
      xi += si[d]!;
      if (idx[d]! < c.sizes[d]!) break;
      xi -= si[d]! * c.sizes[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Sum (or mean) over `axes`; accumulates in float64. Returns the reduced shape without kept dims. */
export function reduceSum(x: Float32Array, shape: Shape, axes: readonly number[], mean: boolean): Float32Array {
  const r = shape.length;
  const reduced = new Array<boolean>(r).fill(false);
  for (const a of axes) reduced[a] = true;
  let outSize = 1;
  let redSize = 1;
  for (let i = 0; i < r; i++) {
    if (reduced[i]) redSize *= shape[i]!;
    else outSize *= shape[i]!;
  }
  const out = new Float32Array(outSize);
  if (x.length === 0 || outSize === 0) {
    if (mean) out.fill(Number.NaN);
    return out;
  }
  // Operand 0 = input strides, operand 1 = output strides (0 on reduced dims).
  const inStrides = new Array<number>(r);
  const outStrides = new Array<number>(r);
  let ai = 1;
  let ao = 1;
  for (let i = r - 1; i >= 0; i--) {
    inStrides[i] = ai;
    ai *= shape[i]!;
    outStrides[i] = reduced[i] ? 0 : ao;
    if (!reduced[i]) ao *= shape[i]!;
  }
  const c = collapse(shape, [inStrides, outStrides]);
  const [si, so] = c.strides as [number[], number[]];
  const k = c.sizes.length;
  const acc = new Float64Array(outSize);
  if (k === 0) {
    acc[0] = x[0]!;
  } else {
    const n = c.sizes[k - 1]!;
    const innerReduced = so[k - 1] === 0;
    const idx = new Array<number>(k).fill(0);
    let xi = 0;
    let oi = 0;
    for (let done = 0; done < x.length; done += n) {
      if (innerReduced) {
        let s = 0;
        for (let j = 0; j < n; j++) s += x[xi + j]!;
        acc[oi]! += s;
      } else {
        for (let j = 0; j < n; j++) acc[oi + j]! += x[xi + j]!;
      }
      for (let d = k - 2; d >= 0; d--) {
        idx[d]!++;
        xi += si[d]!;
        oi += so[d]!;
        if (idx[d]! < c.sizes[d]!) break;
        xi -= si[d]! * c.sizes[d]!;
        oi -= so[d]! * c.sizes[d]!;
        idx[d] = 0;
      }
    }
  }
  const scale = mean ? 1 / redSize : 1;
  for (let i = 0; i < outSize; i++) out[i] = acc[i]! * scale;
  return out;
}
