// Which examples the explainer sees and which are held out for the scorers. Deterministic: the
// explainer gets the strongest `nTop` windows and the first example of every activation-quantile
// interval; the other quantile examples (in other contexts) are held out, alternating between
// detection and fuzzing, so no scorer ever judges a window the explainer saw.
import { Rng } from "../data/index.ts";
import type { FeatureExample, FeatureStats } from "../features/formats.ts";

export interface ExampleSplit {
  shown: FeatureExample[];
  detectionPositives: FeatureExample[];
  fuzzingExamples: FeatureExample[];
  negatives: FeatureExample[];
}

export interface SplitOptions {
  nTop: number;
  /** Per quantile interval, examples shown to the explainer. */
  shownPerQuantile: number;
  /** Caps on held-out positives per scorer and on negatives. */
  maxPerScorer: number;
}

export const DEFAULT_SPLIT: SplitOptions = { nTop: 10, shownPerQuantile: 1, maxPerScorer: 20 };

export function splitExamples(s: FeatureStats, o: SplitOptions = DEFAULT_SPLIT): ExampleSplit {
  const shown = s.topExamples.slice(0, o.nTop);
  for (const q of s.quantiles) shown.push(...q.examples.slice(0, o.shownPerQuantile));
  const shownContexts = new Set(shown.map((e) => e.contextIndex));
  // Round-robin over the intervals so both scorers see every activation range.
  const rest = s.quantiles.map((q) =>
    q.examples.slice(o.shownPerQuantile).filter((e) => !shownContexts.has(e.contextIndex)),
  );
  const held: FeatureExample[] = [];
  const seen = new Set<string>();
  for (let j = 0; rest.some((r) => j < r.length); j++) {
    for (const r of rest) {
      const e = r[j];
      if (e && !seen.has(e.id)) {
        seen.add(e.id);
        held.push(e);
      }
    }
  }
  const detectionPositives = held.filter((_, i) => i % 2 === 0).slice(0, o.maxPerScorer);
  const fuzzingExamples = held.filter((_, i) => i % 2 === 1).slice(0, o.maxPerScorer);
  const negatives = s.negativeExamples.slice(0, o.maxPerScorer);
  return { shown, detectionPositives, fuzzingExamples, negatives };
}

/** Fuzzing items: even-indexed examples keep their true highlights, odd ones get as many highlights on inactive tokens. */
export function fuzzingItems(
  examples: FeatureExample[],
  seed: number,
): { example: FeatureExample; marked: Set<number>; correct: boolean }[] {
  const rng = new Rng(seed);
  return examples.map((ex, j) => {
    const active = ex.acts.flatMap((a, i) => (a > 0 ? [i] : []));
    const inactive = ex.acts.flatMap((a, i) => (a > 0 ? [] : [i]));
    if (j % 2 === 0 || inactive.length === 0) return { example: ex, marked: new Set(active), correct: true };
    for (let i = inactive.length - 1; i > 0; i--) {
      const r = Math.floor(rng.next() * (i + 1));
      [inactive[i], inactive[r]] = [inactive[r]!, inactive[i]!];
    }
    return { example: ex, marked: new Set(inactive.slice(0, Math.max(1, active.length))), correct: false };
  });
}
