// Shared pieces of the benches: timing and a GPT-2-small-shaped random model.
import * as tf from "@tensorflow/tfjs";
import { GPT2, type GPT2Config, type GPT2Weights, parameterShapes } from "../src/model/index.ts";

/** Mean seconds per call of `f` over `reps` calls, after one warm-up call. */
export function timeIt(reps: number, f: () => void): number {
  f(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps / 1000;
}

/** GPT-2 small's shape (12 heads, d = 768, full r50k vocabulary) with `nLayers` blocks. */
export function gpt2SmallConfig(nLayers = 12): GPT2Config {
  return {
    nLayers,
    nHeads: 12,
    dModel: 768,
    dHead: 64,
    dMlp: 3072,
    nCtx: 1024,
    vocabSize: 50257,
    lnEps: 1e-5,
  };
}

/** Random weights in memory: LN gains 1, everything else N(0, 0.02²) (tfjs seed, or unseeded). */
export function randomGpt2(config: GPT2Config, seed?: number): GPT2 {
  const weights: GPT2Weights = {};
  for (const [name, shape] of parameterShapes(config)) {
    weights[name] =
      name.endsWith(".weight") && shape.length === 1
        ? tf.ones(shape)
        : tf.randomNormal(shape, 0, 0.02, "float32", seed);
  }
  return new GPT2(config, weights);
}
