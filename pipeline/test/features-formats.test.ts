import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  currentLabels,
  FEATURE_STATS_FORMAT,
  type FeatureStats,
  FeatureStatsSchema,
  type LabelRecord,
  LabelRecordSchema,
  readFeatureStats,
} from "../src/features/formats.ts";

const stats: FeatureStats = {
  featureId: "1_7",
  layer: 1,
  featureIndex: 7,
  density: 0.01,
  activeTokens: 10,
  activeContexts: 4,
  maxActivation: 3,
  minActivation: 0.5,
  meanActivation: 1.2,
  stdActivation: 0.4,
  histogram: { binWidth: 0.25, counts: [0, 0, 3, 7] },
  topExamples: [
    {
      id: "3:1",
      contextIndex: 3,
      start: 1,
      tokens: ["a", "b"],
      tokenIds: [64, 65],
      acts: [0, 3],
      maxIndex: 1,
      maxActivation: 3,
    },
  ],
  quantiles: [],
  negativeExamples: [],
  logits: { top: [{ tokenId: 64, token: "a", value: 1 }], bottom: [] },
};

const label = (source: LabelRecord["source"], createdAt: string, text: string): LabelRecord => ({
  version: 1,
  id: `id-${text}-xxxxxxxx`,
  transcoder: "t",
  featureId: "1_7",
  layer: 1,
  featureIndex: 7,
  source,
  label: text,
  description: "",
  confidence: null,
  scores: [],
  provenance: {
    explainer: { model: "m", endpoint: null, promptVersion: "v1", temperature: null },
    scorer: null,
    stats: { finishedAt: "2026-01-01T00:00:00.000Z", tokensSeen: 1 },
    examplesShown: [],
    seed: 0,
    usage: { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: null },
    cacheKey: null,
    rule: null,
    startedAt: createdAt,
    finishedAt: createdAt,
  },
  createdAt,
  supersedes: null,
});

test("formats: schemas accept a well-formed record and reject a bad feature id", () => {
  assert.equal(FeatureStatsSchema.safeParse(stats).success, true);
  assert.equal(FeatureStatsSchema.safeParse({ ...stats, featureId: "1-7" }).success, false);
  assert.equal(LabelRecordSchema.safeParse(label("llm", "2026-01-01T00:00:00.000Z", "x")).success, true);
});

test("formats: a heuristic label never hides an LLM label, a newer LLM label wins", () => {
  const cur = currentLabels([
    label("llm", "2026-01-01T00:00:00.000Z", "old"),
    label("heuristic", "2026-01-03T00:00:00.000Z", "heur"),
    label("llm", "2026-01-02T00:00:00.000Z", "new"),
  ]);
  assert.equal(cur.get("1_7")?.label, "new");
});

test("formats: readFeatureStats names the file and line of a bad record", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fmt-"));
  mkdirSync(join(dir, "features"));
  const manifest = {
    format: FEATURE_STATS_FORMAT,
    version: 1,
    transcoder: { id: "t", nLayers: 2, nFeatures: 8, dModel: 4 },
    model: { dir: null, name: null },
    corpus: { path: "c", tokensRequested: 10, nCtx: 8, seed: 0 },
    tokensSeen: 10,
    contexts: 2,
    params: {
      topK: 1,
      nQuantiles: 1,
      perQuantile: 1,
      nNegatives: 0,
      windowBefore: 1,
      windowAfter: 1,
      histogramBins: 4,
      logitsK: 1,
      seed: 0,
    },
    layers: [{ layer: 1, file: "layer-1.jsonl.gz", features: 2, live: 1 }],
    stateBytesPerFeature: 100,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:00:00.000Z",
    elapsedSec: 0,
    complete: true,
  };
  writeFileSync(join(dir, "features", "manifest.json"), JSON.stringify(manifest));
  writeFileSync(join(dir, "features", "layer-1.jsonl.gz"), gzipSync(`${JSON.stringify(stats)}\n{"featureId":"1_8"}\n`));
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const s of readFeatureStats(dir)) seen.push(s.featureId);
  }, /layer-1\.jsonl\.gz line 2/);
  assert.deepEqual(seen, ["1_7"]);
});
