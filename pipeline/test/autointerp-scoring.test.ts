// Scoring math on constructed examples with known answers, the held-out split, fuzzing highlights,
// and the heuristic labeler on constructed statistics.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  balancedAccuracy,
  countJudgements,
  fuzzingItems,
  heuristicLabel,
  splitExamples,
  Z95,
} from "../src/autointerp/index.ts";
import { Rng } from "../src/data/index.ts";
import type { FeatureStats } from "../src/features/formats.ts";
import { readFeatureStats } from "../src/features/formats.ts";
import { syntheticFeatureRun } from "./helpers/feature-stats.ts";

test("balanced accuracy: known counts, by hand", () => {
  // TPR 8/10, TNR 6/10 → 0.7; AC-adjusted p̃ = 9/12, 7/12 over n+2 = 12.
  const r = balancedAccuracy({ truePositives: 8, falseNegatives: 2, trueNegatives: 6, falsePositives: 4 });
  assert.ok(Math.abs(r.value - 0.7) < 1e-12);
  const se = 0.5 * Math.sqrt((0.75 * 0.25) / 12 + ((7 / 12) * (5 / 12)) / 12);
  assert.ok(Math.abs(r.ci95[0] - (0.7 - Z95 * se)) < 1e-12 && Math.abs(r.ci95[1] - (0.7 + Z95 * se)) < 1e-12);
  assert.deepEqual([r.positives, r.negatives], [10, 10]);
  // unbalanced classes: BA ≠ accuracy. 90 positives all right, 10 negatives all wrong → accuracy 0.9, BA 0.5.
  assert.equal(
    balancedAccuracy({ truePositives: 90, falseNegatives: 0, trueNegatives: 0, falsePositives: 10 }).value,
    0.5,
  );
  // a perfect judge: 1, with an interval below 1 that narrows with n
  const p20 = balancedAccuracy({ truePositives: 20, falseNegatives: 0, trueNegatives: 20, falsePositives: 0 });
  const p200 = balancedAccuracy({ truePositives: 200, falseNegatives: 0, trueNegatives: 200, falsePositives: 0 });
  assert.equal(p20.value, 1);
  assert.ok(p20.ci95[0] < p200.ci95[0] && p200.ci95[0] < 1 && p20.ci95[1] === 1);
});

test("balanced accuracy: counts from judgements, unjudged items left out", () => {
  const truth = [true, true, true, false, false, false, false];
  const pred = [true, false, null, false, false, true, null];
  const c = countJudgements(truth, pred);
  assert.deepEqual(c, { truePositives: 1, falseNegatives: 1, trueNegatives: 2, falsePositives: 1, unjudged: 2 });
  assert.ok(Math.abs(balancedAccuracy(c).value - (0.5 + 2 / 3) / 2) < 1e-12);
});

test("balanced accuracy: the 95% interval covers the true value about 95% of the time", () => {
  const rng = new Rng(11);
  const [tpr, tnr, P, N, runs] = [0.8, 0.65, 40, 60, 3000];
  let covered = 0;
  for (let r = 0; r < runs; r++) {
    let tp = 0;
    let tn = 0;
    for (let i = 0; i < P; i++) if (rng.next() < tpr) tp++;
    for (let i = 0; i < N; i++) if (rng.next() < tnr) tn++;
    const b = balancedAccuracy({
      truePositives: tp,
      falseNegatives: P - tp,
      trueNegatives: tn,
      falsePositives: N - tn,
    });
    if (b.ci95[0] <= (tpr + tnr) / 2 && (tpr + tnr) / 2 <= b.ci95[1]) covered++;
  }
  const rate = covered / runs;
  assert.ok(rate > 0.93 && rate < 0.975, `coverage ${rate}`);
});

async function firstStats(): Promise<FeatureStats> {
  for await (const s of readFeatureStats(syntheticFeatureRun(1))) return s;
  throw new Error("no stats");
}

test("held-out split: scorers never see a window (or context) the explainer saw; fuzzing negatives mark inactive tokens", async () => {
  const s = await firstStats();
  const sp = splitExamples(s);
  const shown = new Set(sp.shown.map((e) => e.contextIndex));
  for (const e of [...sp.detectionPositives, ...sp.fuzzingExamples]) assert.ok(!shown.has(e.contextIndex));
  const det = new Set(sp.detectionPositives.map((e) => e.id));
  assert.ok(
    sp.fuzzingExamples.every((e) => !det.has(e.id)),
    "detection and fuzzing examples are disjoint",
  );
  assert.equal(sp.detectionPositives.length, 20);
  assert.equal(sp.negatives.length, 20);
  const items = fuzzingItems(sp.fuzzingExamples, 3);
  assert.equal(items.filter((x) => x.correct).length, 10);
  for (const it of items) {
    const active = it.example.acts.flatMap((a, i) => (a > 0 ? [i] : []));
    if (it.correct) assert.deepEqual([...it.marked].sort(), active);
    else {
      assert.equal(it.marked.size, active.length);
      for (const i of it.marked) assert.equal(it.example.acts[i], 0);
    }
  }
});

test("heuristic labeler: names the token a feature fires on and scores itself on held-out examples", async () => {
  const s = await firstStats();
  const h = heuristicLabel(s)!;
  assert.equal(h.rule, "tokens");
  assert.match(h.label, /"apple"/);
  assert.match(h.label, /promotes "pie"/);
  const det = h.scores.find((x) => x.type === "detection")!;
  assert.deepEqual([det.value, det.positives, det.negatives], [1, 20, 20]);
  // dead features get no label
  assert.equal(heuristicLabel({ ...s, activeTokens: 0 }), null);
});

test("heuristic labeler: greater-than descriptors from a study heatmap", async () => {
  const s = await firstStats();
  // active for YY 06–14; raises ZZ 10–30, lowers the rest
  const heatmap = Array.from({ length: 100 }, (_, y) =>
    y < 2 || y > 97
      ? null
      : Array.from({ length: 100 }, (_, z) => (y >= 6 && y <= 14 ? (z >= 10 && z <= 30 ? 1 : -0.2) : 0)),
  );
  const h = heuristicLabel(s, { featureId: s.featureId, types: ["greater-than"], heatmap })!;
  assert.equal(h.rule, "greater-than");
  assert.match(h.label, /^years 06–14 → promotes 10–30/);
  // input-independent preference for large numbers
  const large = Array.from({ length: 100 }, (_, y) =>
    y < 2 || y > 97 ? null : Array.from({ length: 100 }, (_, z) => (z - 50) / 50),
  );
  assert.match(heuristicLabel(s, { featureId: s.featureId, types: [], heatmap: large })!.label, /^promotes > 75/);
  // even after odd: after odd YY the feature raises even ZZ
  const parity = Array.from({ length: 100 }, (_, y) =>
    y < 2 || y > 97 ? null : Array.from({ length: 100 }, (_, z) => (y % 2 === 1 ? (z % 2 === 0 ? 1 : -1) : 0.01)),
  );
  assert.match(heuristicLabel(s, { featureId: s.featureId, types: [], heatmap: parity })!.label, /even after odd/);
});
