import assert from "node:assert/strict";
import { test } from "node:test";
import { colorLimit, scaleColor } from "../src/lib/colors.ts";
import { fmt, heatmapGrid, histogramBins, pct } from "../src/lib/format.ts";
import { featureHref, featureIdFromParams, graphHref } from "../src/lib/links.ts";

test("heatmapGrid puts each labelled row at its row value and leaves missing rows null", () => {
  const g = heatmapGrid({
    rows: [1, 3],
    values: [
      [0.1, 0.2],
      [0.3, 0.4],
    ],
  });
  assert.equal(g.length, 4);
  assert.equal(g[0], null);
  assert.deepEqual(g[1], [0.1, 0.2]);
  assert.equal(g[2], null);
  assert.deepEqual(g[3], [0.3, 0.4]);
  assert.deepEqual(heatmapGrid({ rows: [], values: [] }), []);
});

test("histogramBins pairs consecutive edges with counts", () => {
  assert.deepEqual(histogramBins({ binEdges: [0, 1, 3], counts: [5, 7] }), [
    { start: 0, end: 1, count: 5 },
    { start: 1, end: 3, count: 7 },
  ]);
});

test("number formatting", () => {
  assert.equal(fmt(null), "—");
  assert.equal(fmt(Number.NaN), "—");
  assert.equal(fmt(0.123456), "0.123");
  assert.equal(fmt(12345.6), "12346");
  assert.equal(fmt(0.00001234), "1.2e-5");
  assert.equal(pct(0.1234), "12.34%");
  assert.equal(pct(undefined), "—");
});

test("diverging colours: white at 0, the ends at ±limit, saturating beyond; missing cells grey", () => {
  assert.deepEqual(scaleColor(0, 2, true), [247, 247, 247]);
  assert.deepEqual(scaleColor(2, 2, true), [0x1b, 0x78, 0x37]);
  assert.deepEqual(scaleColor(-5, 2, true), [0x76, 0x2a, 0x83]);
  assert.deepEqual(scaleColor(0, 1, false), [255, 255, 255]);
  assert.deepEqual(scaleColor(Number.NaN, 1, false), [205, 208, 214]);
  // 0.995-quantile of |v| over finite values: one outlier among 1000 ones does not set the scale.
  assert.equal(colorLimit([...new Array(999).fill(1), 1000, Number.NaN]), 1);
});

test("feature and graph URLs: qualified ids read as path segments and come back unchanged", () => {
  assert.equal(featureHref("demo-clt/2_17"), "/features/demo-clt/2_17");
  assert.equal(featureHref("a b/2_17", { graph: "g 1" }), "/features/a%20b/2_17?graph=g+1");
  const parts = "/features/a%20b/2_17".split("/").slice(2);
  assert.equal(featureIdFromParams(parts), "a b/2_17");
  assert.equal(graphHref("gt/1711"), "/graphs/gt%2F1711");
});
