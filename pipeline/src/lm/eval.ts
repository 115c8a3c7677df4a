// Greater-than evaluation (Hanna, Liu & Variengien 2023) of a GPT-2-family model:
//   prompt  "<|endoftext|>The {noun} lasted from the year {XX}{YY} to the year {XX}"   (hanna)
//           "<|endoftext|>The {noun} lasted from the year {XX}{YY} to {XX}"            (goodfire)
//   PD        = Σ_{ZZ>YY} p(ZZ) − Σ_{ZZ≤YY} p(ZZ)      over the two-digit tokens "00".."99"
//   sharpness = p(YY+1) − p(YY−1)
// with p the model's next-token distribution (softmax over its whole vocabulary) at the last position.

import { Rng } from "@circuit-atlas/util";
import * as tf from "@tensorflow/tfjs";
import {
  type GreaterThanTemplate,
  greaterThanPrompt,
  HELDOUT_NOUNS,
  validYears,
  WAR_PROMPT,
} from "../data/demo-corpus.ts";
import type { GPT2 } from "../model/gpt2.ts";
import { decodeToken, encodeWithBos } from "../tokenizer/index.ts";
import { twoDigitTokenIds } from "./vocab.ts";

export interface GreaterThanItem {
  noun: string;
  century: number;
  yy: number;
  /** GPT-2 ids, BOS first. */
  ids: number[];
}

/**
 * `n` prompts, balanced over YY as in Hanna et al. (YY cycles through 02..98; the century is drawn
 * among those where {XX}{YY} is a valid year), nouns cycling through a seeded permutation. The
 * template only changes the wording: the same seed gives the same (noun, century, YY) items.
 */
export function greaterThanDataset(
  opts: { n?: number; nouns?: readonly string[]; seed?: number; template?: GreaterThanTemplate } = {},
): GreaterThanItem[] {
  const n = opts.n ?? 490;
  const nouns = opts.nouns ?? HELDOUT_NOUNS;
  if (nouns.length === 0) throw new Error("greater-than dataset: no nouns");
  const rng = new Rng(opts.seed ?? 1234);
  const order = rng.shuffle([...nouns]);
  const years = validYears();
  const out: GreaterThanItem[] = [];
  for (let i = 0; i < n; i++) {
    const yy = 2 + (i % 97);
    const centuries = years.filter((v) => v.yys.includes(yy)).map((v) => v.century);
    if (centuries.length === 0) continue;
    const century = rng.pick(centuries);
    const noun = order[i % order.length] as string;
    out.push({ noun, century, yy, ids: encodeWithBos(greaterThanPrompt(noun, century, yy, opts.template)) });
  }
  return out;
}

export interface GreaterThanResult {
  n: number;
  /** Mean probability difference. */
  pd: number;
  /** Mean cutoff sharpness p(YY+1) − p(YY−1). */
  sharpness: number;
  /** Mean total probability on the 100 two-digit tokens. */
  yearMass: number;
  /** Per prompt: p over "00".."99" (row i ↔ dataset item i). */
  probs: Float32Array[];
}

/** PD and sharpness of one distribution over "00".."99" for start year suffix `yy`. */
export function probabilityDifference(p: ArrayLike<number>, yy: number): { pd: number; sharpness: number } {
  let pd = 0;
  for (let z = 0; z < 100; z++) pd += z > yy ? (p[z] as number) : -(p[z] as number);
  const up = yy < 99 ? (p[yy + 1] as number) : 0;
  const down = yy > 0 ? (p[yy - 1] as number) : 0;
  return { pd, sharpness: up - down };
}

/** Runs `items` through `model` (right-padded batches; causal attention makes padding harmless). */
export function greaterThanEval(model: GPT2, items: GreaterThanItem[], batchSize = 64): GreaterThanResult {
  if (items.length === 0) throw new Error("greater-than eval: empty dataset");
  const yearRows = model.toModelIds(twoDigitTokenIds());
  const probs: Float32Array[] = [];
  let pd = 0;
  let sharpness = 0;
  let yearMass = 0;
  for (let b = 0; b < items.length; b += batchSize) {
    const batch = items.slice(b, b + batchSize);
    const rows = batch.map((it) => model.toModelIds(it.ids));
    const T = Math.max(...rows.map((r) => r.length));
    const padded = rows.map((r) => [...r, ...new Array(T - r.length).fill(r[0])]);
    const last = tf.tidy(() => {
      const { logits } = model.run(padded);
      const V = model.config.vocabSize;
      const flat = logits!.reshape([batch.length * T, V]);
      const idx = tf.tensor1d(
        rows.map((r, i) => i * T + r.length - 1),
        "int32",
      );
      return tf.softmax(tf.gather(flat, idx));
    });
    const p = last.dataSync() as Float32Array;
    const V = model.config.vocabSize;
    last.dispose();
    batch.forEach((it, i) => {
      const py = new Float32Array(100);
      let mass = 0;
      for (let z = 0; z < 100; z++) {
        py[z] = p[i * V + (yearRows[z] as number)] as number;
        mass += py[z] as number;
      }
      const r = probabilityDifference(py, it.yy);
      pd += r.pd;
      sharpness += r.sharpness;
      yearMass += mass;
      probs.push(py);
    });
  }
  const n = items.length;
  return { n, pd: pd / n, sharpness: sharpness / n, yearMass: yearMass / n, probs };
}

export interface PromptResult {
  prompt: string;
  /** The start year's two-digit suffix the answer is compared with. */
  yy: number;
  /** Σ_{ZZ>YY} p(ZZ) over "00".."99" (absolute next-token probability). */
  pGreater: number;
  /** Total probability on "00".."99". */
  yearMass: number;
  /** pGreater / yearMass: the share of the two-digit mass on later years. */
  greaterShare: number;
  pd: number;
  sharpness: number;
  /** The k most likely next tokens (GPT-2 id, text, probability), most likely first. */
  top: { id: number; token: string; p: number }[];
}

/** Next-token distribution of one prompt (BOS prepended) with its greater-than numbers for `yy`. */
export function promptEval(model: GPT2, prompt: string, yy: number, k = 5): PromptResult {
  const rows = model.toModelIds(encodeWithBos(prompt));
  const probs = tf.tidy(() => {
    const { logits } = model.run([Array.from(rows)]);
    const T = rows.length;
    return tf.softmax(logits!.slice([0, T - 1, 0], [1, 1, model.config.vocabSize]).reshape([-1]));
  });
  const p = probs.dataSync() as Float32Array;
  probs.dispose();
  const yearRows = model.toModelIds(twoDigitTokenIds());
  const py = Array.from(yearRows, (r) => p[r] as number);
  let pGreater = 0;
  let yearMass = 0;
  py.forEach((x, z) => {
    yearMass += x;
    if (z > yy) pGreater += x;
  });
  const order = Array.from(p.keys()).sort((a, b) => (p[b] as number) - (p[a] as number) || a - b);
  const topRows = order.slice(0, k);
  const ids = model.toGpt2Ids(topRows);
  const top = topRows.map((r, i) => {
    const id = ids[i] as number;
    return { id, token: decodeToken(id), p: p[r] as number };
  });
  return { prompt, yy, pGreater, yearMass, greaterShare: pGreater / yearMass, ...probabilityDifference(py, yy), top };
}

/** Goodfire's headline prompt "The war lasted from the year 1711 to 17" (YY = 11). */
export function warPromptEval(model: GPT2, k = 5): PromptResult {
  return promptEval(model, WAR_PROMPT, 11, k);
}
