// Attribution edges by batched backward passes through the local replacement model.
//
// With attention patterns and LN scales frozen and MLPs bypassed (stop-gradient), the map from the
// node vectors (token embeddings at hook_embed, MLP outputs at blocks.ℓ.hook_mlp_out) to a target's
// input (a feature's pre-activation via its encoder row at blocks.ℓ.hook_resid_mid, or a logit
// direction after the frozen ln_final) is linear. For a batch of targets we inject each target's
// input vector at its (layer, position) and run the transposed map down the residual stream by
// hand (vector–Jacobian products in float32 with BLAS):
//   at each block k (top to bottom): read the gradient at hook_mlp_out_k and dot it with the scaled
//   decoder rows a_s·W_dec[s, k−ℓ_s] of every active feature at that position (all output layers
//   of a CLT source add up into its column) and with the error vectors; inject the targets of layer
//   k; then go through attention: G += LN1ᵀ(W_Vᵀ · patternᵀ · W_Oᵀ · G) with σ frozen (LN centering
//   and γ stay on the path).
// At the bottom the gradient at hook_embed is dotted with the token embeddings wte[token].
// Positional embeddings, biases, LN β and b_dec never enter: they are the constant terms.

import { gemm } from "../backend/index.ts";
import { decoderRow, encoderRow } from "./clt.ts";
import type { ActiveFeature, PromptContext } from "./context.ts";

/** Internal source columns: active features by (position, layer, index), then errors (layer-major),
 * then embeddings. */
export interface SourceLayout {
  features: ActiveFeature[];
  nFeatures: number;
  nCols: number;
  errorCol(layer: number, position: number): number;
  embedCol(position: number): number;
  /** Column of the first feature at position p. */
  posStart: Int32Array;
  /** countUpTo[p * L + k]: features at position p with layer ≤ k. */
  countUpTo: Int32Array;
  /** decoders[k * T + p]: [countUpTo(p,k), d] rows a_s·W_dec[s, k − ℓ_s]. */
  decoders: Float32Array[];
}

export function buildSourceLayout(ctx: PromptContext): SourceLayout {
  const { T, L, d, clt } = ctx;
  const features = [...ctx.features].sort(
    (a, b) => a.position - b.position || a.layer - b.layer || a.featureIndex - b.featureIndex,
  );
  const nF = features.length;
  const posStart = new Int32Array(T + 1);
  const countUpTo = new Int32Array(T * L);
  for (const f of features) {
    posStart[f.position + 1]!++;
    for (let k = f.layer; k < L; k++) countUpTo[f.position * L + k]!++;
  }
  for (let p = 0; p < T; p++) posStart[p + 1]! += posStart[p]!;
  const decoders: Float32Array[] = [];
  for (let k = 0; k < L; k++) {
    for (let p = 0; p < T; p++) {
      const n = countUpTo[p * L + k]!;
      const D = new Float32Array(n * d);
      for (let i = 0; i < n; i++) {
        const f = features[posStart[p]! + i]!;
        const row = decoderRow(clt, f.layer, f.featureIndex, k);
        for (let r = 0; r < d; r++) D[i * d + r] = f.activation * row[r]!;
      }
      decoders.push(D);
    }
  }
  return {
    features,
    nFeatures: nF,
    nCols: nF + L * T + T,
    errorCol: (l, p) => nF + l * T + p,
    embedCol: (p) => nF + L * T + p,
    posStart,
    countUpTo,
    decoders,
  };
}

export interface Target {
  /** Layer whose resid_mid the target reads; L for logit targets (the final residual stream). */
  layer: number;
  position: number;
  /** Gradient injected at that point (encoder row, or the logit direction through frozen ln_final). */
  vector: Float32Array;
}

/** Model weights used by the backward pass, as float32 arrays. */
export interface LinearWeights {
  /** Per layer c_attn.weight [d, 3d] (W_V = columns 2d..3d). */
  cAttn: Float32Array[];
  /** Per layer c_proj.weight [d, d]. */
  cProj: Float32Array[];
  gamma1: Float32Array[];
  gammaF: Float32Array;
  /** Unembedding [V, d]. */
  unembed: Float32Array;
  /** Token embedding [V, d]. */
  wte: Float32Array;
}

const weightCache = new WeakMap<object, LinearWeights>();

export function linearWeights(ctx: PromptContext): LinearWeights {
  const m = ctx.model;
  let w = weightCache.get(m);
  if (!w) {
    const get = (n: string) => m.weights[n]!.dataSync() as Float32Array;
    const wte = get("wte.weight");
    w = {
      cAttn: Array.from({ length: ctx.L }, (_, l) => get(`h.${l}.attn.c_attn.weight`)),
      cProj: Array.from({ length: ctx.L }, (_, l) => get(`h.${l}.attn.c_proj.weight`)),
      gamma1: Array.from({ length: ctx.L }, (_, l) => get(`h.${l}.ln_1.weight`)),
      gammaF: get("ln_f.weight"),
      unembed: m.weights["lm_head.weight"] ? get("lm_head.weight") : wte,
      wte,
    };
    weightCache.set(m, w);
  }
  return w;
}

export function featureInjection(ctx: PromptContext, f: { layer: number; featureIndex: number }): Float32Array {
  return encoderRow(ctx.clt, f.layer, f.featureIndex);
}

/** Seconds spent in each part of computeRows (cumulative; for benchmarks). */
export const engineProfile = { readout: 0, attention: 0, heads: 0, layerNorm: 0, batches: 0, rowsTimesLayers: 0 };

/**
 * Edge rows for `targets` (in the given order) into `out` [targets.length, nCols]: direct effects
 * of every source column on each target's input.
 *
 * Within a batch only the non-zero part of the gradient is stored: target b occupies positions
 * 0..p_b (attention only moves information forward, so later positions get no gradient), and the
 * batch is ordered by layer (descending) so that at block k the targets already injected (layer ≥ k)
 * form a prefix of the rows.
 */
export function computeRows(
  ctx: PromptContext,
  src: SourceLayout,
  targets: readonly Target[],
  out: Float32Array,
  batchSize = 64,
  opts: { samePosition?: boolean } = {},
): void {
  // samePosition: only the sources at each target's own position (a feature's direct effect on the
  // logits read at its token). Those are reached only along that position's residual stream and its
  // attention to itself, so one row per target replaces position + 1 rows; other columns stay as given.
  const same = opts.samePosition === true;
  const { T, L, d, H, dHead } = ctx;
  const nCols = src.nCols;
  if (out.length < targets.length * nCols) throw new Error("computeRows: output buffer too small");
  const w = linearWeights(ctx);
  const bMax = Math.min(batchSize, targets.length);
  const G = new Float32Array(bMax * T * d);
  const Gz = new Float32Array(bMax * T * d);
  const Gv = new Float32Array(bMax * T * d);
  const gathered = new Float32Array(bMax * d);
  let maxN = 1;
  for (const D of src.decoders) maxN = Math.max(maxN, D.length / d);
  const C = new Float32Array(bMax * maxN);
  const rowOf = new Int32Array(bMax);
  for (let start = 0; start < targets.length; start += batchSize) {
    engineProfile.batches++;
    const B = Math.min(batchSize, targets.length - start);
    // Batch order: layer descending (stable), so live targets are a prefix.
    const order = Array.from({ length: B }, (_, i) => start + i).sort(
      (a, b) => targets[b]!.layer - targets[a]!.layer || a - b,
    );
    const tg = order.map((i) => targets[i]!);
    const segOff = new Int32Array(B + 1);
    for (let i = 0; i < B; i++) segOff[i + 1] = segOff[i]! + (same ? 1 : tg[i]!.position + 1);
    /** The row of target i's gradient at position p (p ≤ its position; in `same` mode p = its position). */
    const rowAt = (i: number, p: number) => segOff[i]! + (same ? 0 : p);
    const rowPos = new Int32Array(segOff[B]!);
    for (let i = 0; i < B; i++)
      for (let p = same ? tg[i]!.position : 0; p <= tg[i]!.position; p++) rowPos[rowAt(i, p)] = p;
    /** Number of batch targets with layer ≥ k (a prefix). */
    const liveAtLeast = (k: number) => {
      let n = 0;
      while (n < B && tg[n]!.layer >= k) n++;
      return n;
    };
    G.fill(0, 0, segOff[B]! * d);
    const top = tg[0]!.layer;
    const inject = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const off = rowAt(i, tg[i]!.position) * d;
        const v = tg[i]!.vector;
        for (let r = 0; r < d; r++) G[off + r]! += v[r]!;
      }
    };
    let injected = 0;
    if (top === L) {
      injected = liveAtLeast(L);
      inject(0, injected);
    }
    for (let k = Math.min(top, L - 1); k >= 0; k--) {
      // 1. Read the gradient at hook_mlp_out_k for the targets above layer k (rows gathered per position).
      let tp = performance.now();
      const above = liveAtLeast(k + 1);
      let maxP = 0;
      for (let i = 0; i < above; i++) maxP = Math.max(maxP, tg[i]!.position);
      for (let p = 1; p <= maxP; p++) {
        let m = 0;
        for (let i = 0; i < above; i++) {
          if (tg[i]!.position < p || (same && tg[i]!.position !== p)) continue;
          gathered.set(G.subarray(rowAt(i, p) * d, (rowAt(i, p) + 1) * d), m * d);
          rowOf[m] = order[i]! - start;
          m++;
        }
        if (m === 0) continue;
        const n = src.countUpTo[p * L + k]!;
        if (n > 0) {
          gemm(false, true, m, n, d, 1, gathered, d, src.decoders[k * T + p]!, d, 0, C, n);
          const c0 = src.posStart[p]!;
          for (let j = 0; j < m; j++) {
            const dst = (start + rowOf[j]!) * nCols + c0;
            for (let c = 0; c < n; c++) out[dst + c]! += C[j * n + c]!;
          }
        }
        const e = ctx.errors[k]!.subarray(p * d, (p + 1) * d);
        const ec = src.errorCol(k, p);
        for (let j = 0; j < m; j++) {
          let s = 0;
          for (let r = 0; r < d; r++) s += gathered[j * d + r]! * e[r]!;
          out[(start + rowOf[j]!) * nCols + ec]! += s;
        }
      }
      engineProfile.readout += (performance.now() - tp) / 1000;
      tp = performance.now();
      // 2. Targets reading resid_mid_k.
      const live = liveAtLeast(k);
      inject(injected, live);
      injected = live;
      // 3. Through attention of block k: G += LN1ᵀ W_Vᵀ patternᵀ W_Oᵀ G, on the live rows only.
      const R = segOff[live]!;
      gemm(false, true, R, d, d, 1, G, d, w.cProj[k]!, d, 0, Gz, d);
      const t1 = performance.now();
      const pat = ctx.patterns[k]!;
      for (let i = 0; i < live; i++) {
        const P = tg[i]!.position + 1;
        const base = segOff[i]! * d;
        if (same) {
          // Only the key at the target's own position: its attention weight to itself.
          for (let h = 0; h < H; h++) {
            const a = pat[h * T * T + (P - 1) * T + (P - 1)]!;
            for (let r = h * dHead; r < (h + 1) * dHead; r++) Gv[base + r] = a * Gz[base + r]!;
          }
          continue;
        }
        for (let h = 0; h < H; h++) {
          gemm(
            true,
            false,
            P,
            dHead,
            P,
            1,
            pat.subarray(h * T * T),
            T,
            Gz.subarray(base + h * dHead),
            d,
            0,
            Gv.subarray(base + h * dHead),
            d,
          );
        }
      }
      const t2 = performance.now();
      engineProfile.heads += (t2 - t1) / 1000;
      gemm(false, true, R, d, d, 1, Gv, d, w.cAttn[k]!.subarray(2 * d), 3 * d, 0, Gz, d);
      const t3 = performance.now();
      const gamma = w.gamma1[k]!;
      const sigma = ctx.ln1Scale[k]!;
      for (let row = 0; row < R; row++) {
        const off = row * d;
        let mean = 0;
        for (let r = 0; r < d; r++) mean += gamma[r]! * Gz[off + r]!;
        mean /= d;
        const inv = 1 / sigma[rowPos[row]!]!;
        for (let r = 0; r < d; r++) G[off + r]! += (gamma[r]! * Gz[off + r]! - mean) * inv;
      }
      engineProfile.layerNorm += (performance.now() - t3) / 1000;
      engineProfile.attention += (performance.now() - tp) / 1000;
      engineProfile.rowsTimesLayers += R;
    }
    // Bottom: gradient at hook_embed · token embeddings.
    for (let i = 0; i < B; i++) {
      const dst = order[i]! * nCols;
      for (let p = same ? tg[i]!.position : 0; p <= tg[i]!.position; p++) {
        const id = ctx.modelIds[p]!;
        const e = w.wte.subarray(id * d, (id + 1) * d);
        const g = G.subarray(rowAt(i, p) * d, (rowAt(i, p) + 1) * d);
        let s = 0;
        for (let r = 0; r < d; r++) s += g[r]! * e[r]!;
        out[dst + src.embedCol(p)]! += s;
      }
    }
  }
}
