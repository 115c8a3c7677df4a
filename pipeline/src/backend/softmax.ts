// Float64 (log-)softmax over rows of logits, for metrics and reports (not for tfjs graphs).

/** Row-wise log-softmax in float64 over rows of length V (x.length / V rows). */
export function logSoftmaxRows(x: ArrayLike<number>, V: number): Float64Array {
  const out = new Float64Array(x.length);
  const rows = x.length / V;
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let m = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) if (x[o + v]! > m) m = x[o + v]!;
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(x[o + v]! - m);
    const lse = m + Math.log(s);
    for (let v = 0; v < V; v++) out[o + v] = x[o + v]! - lse;
  }
  return out;
}

/** Softmax of one vector of logits, in float64. */
export function softmax64(x: ArrayLike<number>): Float64Array {
  const out = logSoftmaxRows(x, x.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.exp(out[i]!);
  return out;
}
