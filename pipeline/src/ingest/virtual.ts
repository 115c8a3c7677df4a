// Residual-direct virtual weights of a CLT: source feature s (layer ls) writes W_dec[ls][s, j−ls]
// into the MLP output of every layer j ≥ ls; target feature t (layer lt) reads hook_resid_mid of lt,
// which contains the MLP outputs of layers < lt. So the direct (attention-free) weight is
//   V[t, s] = W_enc[lt][t] · Σ_{j=ls}^{lt−1} W_dec[ls][s, j−ls]      (lt > ls).
// Kept: the top-k targets of every source and the top-k sources of every target, by |V|.
import type { VirtualEdge } from "@circuit-atlas/db";
import { qualifiedFeatureId } from "@circuit-atlas/db";
import { gemm } from "../backend/blas.ts";
import type { CltWeights } from "../transcoder/params.ts";

/** The k largest-|w| entries seen, as parallel arrays (unordered). */
class TopK {
  readonly ids: Int32Array;
  readonly w: Float32Array;
  n = 0;
  private minAt = 0;
  constructor(readonly k: number) {
    this.ids = new Int32Array(k);
    this.w = new Float32Array(k);
  }
  push(id: number, w: number): void {
    if (this.n < this.k) {
      this.ids[this.n] = id;
      this.w[this.n] = w;
      this.n++;
      if (this.n === this.k) this.findMin();
      return;
    }
    if (Math.abs(w) <= Math.abs(this.w[this.minAt]!)) return;
    this.ids[this.minAt] = id;
    this.w[this.minAt] = w;
    this.findMin();
  }
  private findMin(): void {
    let m = 0;
    for (let i = 1; i < this.n; i++) if (Math.abs(this.w[i]!) < Math.abs(this.w[m]!)) m = i;
    this.minAt = m;
  }
}

/** Dense virtual weights of layer pair (ls → lt), sources block [s0, s0+nS): row-major [nS, F]. */
export function virtualBlock(clt: CltWeights, ls: number, lt: number, s0: number, nS: number): Float32Array {
  const { nLayers: L, dModel: d, nFeatures: F } = clt.shape;
  if (!(ls < lt && lt < L)) throw new Error(`virtual weights need source layer < target layer < ${L}`);
  const span = L - ls;
  const dec = clt.wDec[ls]!;
  const D = new Float32Array(nS * d);
  for (let s = 0; s < nS; s++) {
    const base = (s0 + s) * span * d;
    for (let j = 0; j < lt - ls; j++) {
      const off = base + j * d;
      for (let c = 0; c < d; c++) D[s * d + c]! += dec[off + c]!;
    }
  }
  const out = new Float32Array(nS * F);
  gemm(false, true, nS, F, d, 1, D, d, clt.wEnc[lt]!, d, 0, out, F);
  return out;
}

/** Top-k virtual edges per source and per target (their union), with qualified feature ids. */
export function virtualWeights(clt: CltWeights, transcoderId: string, k: number, block = 256): VirtualEdge[] {
  const { nLayers: L, nFeatures: F } = clt.shape;
  const N = L * F;
  const out = Array.from({ length: N }, () => new TopK(k));
  const inc = Array.from({ length: N }, () => new TopK(k));
  for (let ls = 0; ls < L - 1; ls++) {
    for (let lt = ls + 1; lt < L; lt++) {
      for (let s0 = 0; s0 < F; s0 += block) {
        const nS = Math.min(block, F - s0);
        const V = virtualBlock(clt, ls, lt, s0, nS);
        for (let s = 0; s < nS; s++) {
          const src = ls * F + s0 + s;
          const row = s * F;
          for (let t = 0; t < F; t++) {
            const w = V[row + t]!;
            if (w === 0) continue;
            const tgt = lt * F + t;
            out[src]!.push(tgt, w);
            inc[tgt]!.push(src, w);
          }
        }
      }
    }
  }
  const seen = new Set<number>();
  const edges: VirtualEdge[] = [];
  const id = (g: number) => qualifiedFeatureId(transcoderId, Math.floor(g / F), g % F);
  const add = (s: number, t: number, w: number) => {
    const key = s * N + t;
    if (seen.has(key)) return;
    seen.add(key);
    edges.push({ source: id(s), target: id(t), weight: w });
  };
  for (let s = 0; s < N; s++) {
    const h = out[s]!;
    for (let i = 0; i < h.n; i++) add(s, h.ids[i]!, h.w[i]!);
  }
  for (let t = 0; t < N; t++) {
    const h = inc[t]!;
    for (let i = 0; i < h.n; i++) add(h.ids[i]!, t, h.w[i]!);
  }
  return edges;
}
