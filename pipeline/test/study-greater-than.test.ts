import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { attribute } from "../src/attribution/index.ts";
import { initBackend } from "../src/backend/index.ts";
import { graphLayout, toDense } from "../src/graph/index.ts";
import type { GPT2 } from "../src/model/index.ts";
import { decodePng, type GreaterThanStudyResult, greaterThanStudy, twoDigitTokenIds } from "../src/study/index.ts";
import { randomClt, tinyModel } from "./attribution-helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "atlas-study-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("greater-than study on a tiny random model + random CLT", () => {
  let model: GPT2;
  let r: GreaterThanStudyResult;
  const clt = randomClt(11, 3, 16, 24, 0.3);

  before(async () => {
    await initBackend(undefined, { quiet: true });
    model = tinyModel(5, { vocabSize: 50257 }); // every GPT-2 token (vocab row i ↔ GPT-2 id i−1, BOS first)
    r = await greaterThanStudy({
      model,
      clt,
      modelName: "tiny",
      cltName: "tiny-clt",
      nouns: ["war"],
      centuries: [17],
      yyRange: [40, 47],
      metricPrompts: 16,
      graphPrompts: 3,
      heatmapPromptsPerYY: 1,
      topN: 6,
      svgFeatures: 2,
      outDir: dir,
    });
  });

  test("metrics of both models, in range", () => {
    for (const m of [r.metrics.original, r.metrics.replacement]) {
      assert.equal(m.n, 16);
      assert.ok(Math.abs(m.probabilityDifference) <= m.yearMass + 1e-9);
      assert.ok(m.yearMass > 0 && m.yearMass < 1);
      assert.equal(m.heatmap.length, 100);
      assert.equal(m.heatmap[39], null);
      assert.equal(m.heatmap[40]!.length, 100);
    }
    assert.notEqual(r.metrics.original.probabilityDifference, r.metrics.replacement.probabilityDifference);
    assert.ok(r.graphs.meanReplacementScore > 0 && r.graphs.meanReplacementScore < 1);
  });

  test("features ranked by influence, with heatmaps equal to the graph's direct logit edges", async () => {
    assert.equal(r.features.length, 6);
    for (let i = 1; i < r.features.length; i++) assert.ok(r.features[i - 1]!.influence >= r.features[i]!.influence);
    // With one noun, one century and one prompt per YY, a heatmap row is the edge feature → logit ZZ
    // of that prompt's graph with the raw logit ZZ as a custom target.
    const f = r.features.find((x) => x.activationProfile.some((a) => a !== null && a > 0))!;
    assert.ok(f, "some top feature is active at the final position");
    const yy = f.activationProfile.findIndex((a) => a !== null && a > 0);
    const zzIds = twoDigitTokenIds();
    const zz = [0, yy, 99];
    const g = await attribute(
      model,
      clt,
      `The war lasted from the year 17${String(yy).padStart(2, "0")} to the year 17`,
      { targets: zz.map((z) => ({ label: String(z), coefficients: { [zzIds[z]!]: 1 } })), checkAdditivity: false },
    );
    const l = graphLayout(g.graph);
    const i = g.graph.features.findIndex(
      (x) => x.layer === f.layer && x.featureIndex === f.featureIndex && x.position === l.nPos - 1,
    );
    assert.ok(i >= 0);
    const A = toDense(g.graph.adjacency).data;
    zz.forEach((z, k) => {
      const edge = A[(l.logitStart + k) * l.size + i]!;
      const h = f.heatmap[yy]![z]!;
      assert.ok(Math.abs(edge - h) <= 1e-4 * Math.max(1, Math.abs(edge)), `ZZ=${z}: ${h} vs edge ${edge}`);
    });
    assert.ok(f.heatmap[yy]!.some((v) => v !== 0));
    assert.equal(f.types.length > 0, true);
  });

  test("files: JSON for the database, PNG/SVG images and a report with a plain verdict", () => {
    const json = JSON.parse(readFileSync(join(dir, "greater-than.json"), "utf8"));
    assert.equal(json.features.length, 6);
    assert.equal(json.model, "tiny");
    for (const name of ["original.png", "replacement.png", `features/${r.features[0]!.featureId}.png`]) {
      const img = decodePng(readFileSync(join(dir, name)));
      assert.ok(img.width > 400 && img.height > 400, name);
    }
    assert.match(readFileSync(join(dir, "original.svg"), "utf8"), /^<svg/);
    assert.equal(r.files.images.filter((f) => f.endsWith(".svg")).length, 2 + 2);
    const md = readFileSync(join(dir, "report.md"), "utf8");
    // A random CLT on a random model has none of Goodfire's feature types: the seeded run's verdict.
    const { verdict, narrowComparators, largeNumberFeatures, parityFeatures } = r.verdict;
    assert.deepEqual(
      [verdict, narrowComparators, largeNumberFeatures, parityFeatures],
      ["does not reproduce", 0, 0, 0],
    );
    assert.match(md, /\*\*This run does not reproduce Goodfire's picture\.\*\*/);
    assert.match(md, /\| original \| -?\d\.\d{3} \|/);
    assert.match(md, /## Feature types/);
  });
});
