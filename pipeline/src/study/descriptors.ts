// Per-feature descriptors from a YY×ZZ heatmap of the feature's (signed) direct effect on logit ZZ
// at the final position, averaged over prompts (0 where the feature is inactive), plus optionally
// its mean activation per YY. All preferences are divided by the mean |effect| over active rows,
// so they are dimensionless and comparable across features.
import type { Heatmap } from "./metrics.ts";

export interface FeatureDescriptors {
  /** mean over active rows of [mean_{ZZ>YY} H − mean_{ZZ≤YY} H] / scale: > 0 promotes later years. */
  greaterThanScore: number;
  /** YY rows (with data) where the feature is active. */
  activeYY: number[];
  yyMin: number | null;
  yyMax: number | null;
  /** Share of the YY rows with data where the feature is active. */
  activeFraction: number;
  /** Activation- (or |effect|-) weighted mean YY of the active rows. */
  yyCenter: number | null;
  /** (mean over even ZZ − mean over odd ZZ) / scale, over all active rows, then split by YY parity. */
  parityPreference: number;
  parityGivenOddYY: number;
  parityGivenEvenYY: number;
  /** (mean over ZZ ≡ 0 mod 10 − mean over the rest) / scale; same for multiples of 5. */
  multipleOf10Preference: number;
  multipleOf5Preference: number;
  /** Pearson correlation of ZZ with the column mean over active rows: > 0 favours large ZZ. */
  largeZZCorrelation: number;
  /** Mean correlation of each active row with the mean row: ≈ 1 = the same output whatever YY. */
  rowSimilarity: number;
  /** Mean |effect| over the active rows (the normalizer). */
  scale: number;
}

export type FeatureType =
  | "greater-than"
  | "less-or-equal"
  | "large-numbers"
  | "small-numbers"
  | "narrow-context"
  | "parity"
  | "round-numbers"
  | "other";

export interface DescriptorThresholds {
  greaterThan: number;
  narrowFraction: number;
  largeNumbers: number;
  inputIndependent: number;
  parity: number;
  roundNumbers: number;
}

export const DEFAULT_THRESHOLDS: DescriptorThresholds = {
  greaterThan: 0.5,
  narrowFraction: 0.25,
  largeNumbers: 0.5,
  inputIndependent: 0.8,
  parity: 0.5,
  roundNumbers: 0.75,
};

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

function pearson(x: number[], y: number[]): number {
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

export function featureDescriptors(h: Heatmap, activation?: ArrayLike<number>): FeatureDescriptors {
  if (h.cols !== 100) throw new Error(`descriptor heatmaps need 100 ZZ columns, got ${h.cols}`);
  const row = (y: number) => Array.from(h.values.subarray(y * h.cols, (y + 1) * h.cols));
  const withData: number[] = [];
  const active: number[] = [];
  for (let y = 0; y < h.rows; y++) {
    const r = row(y);
    if (r.some(Number.isNaN)) continue;
    withData.push(y);
    const isActive = activation ? activation[y]! > 0 : r.some((v) => v !== 0);
    if (isActive) active.push(y);
  }
  let absSum = 0;
  for (const y of active) for (const v of row(y)) absSum += Math.abs(v);
  const scale = active.length ? absSum / (active.length * h.cols) : 0;
  const norm = (x: number) => (scale > 0 ? x / scale : 0);

  const gt: number[] = [];
  for (const y of active) {
    const r = row(y);
    const above = r.filter((_, z) => z > y);
    const below = r.filter((_, z) => z <= y);
    if (above.length && below.length) gt.push(mean(above) - mean(below));
  }
  const parityOf = (ys: number[]) => {
    const d = ys.map((y) => {
      const r = row(y);
      return mean(r.filter((_, z) => z % 2 === 0)) - mean(r.filter((_, z) => z % 2 === 1));
    });
    return norm(mean(d));
  };
  const multipleOf = (m: number) =>
    norm(
      mean(
        active.map((y) => {
          const r = row(y);
          return mean(r.filter((_, z) => z % m === 0)) - mean(r.filter((_, z) => z % m !== 0));
        }),
      ),
    );
  const colMean = Array.from({ length: h.cols }, (_, z) => mean(active.map((y) => h.values[y * h.cols + z]!)));
  const zz = Array.from({ length: h.cols }, (_, z) => z);
  const weights = active.map((y) => (activation ? activation[y]! : mean(row(y).map(Math.abs))));
  const wSum = weights.reduce((a, b) => a + b, 0);
  return {
    greaterThanScore: norm(mean(gt)),
    activeYY: active,
    yyMin: active.length ? active[0]! : null,
    yyMax: active.length ? active[active.length - 1]! : null,
    activeFraction: withData.length ? active.length / withData.length : 0,
    yyCenter: wSum > 0 ? active.reduce((acc, y, i) => acc + y * weights[i]!, 0) / wSum : null,
    parityPreference: parityOf(active),
    parityGivenOddYY: parityOf(active.filter((y) => y % 2 === 1)),
    parityGivenEvenYY: parityOf(active.filter((y) => y % 2 === 0)),
    multipleOf10Preference: multipleOf(10),
    multipleOf5Preference: multipleOf(5),
    largeZZCorrelation: active.length ? pearson(zz, colMean) : 0,
    rowSimilarity: active.length ? mean(active.map((y) => pearson(row(y), colMean))) : 0,
    scale,
  };
}

/** Feature types from descriptors (a feature can have several; "other" when none applies). */
export function classifyFeature(d: FeatureDescriptors, t: DescriptorThresholds = DEFAULT_THRESHOLDS): FeatureType[] {
  const types: FeatureType[] = [];
  if (d.activeYY.length === 0) return ["other"];
  const narrow = d.activeFraction <= t.narrowFraction;
  // Only a broadly active feature can show that its output does not depend on YY.
  const inputIndependent = !narrow && d.rowSimilarity >= t.inputIndependent;
  if (narrow) types.push("narrow-context");
  if (inputIndependent && d.largeZZCorrelation >= t.largeNumbers) types.push("large-numbers");
  else if (inputIndependent && d.largeZZCorrelation <= -t.largeNumbers) types.push("small-numbers");
  else if (d.greaterThanScore >= t.greaterThan) types.push("greater-than");
  else if (d.greaterThanScore <= -t.greaterThan) types.push("less-or-equal");
  if (
    Math.abs(d.parityPreference) >= t.parity ||
    Math.abs(d.parityGivenOddYY) >= t.parity ||
    Math.abs(d.parityGivenEvenYY) >= t.parity
  ) {
    types.push("parity");
  }
  if (d.multipleOf10Preference >= t.roundNumbers || d.multipleOf5Preference >= t.roundNumbers)
    types.push("round-numbers");
  return types.length ? types : ["other"];
}
