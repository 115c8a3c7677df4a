// A tiny random GPT-2 (compact vocabulary) and a random CLT for the attribution tests.

import { Rng } from "@circuit-atlas/util";
import * as tf from "@tensorflow/tfjs";
import type { CltLike } from "../src/attribution/index.ts";
import { GPT2, type GPT2Config, parameterShapes } from "../src/model/index.ts";
import { gaussian } from "./helpers/random-gpt2.ts";

/** Vocabulary: BOS (50256) + GPT-2 ids 0..vocab-2. */
export function tinyModel(seed = 1, cfg: Partial<GPT2Config> = {}): GPT2 {
  const config: GPT2Config = {
    nLayers: 3,
    nHeads: 2,
    dModel: 16,
    dHead: 8,
    dMlp: 32,
    nCtx: 32,
    vocabSize: 64,
    lnEps: 1e-5,
    ...cfg,
  };
  const g = gaussian(new Rng(seed).uniform);
  const weights: Record<string, tf.Tensor> = {};
  for (const [name, shape] of parameterShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isGain = /ln_\d\.weight|ln_f\.weight/.test(name);
    const scale = isGain ? 0.2 : name.endsWith(".bias") ? 0.1 : name.startsWith("w") ? 0.8 : 0.35;
    weights[name] = tf.tensor(
      Float32Array.from({ length: n }, () => (isGain ? 1 : 0) + scale * g()),
      shape,
    );
  }
  const vocab = Int32Array.from({ length: config.vocabSize }, (_, i) => (i === 0 ? 50256 : i - 1));
  return new GPT2(config, weights, vocab);
}

export function randomClt(seed: number, L: number, d: number, F: number, threshold = 0.15): CltLike {
  const g = gaussian(new Rng(seed).uniform);
  const arr = (n: number, s: number) => Float32Array.from({ length: n }, () => s * g());
  return {
    shape: { nLayers: L, dModel: d, nFeatures: F },
    wEnc: Array.from({ length: L }, () => arr(F * d, 1 / Math.sqrt(d))),
    bEnc: Array.from({ length: L }, () => arr(F, 0.1)),
    threshold: Array.from({ length: L }, () => new Float32Array(F).fill(threshold)),
    wDec: Array.from({ length: L }, (_, l) => arr(F * (L - l) * d, 0.3)),
    bDec: Array.from({ length: L }, () => arr(d, 0.1)),
  };
}
