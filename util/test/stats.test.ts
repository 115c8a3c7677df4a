import assert from "node:assert/strict";
import { test } from "node:test";
import { percentile, Rng, summarizeSamples } from "../src/index.ts";

// Nearest rank by its definition: the smallest sample v with at least q·n samples ≤ v.
function byDefinition(xs: number[], q: number): number {
  const candidates = [...new Set(xs)].sort((a, b) => a - b);
  return candidates.find((v) => xs.filter((x) => x <= v).length >= q * xs.length - 1e-9)!;
}

test("percentile is the nearest-rank quantile (always a measured value)", () => {
  assert.equal(percentile([15, 20, 35, 40, 50], 0.3), 20);
  assert.equal(percentile([15, 20, 35, 40, 50], 0.4), 20);
  assert.equal(percentile([15, 20, 35, 40, 50], 0.5), 35);
  assert.equal(percentile([15, 20, 35, 40, 50], 1), 50);
  assert.equal(percentile([7], 0.01), 7);
  const rng = new Rng(5);
  for (let trial = 0; trial < 200; trial++) {
    const xs = Array.from({ length: 1 + rng.int(60) }, () => rng.int(30));
    const sorted = [...xs].sort((a, b) => a - b);
    for (const q of [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1]) assert.equal(percentile(sorted, q), byDefinition(xs, q));
  }
});

test("empty samples give NaN, a q outside (0, 1] is refused", () => {
  assert.ok(Number.isNaN(percentile([], 0.5)));
  assert.ok(Number.isNaN(summarizeSamples([]).p95));
  assert.throws(() => percentile([1], 0), /q must be in \(0, 1\]/);
  assert.throws(() => percentile([1], 95), /q must be in \(0, 1\]/);
});

test("summarizeSamples sorts a copy and reports p50/p95/p99/mean", () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
  const s = summarizeSamples(xs);
  assert.deepEqual(s, { n: 100, p50: 50, p95: 95, p99: 99, mean: 50.5 });
  assert.equal(xs[0], 100);
});
