// The CLT training step, hand-fused: the seven GEMM groups go straight to BLAS sgemm and everything
// else (bias, JumpReLU, loss terms and their gradients) is two fused passes over the [B, F]
// pre-activations per layer. It computes exactly the loss of loss.ts (the tfjs reference, which the
// tests compare it against) and the same pseudo-gradients as the tf.customGrad JumpReLU.
//
// Loss (normalized units, batch of B tokens, see CLT.md):
//   MSE      = (1/B) Σ_t Σ_j ‖ŷ_tj − y_tj‖²
//   sparsity = (λ/B) Σ_t Σ_ℓ Σ_i tanh(c·‖W_dec,ℓi‖·a_tℓi)
//   pre      = (λ_P/B) Σ_t Σ_ℓ Σ_i ReLU(θ_ℓi − z_tℓi)·‖W_dec,ℓi‖
import { gemm } from "../backend/index.ts";
import { jumpReluActive } from "./jumprelu.ts";
import { type CltParams, type CltShape, decoderNorms } from "./params.ts";
import { activeAxpy, decoderBackwardByFeature, encoderGradSparse, featureIndex, rowViews } from "./sparse.ts";
import { SparseKernels } from "./sparse-kernel.ts";
import { type LossCoefs, newStepStats, type StepStats, type TrainStep } from "./step.ts";

/**
 * Which products a layer runs: "dense" = the GEMMs over all F features, "sparse" = row operations
 * over the active set (sparse.ts), "auto" = per layer and step, sparse when the candidate fraction
 * (active or within the ε-window, measured by the scan) is below `sparseBelow`.
 */
export type StepPath = "auto" | "dense" | "sparse";

export interface FusedOptions {
  path?: StepPath;
  sparseBelow?: number;
  /**
   * Sparse layers run on sparse.wat's kernels on both cores where their tensors sit in kernel memory
   * (sparse-kernel.ts; default), else on BLAS row operations (sparse.ts). false: always the latter.
   */
  kernels?: boolean;
  /** Threads of the kernels (default: two where the machine has them). */
  threads?: number;
}

/**
 * Default switch point of "auto": the sparse products cost ~3 row operations per candidate at BLAS
 * level-1 speed against 3 GEMMs over all B·F elements at level-3 speed; bench:clt measures both
 * (level-3 runs ~25-40× faster per element here), so below ~3 % candidates the sparse path wins.
 */
export const SPARSE_BELOW = 0.03;
/**
 * The switch point with sparse.wat's kernels (sparse-kernel.ts), measured with both paths forced
 * (1 Dec 2026): at 5 % candidates sparse took 95 vs 113 ms (demo 4×128, F = 512, B = 2048) and 1.0 vs
 * 3.0 s (12×768, F = 1024, B = 1024); at 8 %, 134 vs 121 ms and 1.8 vs 3.1 s; at 12 %, 162 vs 138 ms.
 */
export const SPARSE_BELOW_KERNELS = 0.06;

export class FusedStep implements TrainStep {
  readonly L: number;
  readonly d: number;
  readonly F: number;
  readonly B: number;
  readonly path: StepPath;
  readonly sparseBelow: number;
  /** Per layer: 1 when the last run took the sparse path. */
  readonly sparseLayers: Uint8Array;
  /** Per layer: 1 when the last run's sparse decoder products ran on sparse.wat's kernels. */
  readonly kernelLayers: Uint8Array;
  /** Per layer: candidates (active or within the ε-window) listed by the last run's scan. */
  readonly candidates: Float64Array;
  // z and dL/dz are needed one layer at a time (the backward reads z only at the candidates, kept
  // in zCand), so one buffer each serves every layer and stays in cache; a is needed per layer, and
  // only by dense layers (allocated on first use, so an all-sparse run never holds L·B·F of it).
  private z: Float32Array;
  private a: (Float32Array | null)[];
  /** Per layer: a holds values at the previous step's candidates (cleared before the next scan). */
  private aDirty: Uint8Array;
  private ga: Float32Array | null = null;
  /** Per candidate of the current layer: dL/da, then dL/dz. */
  private gaC = new Float32Array(0);
  private gzC = new Float32Array(0);
  /** Sparse ∂W_enc accumulator, [F, d] (allocated on first sparse layer). */
  private encT: Float32Array | null = null;
  /** Per layer: z at each candidate (same index as cand). */
  private zCand: Float32Array[];
  private yhat: Float32Array;
  private norms: Float32Array[];
  private theta: Float32Array[];
  private sumZ: Float64Array[];
  private sumZActive: Float64Array[];
  private countEq: Uint32Array[];
  private countBelow: Float64Array[];
  private sumZBelow: Float64Array[];
  private negPre: Float64Array;
  private negPreF32: Float32Array;
  /** Per layer: column indices of the "candidate" elements of z (ε-window or above θ), row by row. */
  private cand: Int32Array[];
  /** Per layer: cand[rowStart[t] .. rowStart[t+1]) are row t's candidates. */
  private rowStart: Int32Array[];
  private scanLo: Float64Array;
  /** Per layer: tanh(c·n·z) of each active candidate (same index as cand), reused by the backward. */
  private tanhCand: Float64Array[];
  private sparseInactive: Float64Array;
  private pair = new Float64Array(2);
  private xSum: Float64Array;
  private ySum: Float64Array;
  private gbDec: Float64Array;
  private gTheta: Float64Array;
  private gNorm: Float64Array;
  private gBenc: Float64Array;
  /** Per sparse layer: candidate lists grouped by feature (sparse.ts featureIndex). */
  private featStart: Int32Array[];
  private featQ: Int32Array[];
  private qTok: Int32Array[];
  /** Per layer: dL/d‖w_i‖ / ‖w_i‖ (the decoder-norm term's coefficient). */
  private coef: Float64Array[];
  private kernels: SparseKernels | null;
  readonly stats: StepStats;

  constructor(shape: CltShape, batch: number, opts: FusedOptions = {}) {
    this.L = shape.nLayers;
    this.d = shape.dModel;
    this.F = shape.nFeatures;
    this.B = batch;
    this.path = opts.path ?? "auto";
    this.sparseBelow =
      opts.sparseBelow ?? (opts.kernels !== false && shape.dModel % 4 === 0 ? SPARSE_BELOW_KERNELS : SPARSE_BELOW);
    const { L, d, F, B } = this;
    const per = (n: number) => Array.from({ length: L }, () => new Float32Array(n));
    this.z = new Float32Array(B * F);
    this.a = Array.from({ length: L }, () => null);
    this.aDirty = new Uint8Array(L);
    this.sparseLayers = new Uint8Array(L);
    this.candidates = new Float64Array(L);
    // candidate lists grow on demand (a few % of B·F once training is sparse)
    const cap0 = Math.min(B * F, Math.max(1024, Math.ceil((B * F) / 16)));
    this.zCand = per(cap0);
    this.yhat = new Float32Array(B * L * d);
    this.norms = per(F);
    this.theta = per(F);
    const per64 = () => Array.from({ length: L }, () => new Float64Array(F));
    this.sumZ = per64();
    this.sumZActive = per64();
    this.countBelow = per64();
    this.sumZBelow = per64();
    this.countEq = Array.from({ length: L }, () => new Uint32Array(F));
    this.negPre = new Float64Array(F);
    this.negPreF32 = new Float32Array(F);
    this.cand = Array.from({ length: L }, () => new Int32Array(cap0));
    this.rowStart = Array.from({ length: L }, () => new Int32Array(B + 1));
    this.scanLo = new Float64Array(F);
    this.tanhCand = Array.from({ length: L }, () => new Float64Array(0));
    this.xSum = new Float64Array(L * d);
    this.ySum = new Float64Array(L * d);
    this.gbDec = new Float64Array(L * d);
    this.sparseInactive = new Float64Array(F);
    this.gTheta = new Float64Array(F);
    this.gNorm = new Float64Array(F);
    this.gBenc = new Float64Array(F);
    this.featStart = Array.from({ length: L }, () => new Int32Array(F + 1));
    this.featQ = Array.from({ length: L }, () => new Int32Array(0));
    this.qTok = Array.from({ length: L }, () => new Int32Array(0));
    this.coef = Array.from({ length: L }, () => new Float64Array(F));
    this.kernels = opts.kernels === false ? null : new SparseKernels(L, d, F, B, opts.threads);
    this.kernelLayers = new Uint8Array(L);
    this.stats = newStepStats(L, F);
  }

  /** Layer l's candidate lists grouped by feature (for the sparse products). */
  private indexByFeature(l: number): void {
    const nc = this.rowStart[l]![this.B]!;
    if (this.featQ[l]!.length < nc) {
      this.featQ[l] = new Int32Array(Math.ceil(nc * 1.25));
      this.qTok[l] = new Int32Array(this.featQ[l]!.length);
    }
    featureIndex(this.cand[l]!, this.rowStart[l]!, this.B, this.F, this.featStart[l]!, this.featQ[l]!, this.qTok[l]!);
  }

  /**
   * Forward (and, when `grads` is given, backward) on one batch. x, y: [B, L·d] normalized.
   * Gradients are written (overwritten) into `grads`. Returns the stats object (reused).
   */
  run(p: CltParams, x: Float32Array, y: Float32Array, k: LossCoefs, grads: CltParams | null): StepStats {
    const { L, d, F, B } = this;
    const Ld = L * d;
    const st = this.stats;
    const yhat = this.yhat;
    // ---- forward, per layer: z = x·W_enc + b_enc (the GEMM writes x·W_enc; the scan adds the bias
    // to the few elements it lists and compares the rest against thresholds less the bias, so no
    // pass writes the bias over [B, F]), then JumpReLU, sparsity and pre-activation terms. The pre-activation
    // term Σ_t ReLU(θ−z)·n is accumulated per feature as n·(count_below·θ − Σ_below z).
    // Elements with θ − z ≥ hh are below the ε-window: a = 0, no θ-gradient and dL/dz = −λ_P/B·n,
    // so beyond one dense scan both passes only work on the others (the "candidates", a few % of
    // z). hh > 0 keeps z = θ a candidate when the bandwidth is 0.
    let sp = 0;
    let pre = 0;
    const c = k.c;
    const half = k.bandwidth / 2;
    const hh = half > 0 ? half : Number.MIN_VALUE;
    const z = this.z;
    columnSums(x, B, Ld, this.xSum);
    const kx = this.kernels;
    kx?.begin(p, grads, x);
    // decoder norms and Σ_t z per layer in one round on both threads where the kernels can
    const pro = kx?.prologue(p, this.xSum, this.norms, this.sumZ) ?? null;
    for (let l = 0; l < L; l++) {
      const b = p.bEnc[l]!;
      const n = this.norms[l]!;
      const th = this.theta[l]!;
      const lt = p.logTheta[l]!;
      for (let i = 0; i < F; i++) th[i] = Math.exp(lt[i]!);
      gemm(false, false, B, F, d, 1, x.subarray(l * d), Ld, p.wEnc[l]!, F, 0, z, F);
      if (!pro?.norms[l]) decoderNorms(p.wDec[l]!, F, n);
      const fired = st.fired[l]!;
      // Σ_t z_ti = (Σ_t x_t)·W_enc[:, i] + B·b_i (float64, instead of a sum in the hot loop)
      const sz = this.sumZ[l]!;
      if (pro?.sums[l]) for (let i = 0; i < F; i++) sz[i]! += B * b[i]!;
      else sumPreActs(this.xSum, l * d, d, p.wEnc[l]!, b, B, F, sz);
      const szA = this.sumZActive[l]!.fill(0);
      const eq = this.countEq[l]!.fill(0);
      fired.fill(0);
      const rowStart = this.rowStart[l]!;
      // a is nonzero only at the previous step's candidates: clear those instead of all of a
      if (this.aDirty[l]) clearCandidates(this.a[l]!, this.cand[l]!, rowStart, B, F);
      this.aDirty[l] = 0;
      // x·W ≤ lo implies θ − z ≥ hh despite rounding (of z = x·W + b too): the scan may list a few
      // extra elements just below the window, which both passes treat exactly like unlisted ones
      const lo = this.scanLo;
      for (let i = 0; i < F; i++) lo[i] = th[i]! - hh - 1e-6 * (Math.abs(th[i]!) + hh + Math.abs(b[i]!)) - b[i]!;
      let nc = scanCandidates(z, lo, b, this.cand[l]!, this.zCand[l]!, rowStart, B, F);
      while (nc < 0) {
        // more candidates than the lists hold (the dense early phase): grow and scan again
        const cap = Math.min(B * F, 2 * this.cand[l]!.length);
        this.cand[l] = new Int32Array(cap);
        this.zCand[l] = new Float32Array(cap);
        nc = scanCandidates(z, lo, b, this.cand[l]!, this.zCand[l]!, rowStart, B, F);
      }
      const cand = this.cand[l]!;
      const zc = this.zCand[l]!;
      this.candidates[l] = nc;
      const sparse = this.path === "sparse" || (this.path === "auto" && nc < this.sparseBelow * B * F);
      this.sparseLayers[l] = sparse ? 1 : 0;
      let a = this.a[l] ?? null;
      if (!sparse && !a) {
        a = new Float32Array(B * F);
        this.a[l] = a;
      }
      if (this.tanhCand[l]!.length < nc) this.tanhCand[l] = new Float64Array(Math.ceil(nc * 1.25));
      forwardPass(zc, sparse ? null : a, th, n, fired, szA, eq, cand, rowStart, this.tanhCand[l]!, B, c, this.pair);
      if (!sparse) this.aDirty[l] = 1;
      else {
        this.indexByFeature(l);
        kx?.prepareDecoder(l, zc, th, this.featStart[l]!, this.featQ[l]!, this.qTok[l]!, half);
      }
      const act = this.pair[0]!;
      sp += this.pair[1]!;
      const below = this.countBelow[l]!;
      const szB = this.sumZBelow[l]!;
      for (let i = 0; i < F; i++) {
        below[i] = B - fired[i]! - eq[i]!;
        szB[i] = sz[i]! - szA[i]! - eq[i]! * th[i]!;
        pre += n[i]! * (below[i]! * th[i]! - szB[i]!);
      }
      st.active[l] = act;
    }
    // ---- forward: decoder GEMMs into ŷ (b_dec broadcast first)
    for (let t = 0; t < B; t++) yhat.set(p.bDec, t * Ld);
    const onKernels = (l: number) => kx !== null && this.sparseLayers[l] === 1 && kx.decoderOn(l);
    for (let l = 0; l < L; l++) {
      const n = (L - l) * d;
      if (onKernels(l)) continue;
      if (this.sparseLayers[l]) {
        const yRows = rowViews(yhat, l * d, Ld, n, B);
        const wRows = rowViews(p.wDec[l]!, 0, n, n, F);
        activeAxpy(yRows, wRows, this.zCand[l]!, this.theta[l]!, this.cand[l]!, this.rowStart[l]!, B, n);
      } else gemm(false, false, B, n, F, 1, this.a[l]!, F, p.wDec[l]!, n, 1, yhat.subarray(l * d), Ld);
    }
    for (let l = 0; l < L; l++) this.kernelLayers[l] = onKernels(l) ? 1 : 0;
    kx?.decoderForward(p, yhat);
    // ---- MSE and its gradient in one pass: R = ŷ − y, then dMSE/dŷ = 2R/B kept in yhat,
    // Σ_t dMSE/dŷ_t into grad b_dec, and Σy, Σy² for the FVU denominator Σ‖y − ȳ‖².
    let mse = 0;
    st.sse.fill(0);
    st.sst.fill(0);
    const ysum = this.ySum.fill(0);
    const gbd = this.gbDec.fill(0);
    msePass(y, yhat, ysum, gbd, st.sse, st.sst, B, L, d);
    for (let j = 0; j < L; j++) {
      let m2 = 0;
      for (let r = 0; r < d; r++) m2 += ysum[j * d + r]! ** 2;
      st.sst[j] = st.sst[j]! - m2 / B;
    }
    for (const v of st.sse) mse += v;
    st.mse = mse / B;
    st.sparsity = (k.lambda * sp) / B;
    st.preAct = (k.lambdaPre * pre) / B;
    st.loss = st.mse + st.sparsity + st.preAct;
    st.gradNorm = Number.NaN;
    if (!grads) return st;

    // ---- backward. gradSq: Σ of the squared gradient elements, accumulated as each tensor is
    // written (the clipping norm without another pass over the parameters)
    const g = yhat;
    let gradSq = 0;
    for (let q = 0; q < Ld; q++) {
      grads.bDec[q] = gbd[q]!;
      gradSq += grads.bDec[q]! ** 2;
    }
    const lamB = k.lambda / B;
    const lpB = k.lambdaPre / B;
    const eps = k.bandwidth;
    // dL/d‖w_i‖ depends on z only (sparsity term at the active candidates, then the pre-activation
    // term d/dn = λ_P/B·Σ_below(θ−z)), and the ∂W_dec passes need it as coef = dL/d‖w‖ / ‖w‖
    for (let l = 0; l < L; l++) {
      const gN = this.gNorm.fill(0);
      const nc = this.rowStart[l]![B]!;
      const th = this.theta[l]!;
      const nr = this.norms[l]!;
      const below = this.countBelow[l]!;
      const szB = this.sumZBelow[l]!;
      normCoefCandidates(this.zCand[l]!, th, this.tanhCand[l]!, this.cand[l]!, gN, nc, c, lamB);
      for (let i = 0; i < F; i++) gN[i]! += lpB * (below[i]! * th[i]! - szB[i]!);
      const coef = this.coef[l]!;
      for (let i = 0; i < F; i++) coef[i] = nr[i]! > 0 ? gN[i]! / nr[i]! : 0;
    }
    if (kx) gradSq += kx.decoderBackward(p, grads, g, this.coef);
    for (let l = 0; l < L; l++) {
      const n = (L - l) * d;
      const sparse = this.sparseLayers[l] === 1;
      const cand = this.cand[l]!;
      const zc = this.zCand[l]!;
      const rowStart = this.rowStart[l]!;
      const nc = rowStart[B]!;
      if (this.gaC.length < nc) {
        this.gaC = new Float32Array(Math.ceil(nc * 1.25));
        this.gzC = new Float32Array(this.gaC.length);
      }
      const gaC = this.gaC;
      const gzC = this.gzC;
      const nr = this.norms[l]!;
      const th = this.theta[l]!;
      const below = this.countBelow[l]!;
      const tanhC = this.tanhCand[l]!;
      const coef = this.coef[l]!;
      const gwDec = grads.wDec[l]!;
      // dL/da (MSE part) at the candidates: G_ℓ·W_dec[ℓ]ᵀ, densely (one GEMM, then a gather), or
      // per candidate that needs it inside the feature-by-feature pass that also writes ∂W_dec
      if (onKernels(l)) kx!.gatherDa(l, gaC, nc);
      else if (sparse) {
        gradSq += decoderBackwardByFeature(
          rowViews(g, l * d, Ld, n, B),
          rowViews(p.wDec[l]!, 0, n, n, F),
          rowViews(gwDec, 0, n, n, F),
          coef,
          zc,
          th,
          this.featStart[l]!,
          this.featQ[l]!,
          this.qTok[l]!,
          gaC,
          F,
          n,
          half,
        );
      } else {
        if (!this.ga) this.ga = new Float32Array(B * F);
        gemm(false, true, B, F, n, 1, g.subarray(l * d), Ld, p.wDec[l]!, n, 0, this.ga, F);
        gatherCandidates(this.ga, cand, rowStart, gaC, B, F);
      }
      const gTh = this.gTheta.fill(0);
      const gB = this.gBenc.fill(0);
      const negPre = this.negPre;
      const sparseInactive = this.sparseInactive;
      const negPreF32 = this.negPreF32;
      for (let i = 0; i < F; i++) {
        negPre[i] = -lpB * nr[i]!;
        negPreF32[i] = negPre[i]!;
        // a = 0 below θ, so d tanh(c·n·a)/da = c·n there
        sparseInactive[i] = lamB * c * nr[i]!;
      }
      const thEps = 1 / eps;
      candidateGrads(zc, gaC, th, nr, negPre, sparseInactive, gTh, gB, cand, tanhC, gzC, nc, c, lamB, half, thEps);
      // pre-activation terms, per feature: d/dθ = λ_P/B·n·count_below; d/db_enc = −λ_P/B·n·count_below
      for (let i = 0; i < F; i++) {
        const cb = below[i]!;
        gTh[i]! += lpB * nr[i]! * cb;
        gB[i]! += negPre[i]! * cb;
      }
      const gbe = grads.bEnc[l]!;
      const glt = grads.logTheta[l]!;
      for (let i = 0; i < F; i++) {
        gbe[i] = gB[i]!;
        glt[i] = gTh[i]! * th[i]!; // chain rule through θ = exp(logθ)
        gradSq += gbe[i]! ** 2 + glt[i]! ** 2;
      }
      if (sparse) {
        // dL/dz = −λ_P/B·n + (candidate corrections): ∂W_enc = x̄ ⊗ (−λ_P/B·n) + sparse part
        for (let q = 0; q < nc; q++) gzC[q] = gzC[q]! - negPre[cand[q]!]!;
        if (kx?.prepareEncoder(l, gzC, negPre, this.xSum, this.featStart[l]!, this.featQ[l]!, this.qTok[l]!)) {
          continue; // kx.encoderGrad below
        }
        if (!this.encT) this.encT = new Float32Array(F * d);
        const encT = this.encT;
        const xRows = rowViews(x, l * d, Ld, d, B);
        const tRows = rowViews(encT, 0, d, d, F);
        gradSq += encoderGradSparse(
          xRows,
          this.xSum,
          l * d,
          negPre,
          gzC,
          cand,
          rowStart,
          encT,
          tRows,
          grads.wEnc[l]!,
          B,
          d,
          F,
        );
      } else {
        // dL/dz rows: −λ_P/B·n everywhere below the window, the candidates' values put back
        const ga = this.ga!;
        scatterRows(ga, negPreF32, cand, rowStart, gzC, B, F);
        // dL/dW_enc[ℓ] = x_ℓᵀ·gz ; dL/dW_dec[ℓ] = a_ℓᵀ·G_ℓ + norm terms
        gemm(true, false, d, F, B, 1, x.subarray(l * d), Ld, ga, F, 0, grads.wEnc[l]!, F);
        gradSq += sumSquares(grads.wEnc[l]!);
        gemm(true, false, F, n, B, 1, this.a[l]!, F, g.subarray(l * d), Ld, 0, gwDec, n);
        gradSq += addNormGrad(p.wDec[l]!, gwDec, coef, F, n);
      }
    }
    if (kx) gradSq += kx.encoderGrad(grads);
    st.gradNorm = Math.sqrt(gradSq);
    return st;
  }
}

// The hot loops live in small top-level functions with monomorphic typed-array arguments: V8
// optimizes these far better than the same loops inlined in the long run() method.

/** out[q] = Σ_t x[t·Ld + q] (float64; two rows per pass over out). */
function columnSums(x: Float32Array, B: number, Ld: number, out: Float64Array): void {
  out.fill(0);
  let t = 0;
  for (; t + 1 < B; t += 2) {
    const o = t * Ld;
    const o2 = o + Ld;
    for (let q = 0; q < Ld; q++) out[q]! += x[o + q]! + x[o2 + q]!;
  }
  if (t < B) {
    const o = t * Ld;
    for (let q = 0; q < Ld; q++) out[q]! += x[o + q]!;
  }
}

/** sz_i = B·b_i + Σ_r xs[xo + r]·W_enc[r, i]: Σ_t z_ti of one layer from the column sums of x. */
function sumPreActs(
  xs: Float64Array,
  xo: number,
  d: number,
  we: Float32Array,
  b: Float32Array,
  B: number,
  F: number,
  sz: Float64Array,
): void {
  for (let i = 0; i < F; i++) sz[i] = B * b[i]!;
  for (let r = 0; r < d; r++) {
    const xr = xs[xo + r]!;
    const o = r * F;
    for (let i = 0; i < F; i++) sz[i]! += xr * we[o + i]!;
  }
}

/**
 * MSE and its gradient in one pass over [B, L·d]: yhat ← 2(ŷ − y)/B; per layer Σ‖ŷ − y‖² into sse
 * and Σ‖y‖² into sst; per column Σy into ysum and Σ dMSE/dŷ into gbd.
 */
function msePass(
  y: Float32Array,
  yhat: Float32Array,
  ysum: Float64Array,
  gbd: Float64Array,
  sse: Float64Array,
  sst: Float64Array,
  B: number,
  L: number,
  d: number,
): void {
  const Ld = L * d;
  const s2B = 2 / B;
  for (let t = 0; t < B; t++) {
    const off = t * Ld;
    for (let j = 0; j < L; j++) {
      let se = 0;
      let sy2 = 0;
      const o = off + j * d;
      const oj = j * d;
      for (let r = 0; r < d; r++) {
        const yv = y[o + r]!;
        const e = yhat[o + r]! - yv;
        const gq = e * s2B;
        yhat[o + r] = gq;
        se += e * e;
        sy2 += yv * yv;
        ysum[oj + r]! += yv;
        gbd[oj + r]! += gq;
      }
      sse[j]! += se;
      sst[j]! += sy2;
    }
  }
}

/**
 * Decoder-norm terms onto the dense ∂W_dec: gwd[i, :] += (gN_i/‖w_i‖)·wd[i, :] (d‖w‖/dw = w/‖w‖),
 * rows of length n. Returns Σ of the squared results (the row is still in cache).
 */
function addNormGrad(wd: Float32Array, gwd: Float32Array, coefs: Float64Array, F: number, n: number): number {
  let sq = 0;
  for (let i = 0; i < F; i++) {
    const coef = coefs[i]!;
    const off = i * n;
    if (coef !== 0) for (let r = 0; r < n; r++) gwd[off + r]! += coef * wd[off + r]!;
    for (let r = 0; r < n; r++) sq += gwd[off + r]! ** 2;
  }
  return sq;
}

/** Σ v² (float64). */
function sumSquares(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return s;
}

/** out[q] = m[t, cand[q]] for every candidate (row by row). */
function gatherCandidates(
  m: Float32Array,
  cand: Int32Array,
  rowStart: Int32Array,
  out: Float32Array,
  B: number,
  F: number,
): void {
  for (let t = 0; t < B; t++) {
    const off = t * F;
    const e = rowStart[t + 1]!;
    for (let q = rowStart[t]!; q < e; q++) out[q] = m[off + cand[q]!]!;
  }
}

/** Every row of m ← base, then m[t, cand[q]] ← vals[q]. */
function scatterRows(
  m: Float32Array,
  base: Float32Array,
  cand: Int32Array,
  rowStart: Int32Array,
  vals: Float32Array,
  B: number,
  F: number,
): void {
  for (let t = 0; t < B; t++) {
    const off = t * F;
    m.set(base, off);
    const e = rowStart[t + 1]!;
    for (let q = rowStart[t]!; q < e; q++) m[off + cand[q]!] = vals[q]!;
  }
}

/** a[t, i] = 0 for every listed candidate (row by row, as scanCandidates left them). */
function clearCandidates(a: Float32Array, cand: Int32Array, rowStart: Int32Array, B: number, F: number): void {
  for (let t = 0; t < B; t++) {
    const off = t * F;
    const e = rowStart[t + 1]!;
    for (let q = rowStart[t]!; q < e; q++) a[off + cand[q]!] = 0;
  }
}

/**
 * Lists, row by row, the column indices (cand) and values z + b (zc) of the elements of z with
 * !(z ≤ lo) (which includes NaN). Returns their count, or −1 when the lists might overflow. The
 * only dense pass over z: unrolled by four with one test per group, since nearly all groups have
 * no candidate.
 */
function scanCandidates(
  z: Float32Array,
  lo: Float64Array,
  b: Float32Array,
  cand: Int32Array,
  zc: Float32Array,
  rowStart: Int32Array,
  B: number,
  F: number,
): number {
  let nc = 0;
  const F4 = F - (F % 4);
  const cap = Math.min(cand.length, zc.length);
  for (let t = 0; t < B; t++) {
    const off = t * F;
    // a row adds at most F: one capacity check per row, not per element
    if (nc + F > cap) return -1;
    rowStart[t] = nc;
    let i = 0;
    for (; i < F4; i += 4) {
      const z0 = z[off + i]!;
      const z1 = z[off + i + 1]!;
      const z2 = z[off + i + 2]!;
      const z3 = z[off + i + 3]!;
      if (z0 <= lo[i]! && z1 <= lo[i + 1]! && z2 <= lo[i + 2]! && z3 <= lo[i + 3]!) continue;
      if (!(z0 <= lo[i]!)) {
        cand[nc] = i;
        zc[nc++] = z0 + b[i]!;
      }
      if (!(z1 <= lo[i + 1]!)) {
        cand[nc] = i + 1;
        zc[nc++] = z1 + b[i + 1]!;
      }
      if (!(z2 <= lo[i + 2]!)) {
        cand[nc] = i + 2;
        zc[nc++] = z2 + b[i + 2]!;
      }
      if (!(z3 <= lo[i + 3]!)) {
        cand[nc] = i + 3;
        zc[nc++] = z3 + b[i + 3]!;
      }
    }
    for (; i < F; i++) {
      const zi = z[off + i]!;
      if (!(zi <= lo[i]!)) {
        cand[nc] = i;
        zc[nc++] = zi + b[i]!;
      }
    }
  }
  rowStart[B] = nc;
  return nc;
}

/**
 * JumpReLU and per-feature sums over one layer's candidates; out = [active count, Σ tanh(c·n·a)].
 * When `a` is given (dense layers) it must be zero at the candidates on entry and receives the
 * activations; tanh(c·n·z) of active candidates goes to tanhC.
 */
function forwardPass(
  zc: Float32Array,
  a: Float32Array | null,
  th: Float32Array,
  n: Float32Array,
  fired: Uint32Array,
  szA: Float64Array,
  eq: Uint32Array,
  cand: Int32Array,
  rowStart: Int32Array,
  tanhC: Float64Array,
  B: number,
  c: number,
  out: Float64Array,
): void {
  let act = 0;
  let sp = 0;
  const F = a ? a.length / B : 0;
  for (let t = 0; t < B; t++) {
    const off = t * F;
    const e = rowStart[t + 1]!;
    for (let q = rowStart[t]!; q < e; q++) {
      const i = cand[q]!;
      const zi = zc[q]!;
      const ti = th[i]!;
      if (jumpReluActive(zi, ti)) {
        if (a) a[off + i] = zi;
        fired[i]!++;
        szA[i]! += zi;
        act++;
        const tv = Math.tanh(c * n[i]! * zi);
        tanhC[q] = tv;
        sp += tv;
      } else if (zi === ti) {
        eq[i]!++;
      }
    }
  }
  out[0] = act;
  out[1] = sp;
}

/**
 * Backward through the sparsity term and the JumpReLU at one layer's nc candidates: gaC holds dMSE/da
 * on entry, dL/dz goes to gz (both indexed like cand). The per-feature sums of the θ and b_enc
 * gradients are accumulated (the norm's in normCoefCandidates); the elements below the window (dL/dz = −λ_P/B·n) and the remaining
 * pre-activation terms are the caller's, per feature.
 */
function candidateGrads(
  zc: Float32Array,
  gaC: Float32Array,
  th: Float32Array,
  nr: Float32Array,
  negPre: Float64Array,
  sparseInactive: Float64Array,
  gTh: Float64Array,
  gB: Float64Array,
  cand: Int32Array,
  tanhC: Float64Array,
  gz: Float32Array,
  nc: number,
  c: number,
  lamB: number,
  half: number,
  thEps: number,
): void {
  for (let q = 0; q < nc; q++) {
    const i = cand[q]!;
    const zi = zc[q]!;
    const ti = th[i]!;
    if (jumpReluActive(zi, ti)) {
      const ni = nr[i]!;
      const tv = tanhC[q]!;
      const s2 = 1 - tv * tv;
      const gat = gaC[q]! + lamB * c * ni * s2;
      gz[q] = gat;
      gB[i]! += gat;
      if (zi - ti < half) gTh[i]! -= ti * thEps * gat;
    } else {
      gz[q] = zi < ti ? negPre[i]! : 0;
      if (ti - zi < half) gTh[i]! -= ti * thEps * (gaC[q]! + sparseInactive[i]!);
    }
  }
}

/** gN[i] += λ/B·c·z·(1 − tanh²(c·n·z)) over the active candidates: the sparsity term's d/d‖w_i‖. */
function normCoefCandidates(
  zc: Float32Array,
  th: Float32Array,
  tanhC: Float64Array,
  cand: Int32Array,
  gN: Float64Array,
  nc: number,
  c: number,
  lamB: number,
): void {
  for (let q = 0; q < nc; q++) {
    const i = cand[q]!;
    const zi = zc[q]!;
    if (jumpReluActive(zi, th[i]!)) {
      const tv = tanhC[q]!;
      gN[i]! += lamB * c * zi * (1 - tv * tv);
    }
  }
}
