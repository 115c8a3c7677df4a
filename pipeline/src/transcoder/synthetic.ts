// A synthetic activation source with a known sparse cross-layer structure (tests and benchmarks;
// no model needed). Each layer has `nTrue` ground-truth features; token t activates each with
// probability `p` at magnitude 1 + |N(0,1)|; x^ℓ = Σ_k s_k·e_k + noise and y^j = Σ_{ℓ≤j} Σ_k s^ℓ_k·D^{ℓ→j}_k,
// so a CLT with enough features can reconstruct y from x. Token t is generated from its own seed,
// so the state is just the next token index.

import { Rng } from "@circuit-atlas/util";
import type { ActivationSource } from "./buffer.ts";

export interface SyntheticOptions {
  nLayers: number;
  dModel: number;
  nTrue?: number;
  p?: number;
  noise?: number;
  seed?: number;
  /** Total tokens available (default unlimited). */
  tokens?: number;
  /** Scale of x and y in raw units (exercises normalization). */
  xScale?: number;
  yScale?: number;
}

export class SyntheticSource implements ActivationSource {
  readonly nLayers: number;
  readonly dModel: number;
  private readonly enc: Float32Array[];
  private readonly dec: Float32Array[];
  private readonly o: Required<SyntheticOptions>;
  private pos = 0;

  constructor(opts: SyntheticOptions) {
    this.o = {
      nTrue: 4 * opts.dModel,
      p: 0.02,
      noise: 0.05,
      seed: 0,
      tokens: Number.POSITIVE_INFINITY,
      xScale: 1,
      yScale: 1,
      ...opts,
    };
    this.nLayers = opts.nLayers;
    this.dModel = opts.dModel;
    const { nLayers: L, dModel: d, nTrue: K } = this.o;
    const rng = new Rng(this.o.seed);
    const unit = (n: number) => {
      const v = Float32Array.from({ length: n }, () => rng.normal());
      const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
      return v.map((u) => u / s);
    };
    this.enc = Array.from({ length: L }, () => {
      const e = new Float32Array(K * d);
      for (let k = 0; k < K; k++) e.set(unit(d), k * d);
      return e;
    });
    this.dec = Array.from({ length: L }, (_, l) => {
      const e = new Float32Array(K * (L - l) * d);
      for (let k = 0; k < K; k++) e.set(unit((L - l) * d), k * (L - l) * d);
      return e;
    });
  }

  async read(n: number, x: Float32Array, y: Float32Array): Promise<number> {
    const { nLayers: L, dModel: d, nTrue: K, p, noise, seed, xScale, yScale } = this.o;
    const m = Math.min(n, this.o.tokens - this.pos);
    const row = L * d;
    for (let t = 0; t < m; t++) {
      const rng = new Rng((seed * 0x9e3779b1 + this.pos + t + 1) >>> 0);
      const xo = t * row;
      x.fill(0, xo, xo + row);
      y.fill(0, xo, xo + row);
      for (let l = 0; l < L; l++) {
        for (let k = 0; k < K; k++) {
          if (rng.next() >= p) continue;
          const s = 1 + Math.abs(rng.normal());
          const e = this.enc[l]!;
          for (let r = 0; r < d; r++) x[xo + l * d + r]! += s * e[k * d + r]!;
          const D = this.dec[l]!;
          const w = (L - l) * d;
          for (let q = 0; q < w; q++) y[xo + l * d + q]! += s * D[k * w + q]!;
        }
        for (let r = 0; r < d; r++) x[xo + l * d + r]! += noise * rng.normal();
      }
      for (let q = 0; q < row; q++) {
        x[xo + q] = x[xo + q]! * xScale;
        y[xo + q] = y[xo + q]! * yScale;
      }
    }
    this.pos += m;
    return m;
  }

  state(): unknown {
    return { pos: this.pos };
  }

  async restore(state: unknown): Promise<void> {
    const pos = (state as { pos?: unknown } | null)?.pos;
    if (typeof pos !== "number") throw new Error("synthetic source: bad state");
    this.pos = pos;
  }
}
