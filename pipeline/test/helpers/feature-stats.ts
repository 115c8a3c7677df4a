// A synthetic finished statistics run (manifest + layer files) for the labeler tests: feature
// `0_i` fires on the token `marker(i)` (e.g. " apple"), and nowhere else.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  FEATURE_STATS_FORMAT,
  type FeatureExample,
  type FeatureStats,
  type FeatureStatsManifest,
} from "../../src/features/formats.ts";

export const MARKERS = [" apple", " river", " engine", " violin", " copper", " tulip"];
const FILLER = [
  " the",
  " a",
  " old",
  " man",
  " walked",
  " to",
  " town",
  " and",
  " saw",
  " it",
  ".",
  " then",
  " left",
  " home",
];

function window(ctx: number, feature: number, withMarker: boolean, act: number, rnd: () => number): FeatureExample {
  const tokens = Array.from({ length: 12 }, () => FILLER[Math.floor(rnd() * FILLER.length)]!);
  const acts = tokens.map(() => 0);
  let maxIndex = -1;
  if (withMarker) {
    maxIndex = 4 + Math.floor(rnd() * 6);
    tokens[maxIndex] = MARKERS[feature]!;
    acts[maxIndex] = act;
  }
  return {
    id: `${ctx}:1`,
    contextIndex: ctx,
    start: 1,
    tokens,
    tokenIds: tokens.map((_, i) => 100 + i),
    acts,
    maxIndex,
    maxActivation: withMarker ? act : 0,
  };
}

export function syntheticFeatureRun(nFeatures = MARKERS.length): string {
  const dir = mkdtempSync(join(tmpdir(), "atlas-labels-"));
  mkdirSync(join(dir, "features"));
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  let ctx = 0;
  const lines: string[] = [];
  for (let f = 0; f < nFeatures; f++) {
    const top = Array.from({ length: 12 }, (_, j) => window(ctx++, f, true, 10 - j * 0.3, rnd));
    const quantiles = Array.from({ length: 10 }, (_, g) => ({
      index: g,
      quantileLow: g / 10,
      quantileHigh: (g + 1) / 10,
      lower: 1 + g * 0.5,
      upper: 1.4 + g * 0.5,
      examples: Array.from({ length: 5 }, () => window(ctx++, f, true, 1 + g * 0.5, rnd)),
    }));
    const negativeExamples = Array.from({ length: 20 }, () => window(ctx++, f, false, 0, rnd));
    const s: FeatureStats = {
      featureId: `0_${f}`,
      layer: 0,
      featureIndex: f,
      density: 0.01,
      activeTokens: 62,
      activeContexts: 62,
      maxActivation: 10,
      minActivation: 1,
      meanActivation: 3,
      stdActivation: 2,
      histogram: { binWidth: 1, counts: [0, 10, 10, 10, 10, 10, 4, 2, 2, 2, 2] },
      topExamples: top,
      quantiles,
      negativeExamples,
      logits: { top: [{ tokenId: 5, token: " pie", value: 1.5 }], bottom: [{ tokenId: 6, token: " car", value: -1 }] },
    };
    lines.push(JSON.stringify(s));
  }
  // One dead feature: it must get no label.
  lines.push(
    JSON.stringify({
      featureId: `0_${nFeatures}`,
      layer: 0,
      featureIndex: nFeatures,
      density: 0,
      activeTokens: 0,
      activeContexts: 0,
      maxActivation: 0,
      minActivation: 0,
      meanActivation: 0,
      stdActivation: 0,
      histogram: { binWidth: 0, counts: [] },
      topExamples: [],
      quantiles: [],
      negativeExamples: [],
      logits: { top: [], bottom: [] },
    } satisfies FeatureStats),
  );
  writeFileSync(join(dir, "features", "layer-0.jsonl.gz"), gzipSync(`${lines.join("\n")}\n`));
  const now = new Date().toISOString();
  const manifest: FeatureStatsManifest = {
    format: FEATURE_STATS_FORMAT,
    version: 1,
    transcoder: { id: "synthetic", nLayers: 1, nFeatures: nFeatures + 1, dModel: 4 },
    model: { dir: null, name: null },
    corpus: { path: "synthetic", tokensRequested: 1000, nCtx: 16, seed: 0 },
    tokensSeen: 1000,
    contexts: ctx,
    params: {
      topK: 12,
      nQuantiles: 10,
      perQuantile: 5,
      nNegatives: 20,
      windowBefore: 8,
      windowAfter: 3,
      histogramBins: 32,
      logitsK: 1,
      seed: 0,
    },
    layers: [{ layer: 0, file: "layer-0.jsonl.gz", features: nFeatures + 1, live: nFeatures }],
    stateBytesPerFeature: 0,
    startedAt: now,
    finishedAt: now,
    elapsedSec: 0,
    complete: true,
  };
  writeFileSync(join(dir, "features", "manifest.json"), JSON.stringify(manifest));
  return dir;
}
