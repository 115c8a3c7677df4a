// The CLT for inference: folded (normalization-free) weights in circuit-tracer's layout, loaded
// from a native run dir or a circuit-tracer dir, with tfjs encode / decode / reconstruct.
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { importCircuitTracer, loadWeights, readRunConfig, WEIGHTS_FILE } from "./io.ts";
import { jumpReluMask, jumpReluRows } from "./jumprelu.ts";
import type { CltShape, CltWeights } from "./params.ts";
import { preActivations, reconstructLayer } from "./replacement.ts";

export interface CltTensors {
  wEnc: tf.Tensor2D[]; // [F, d]
  bEnc: tf.Tensor1D[]; // [F]
  threshold: tf.Tensor1D[]; // [F]
  wDec: tf.Tensor3D[]; // [F, L−ℓ, d]
  bDec: tf.Tensor1D[]; // [d]
}

export class CLT {
  readonly shape: CltShape;
  private t: CltTensors | null = null;

  constructor(
    /** Folded weights as plain Float32Arrays (the source of truth; tensors are made lazily). */
    readonly weights: CltWeights,
    /** Model dir the CLT was trained on (from the run config), if known. */
    readonly modelDir: string | null = null,
    readonly modelName: string | null = null,
  ) {
    this.shape = { ...weights.shape };
  }

  get nLayers(): number {
    return this.shape.nLayers;
  }
  get dModel(): number {
    return this.shape.dModel;
  }
  get nFeatures(): number {
    return this.shape.nFeatures;
  }

  /** Loads a native run dir (config.json + clt.safetensors) or a circuit-tracer dir (config.yaml). */
  static load(dir: string): CLT {
    if (existsSync(join(dir, "config.json")) && existsSync(join(dir, WEIGHTS_FILE))) return CLT.fromRunDir(dir);
    if (existsSync(join(dir, "config.yaml"))) return CLT.fromCircuitTracer(dir);
    throw new Error(`${dir} is neither a CLT run dir (config.json + ${WEIGHTS_FILE}) nor a circuit-tracer CLT dir`);
  }

  static fromRunDir(dir: string): CLT {
    const cfg = readRunConfig(dir);
    const w = loadWeights(join(dir, WEIGHTS_FILE));
    return new CLT(w, cfg.model, cfg.modelName ?? null);
  }

  static fromCircuitTracer(dir: string): CLT {
    const { weights, modelName } = importCircuitTracer(dir);
    return new CLT(weights, null, modelName);
  }

  /** The weights as tf tensors (created once, kept until dispose()). */
  tensors(): CltTensors {
    if (!this.t) {
      const { nLayers: L, dModel: d, nFeatures: F } = this.shape;
      const w = this.weights;
      this.t = tf.tidy(() => ({
        wEnc: w.wEnc.map((a) => tf.keep(tf.tensor2d(a, [F, d]))),
        bEnc: w.bEnc.map((a) => tf.keep(tf.tensor1d(a))),
        threshold: w.threshold.map((a) => tf.keep(tf.tensor1d(a))),
        wDec: w.wDec.map((a, l) => tf.keep(tf.tensor3d(a, [F, L - l, d]))),
        bDec: w.bDec.map((a) => tf.keep(tf.tensor1d(a))),
      }));
    }
    return this.t;
  }

  private checkLayer(layer: number): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.shape.nLayers) {
      throw new Error(`CLT layer ${layer} out of range [0, ${this.shape.nLayers})`);
    }
  }

  /**
   * Layer-`layer` features of x (`blocks.{layer}.hook_resid_mid`, shape [..., d], raw model units):
   * pre = x·W_encᵀ + b_enc and acts = JumpReLU_θ(pre) (jumprelu.ts). Shapes [..., F].
   */
  encode(layer: number, x: tf.Tensor): { pre: tf.Tensor; acts: tf.Tensor } {
    this.checkLayer(layer);
    const t = this.tensors();
    const { dModel: d, nFeatures: F } = this.shape;
    if (x.shape[x.rank - 1] !== d) throw new Error(`encode: input last dim ${x.shape[x.rank - 1]} ≠ d_model ${d}`);
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = x.reshape([-1, d]);
      const pre = tf.add(tf.matMul(x2, t.wEnc[layer]!, false, true), t.bEnc[layer]!);
      const acts = tf.mul(pre, jumpReluMask(pre, t.threshold[layer]!));
      return { pre: pre.reshape([...lead, F]), acts: acts.reshape([...lead, F]) };
    });
  }

  /** Decoder of source layer ℓ: [F, L−ℓ, d]; output layer j uses block j−ℓ. */
  decoder(layerSrc: number): { outputLayers: number[]; weights: Float32Array; tensor: tf.Tensor3D } {
    this.checkLayer(layerSrc);
    return {
      outputLayers: Array.from({ length: this.shape.nLayers - layerSrc }, (_, k) => layerSrc + k),
      weights: this.weights.wDec[layerSrc]!,
      tensor: this.tensors().wDec[layerSrc]!,
    };
  }

  /** Decoder vectors from source layer ℓ to output layer j ≥ ℓ: [F, d] tensor (caller disposes). */
  decoderTo(layerSrc: number, layerOut: number): tf.Tensor2D {
    this.checkLayer(layerSrc);
    this.checkLayer(layerOut);
    if (layerOut < layerSrc) throw new Error(`layer-${layerSrc} features do not write to earlier layer ${layerOut}`);
    const { dModel: d, nFeatures: F } = this.shape;
    return tf.tidy(() =>
      this.tensors()
        .wDec[layerSrc]!.slice([0, layerOut - layerSrc, 0], [F, 1, d])
        .reshape([F, d]),
    );
  }

  /**
   * Reconstructions of every `blocks.j.hook_mlp_out` from per-layer activations acts[ℓ] ([..., F],
   * the same leading shape for all layers): out[j] = Σ_{ℓ≤j} acts[ℓ]·W_dec[ℓ→j] + b_dec[j].
   */
  reconstruct(acts: tf.Tensor[]): tf.Tensor[] {
    const { nLayers: L, dModel: d, nFeatures: F } = this.shape;
    if (acts.length !== L) throw new Error(`reconstruct: expected ${L} activation tensors, got ${acts.length}`);
    const t = this.tensors();
    return tf.tidy(() => {
      const lead = acts[0]!.shape.slice(0, -1);
      const out: tf.Tensor[] = t.bDec.map((b) => b);
      for (let l = 0; l < L; l++) {
        const a = acts[l]!.reshape([-1, F]);
        const y = tf.matMul(a, t.wDec[l]!.reshape([F, (L - l) * d])); // [n, (L−ℓ)·d]
        for (let k = 0; k < L - l; k++) out[l + k] = tf.add(out[l + k]!, y.slice([0, k * d], [-1, d]));
      }
      return out.map((o) => (o.rank === 1 ? tf.broadcastTo(o, [...lead, d]) : o.reshape([...lead, d])));
    });
  }

  /** Reconstruction of output layer j only, from acts[0..j]. */
  reconstructLayer(j: number, acts: tf.Tensor[]): tf.Tensor {
    this.checkLayer(j);
    const { dModel: d, nFeatures: F } = this.shape;
    const t = this.tensors();
    return tf.tidy(() => {
      const lead = acts[0]!.shape.slice(0, -1);
      let out: tf.Tensor = t.bDec[j]!;
      for (let l = 0; l <= j; l++) {
        const a = acts[l]!.reshape([-1, F]);
        const w = t.wDec[l]!.slice([0, j - l, 0], [F, 1, d]).reshape([F, d]);
        out = tf.add(out, tf.matMul(a, w));
      }
      return out.rank === 1 ? tf.broadcastTo(out, [...lead, d]) : out.reshape([...lead, d]);
    });
  }

  /** Float32Array fast path of encode (BLAS sgemm, no tfjs): x [n, d] → pre, acts [n, F]. */
  encodeArray(layer: number, x: Float32Array, n: number): { pre: Float32Array; acts: Float32Array } {
    this.checkLayer(layer);
    const pre = preActivations(this.weights, layer, x, n);
    return { pre, acts: jumpReluRows(pre.slice(), this.weights.threshold[layer]!, n) };
  }

  /** Float32Array fast path of reconstructLayer: acts[ℓ] [n, F] for ℓ ≤ j → ŷ_j [n, d]. */
  reconstructLayerArray(j: number, acts: Float32Array[], n: number): Float32Array {
    this.checkLayer(j);
    return reconstructLayer(this.weights, j, acts, n);
  }

  dispose(): void {
    if (!this.t) return;
    for (const list of Object.values(this.t) as tf.Tensor[][]) for (const x of list) x.dispose();
    this.t = null;
  }
}
