// CLT evaluation on held-out text (position 0 / BOS excluded everywhere):
//  * reconstruction on the original model's activations: FVU per layer (Σ‖y−ŷ‖² / Σ‖y−ȳ‖², ȳ the
//    per-layer mean over the eval window), L0 per layer and summed, dead fraction (features that
//    never fire over the window);
//  * the replacement model (every blocks.j.hook_mlp_out at positions ≥ 1 replaced by the CLT
//    reconstruction computed from the replacement model's own resid_mid, attention live) vs the
//    original: top-1 next-token agreement, KL(orig‖repl) (mean per token), CE-loss recovered vs
//    zero-ablation of the same MLP outputs: (CE_zero − CE_repl) / (CE_zero − CE_orig).
import * as tf from "@tensorflow/tfjs";
import { logSoftmaxRows } from "../backend/index.ts";
import { type Corpus, contexts } from "../data/index.ts";
import type { GPT2 } from "../model/index.ts";
import type { CLT } from "./clt.ts";
import { inputHook, outputHook } from "./harvest.ts";
import { replacementHooks } from "./replacement.ts";

export interface EvalResult {
  fvu: { per_layer: number[]; mean: number };
  l0: { per_layer: number[]; total: number };
  dead_fraction: { per_layer: number[]; mean: number };
  replacement: { top1_agreement: number; kl: number; ce_recovered: number };
}

export interface EvalDetails extends EvalResult {
  tokens: number;
  ce: { orig: number; repl: number; zero: number };
  contexts: number;
  nCtx: number;
}

/** Streaming reconstruction metrics (float64 sums). Rows are tokens; y, yhat: [n, d] per layer. */
export class ReconstructionMetrics {
  private sse: Float64Array;
  private sumY: Float64Array[];
  private sumY2: Float64Array;
  private active: Float64Array;
  private fired: Uint8Array[];
  tokens = 0;

  constructor(
    readonly nLayers: number,
    readonly dModel: number,
    readonly nFeatures: number,
  ) {
    this.sse = new Float64Array(nLayers);
    this.sumY = Array.from({ length: nLayers }, () => new Float64Array(dModel));
    this.sumY2 = new Float64Array(nLayers);
    this.active = new Float64Array(nLayers);
    this.fired = Array.from({ length: nLayers }, () => new Uint8Array(nFeatures));
  }

  /** Adds n tokens of layer j: targets y, reconstructions yhat ([n, d]) and activations acts ([n, F]). */
  add(j: number, n: number, y: ArrayLike<number>, yhat: ArrayLike<number>, acts: ArrayLike<number>): void {
    const d = this.dModel;
    const F = this.nFeatures;
    let sse = 0;
    let s2 = 0;
    const sy = this.sumY[j]!;
    for (let t = 0; t < n; t++) {
      for (let r = 0; r < d; r++) {
        const v = y[t * d + r]!;
        const e = v - yhat[t * d + r]!;
        sse += e * e;
        s2 += v * v;
        sy[r]! += v;
      }
    }
    this.sse[j]! += sse;
    this.sumY2[j]! += s2;
    let act = 0;
    const f = this.fired[j]!;
    for (let q = 0; q < n * F; q++) {
      if (acts[q] !== 0) {
        act++;
        f[q % F] = 1;
      }
    }
    this.active[j]! += act;
    if (j === 0) this.tokens += n;
  }

  result(): Pick<EvalResult, "fvu" | "l0" | "dead_fraction"> {
    const L = this.nLayers;
    const n = this.tokens;
    const fvu = Array.from({ length: L }, (_, j) => {
      let m2 = 0;
      for (const v of this.sumY[j]!) m2 += v * v;
      const sst = this.sumY2[j]! - m2 / n;
      return this.sse[j]! / sst;
    });
    const l0 = Array.from(this.active, (a) => a / n);
    const dead = this.fired.map((f) => f.reduce((c, v) => c + (v === 0 ? 1 : 0), 0) / this.nFeatures);
    return {
      fvu: { per_layer: fvu, mean: mean(fvu) },
      l0: { per_layer: l0, total: l0.reduce((a, b) => a + b, 0) },
      dead_fraction: { per_layer: dead, mean: mean(dead) },
    };
  }
}

function mean(a: number[]): number {
  return a.reduce((x, y) => x + y, 0) / a.length;
}

/** Streaming logit metrics over positions; log-probs as [n, V] rows. */
export class ReplacementMetrics {
  n = 0;
  agree = 0;
  kl = 0;
  nCe = 0;
  ceOrig = 0;
  ceRepl = 0;
  ceZero = 0;

  /**
   * Adds rows of log-probabilities of the original, replacement and zero-ablated models. `labels[i]`
   * is the next token of row i, or −1 when it has none (the last position: no CE, but top-1 and KL).
   */
  add(
    V: number,
    lpOrig: ArrayLike<number>,
    lpRepl: ArrayLike<number>,
    lpZero: ArrayLike<number>,
    labels: ArrayLike<number>,
  ): void {
    const rows = labels.length;
    for (let i = 0; i < rows; i++) {
      const o = i * V;
      let bo = 0;
      let br = 0;
      let kl = 0;
      for (let v = 0; v < V; v++) {
        const a = lpOrig[o + v]!;
        const b = lpRepl[o + v]!;
        if (a > lpOrig[o + bo]!) bo = v;
        if (b > lpRepl[o + br]!) br = v;
        kl += Math.exp(a) * (a - b);
      }
      this.n++;
      if (bo === br) this.agree++;
      this.kl += kl;
      const lab = labels[i]!;
      if (lab >= 0) {
        this.nCe++;
        this.ceOrig -= lpOrig[o + lab]!;
        this.ceRepl -= lpRepl[o + lab]!;
        this.ceZero -= lpZero[o + lab]!;
      }
    }
  }

  result(): {
    top1_agreement: number;
    kl: number;
    ce_recovered: number;
    ce: { orig: number; repl: number; zero: number };
  } {
    const ce = { orig: this.ceOrig / this.nCe, repl: this.ceRepl / this.nCe, zero: this.ceZero / this.nCe };
    return {
      top1_agreement: this.agree / this.n,
      kl: this.kl / this.n,
      ce_recovered: (ce.zero - ce.repl) / (ce.zero - ce.orig),
      ce,
    };
  }
}

/** Values of a [B, T, k] tensor at positions ≥ 1, as [B·(T−1), k] rows. */
function dropBos(t: tf.Tensor): Float32Array {
  const [B, T, k] = t.shape as [number, number, number];
  const v = t.dataSync() as Float32Array;
  const out = new Float32Array(B * (T - 1) * k);
  for (let b = 0; b < B; b++) out.set(v.subarray((b * T + 1) * k, (b + 1) * T * k), b * (T - 1) * k);
  return out;
}

/** Tensor [B, T, d]: position 0 from `orig`, positions ≥ 1 from `rows` ([B·(T−1), d]). */
function keepBos(orig: tf.Tensor, rows: Float32Array): tf.Tensor {
  const [B, T, d] = orig.shape as [number, number, number];
  const v = (orig.dataSync() as Float32Array).slice();
  for (let b = 0; b < B; b++) v.set(rows.subarray(b * (T - 1) * d, (b + 1) * (T - 1) * d), (b * T + 1) * d);
  return tf.tensor3d(v, [B, T, d]);
}

/** Log-probabilities at positions ≥ 1 of logits [B, T, V] (disposes the logits). */
function logProbs(logits: tf.Tensor): Float64Array {
  const V = logits.shape[2]!;
  const out = logSoftmaxRows(dropBos(logits), V);
  logits.dispose();
  return out;
}

export interface EvalOptions {
  clt: CLT;
  model: GPT2;
  corpus: Corpus;
  /** Evaluation tokens (positions ≥ 1); stops early at the end of the corpus. */
  tokens: number;
  nCtx: number;
  batchContexts?: number;
  onProgress?: (tokens: number) => void;
}

export async function evalClt(o: EvalOptions): Promise<EvalDetails> {
  const { clt, model } = o;
  const { nLayers: L, dModel: d, nFeatures: F } = clt.shape;
  if (model.config.nLayers !== L || model.config.dModel !== d) {
    throw new Error(
      `CLT shape (${L} layers, d=${d}) does not match the model (${model.config.nLayers} layers, d=${model.config.dModel})`,
    );
  }
  if (o.nCtx > model.config.nCtx)
    throw new Error(`context length ${o.nCtx} exceeds the model's context (${model.config.nCtx})`);
  const stream = contexts(o.corpus, { nCtx: o.nCtx });
  const rec = new ReconstructionMetrics(L, d, F);
  const rep = new ReplacementMetrics();
  // contexts per forward: up to 32, fewer for big vocabularies so the three [B·(T−1), V] log-prob
  // tables stay around 128 MB each (GPT-2's 50,257-token vocabulary at T = 128 → 2 contexts)
  const V0 = model.config.vocabSize;
  const bc = o.batchContexts ?? Math.max(1, Math.min(32, Math.floor(16e6 / ((o.nCtx - 1) * V0))));
  const T = o.nCtx;
  let nContexts = 0;
  const names = new Set<string>();
  for (let l = 0; l < L; l++) names.add(inputHook(l)).add(outputHook(l));
  while (rec.tokens < o.tokens) {
    const want = Math.min(bc, Math.ceil((o.tokens - rec.tokens) / (T - 1)));
    const ctxs = await stream.nextBatch(want);
    if (ctxs.length === 0) break;
    nContexts += ctxs.length;
    const ids = ctxs.map((c) => model.toModelIds(Array.from(c)));
    const B = ids.length;
    const n = B * (T - 1);
    // original model, with the activations the CLT reads and reconstructs (the CLT side runs on
    // Float32Arrays through BLAS: much faster than tfjs elementwise kernels on the cpu backend)
    const orig = model.run(ids, { cache: (nm) => names.has(nm) });
    const lpOrig = logProbs(orig.logits!);
    const actsO: Float32Array[] = [];
    for (let l = 0; l < L; l++) actsO.push(clt.encodeArray(l, dropBos(orig.cache[inputHook(l)]!), n).acts);
    for (let j = 0; j < L; j++) {
      rec.add(j, n, dropBos(orig.cache[outputHook(j)]!), clt.reconstructLayerArray(j, actsO, n), actsO[j]!);
    }
    for (const t of Object.values(orig.cache)) t.dispose();
    // replacement model: features read the replacement's own resid_mid
    const lpRepl = logProbs(
      model.run(ids, { hooks: replacementHooks(clt.weights, { batch: B, positions: T }) }).logits!,
    );
    // zero-ablation of the same MLP outputs
    const lpZero = (() => {
      const hooks: Record<string, (v: tf.Tensor) => tf.Tensor> = {};
      for (let l = 0; l < L; l++) hooks[outputHook(l)] = (v) => keepBos(v, new Float32Array(n * d));
      return logProbs(model.run(ids, { hooks }).logits!);
    })();
    const V = lpOrig.length / n;
    const labels = new Int32Array(n);
    ids.forEach((row, b) => {
      for (let p = 1; p < T; p++) labels[b * (T - 1) + (p - 1)] = p + 1 < T ? row[p + 1]! : -1;
    });
    rep.add(V, lpOrig, lpRepl, lpZero, labels);
    o.onProgress?.(rec.tokens);
  }
  if (rec.tokens === 0) throw new Error("the evaluation corpus produced no tokens");
  const r = rep.result();
  return {
    ...rec.result(),
    replacement: { top1_agreement: r.top1_agreement, kl: r.kl, ce_recovered: r.ce_recovered },
    tokens: rec.tokens,
    ce: r.ce,
    contexts: nContexts,
    nCtx: T,
  };
}
