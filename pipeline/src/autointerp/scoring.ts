// Scoring math: balanced accuracy of a binary judge with its 95% interval.
import type { LabelScore } from "../features/formats.ts";
//
// BA = (TPR + TNR) / 2. Its interval uses the normal approximation of the two independent
// binomial rates, each Agresti–Coull adjusted (x + 1)/(n + 2) so that perfect or empty cells still
// get a non-degenerate width: BA ± 1.96 · ½·sqrt(p̃₁(1−p̃₁)/(P+2) + p̃₂(1−p̃₂)/(N+2)), clipped to [0, 1].

export interface BinaryCounts {
  truePositives: number;
  falseNegatives: number;
  trueNegatives: number;
  falsePositives: number;
}

export interface BalancedAccuracy {
  value: number;
  ci95: [number, number];
  positives: number;
  negatives: number;
}

export const Z95 = 1.959963984540054;

export function balancedAccuracy(c: BinaryCounts): BalancedAccuracy {
  const P = c.truePositives + c.falseNegatives;
  const N = c.trueNegatives + c.falsePositives;
  // With one class missing the other rate alone is reported (the missing rate counts as chance).
  const tpr = P > 0 ? c.truePositives / P : 0.5;
  const tnr = N > 0 ? c.trueNegatives / N : 0.5;
  const value = (tpr + tnr) / 2;
  const p1 = (c.truePositives + 1) / (P + 2);
  const p2 = (c.trueNegatives + 1) / (N + 2);
  const se = 0.5 * Math.sqrt((p1 * (1 - p1)) / (P + 2) + (p2 * (1 - p2)) / (N + 2));
  const clip = (x: number) => Math.min(1, Math.max(0, x));
  return { value, ci95: [clip(value - Z95 * se), clip(value + Z95 * se)], positives: P, negatives: N };
}

/** Counts from parallel arrays of truth and predictions (null predictions = unjudged, skipped). */
export function countJudgements(truth: boolean[], predicted: (boolean | null)[]): BinaryCounts & { unjudged: number } {
  const c = { truePositives: 0, falseNegatives: 0, trueNegatives: 0, falsePositives: 0, unjudged: 0 };
  truth.forEach((t, i) => {
    const p = predicted[i];
    if (p === null || p === undefined) c.unjudged++;
    else if (t && p) c.truePositives++;
    else if (t) c.falseNegatives++;
    else if (p) c.falsePositives++;
    else c.trueNegatives++;
  });
  return c;
}

/** A LabelScore from judge counts (null when either class is missing: no balanced accuracy then). */
export function labelScore(
  type: LabelScore["type"],
  c: BinaryCounts & { unjudged: number },
  scorerModel: string,
  promptVersion: string,
  exampleIds: string[],
): LabelScore | null {
  const ba = balancedAccuracy(c);
  if (ba.positives === 0 || ba.negatives === 0) return null;
  return {
    type,
    value: ba.value,
    ci95: ba.ci95,
    positives: ba.positives,
    negatives: ba.negatives,
    truePositives: c.truePositives,
    trueNegatives: c.trueNegatives,
    unjudged: c.unjudged,
    scorerModel,
    promptVersion,
    exampleIds,
  };
}
