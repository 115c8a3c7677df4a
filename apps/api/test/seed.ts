// A small atlas written through the store's write functions (db/src/atlas/write.ts), scoped to this
// test process (ids carry RUN), with everything the API reads: labels (heuristic + llm with scores),
// statistics, two graphs, virtual weights and a greater-than study. The tests compare API answers
// with values recomputed here from the same inputs.
import {
  type GraphInput,
  qualifiedFeatureId,
  readTx,
  upsertFeatures,
  upsertLabels,
  upsertModels,
  upsertTranscoders,
  writeGraph,
  writeStudy,
  writeVirtualWeights,
} from "@circuit-atlas/db";
import { cleanupScope, smallGraph } from "../../../db/test/atlas-helpers.ts";
import { syntheticAtlasRows } from "../../../pipeline/src/ingest/synthetic.ts";

export const RUN = `apitest-${process.pid}-${Date.now().toString(36)}`;
export const T = `${RUN}-clt`;
export const M = `${RUN}-model`;
export const N_LAYERS = 4;
export const N_FEATURES = 8;
export const fid = (layer: number, index: number) => qualifiedFeatureId(T, layer, index);

/** Labels by "layer_index": the year features are 1_3, 2_5 and 3_1. */
export const LABELS: Record<string, { text: string; description: string; source: string }> = {
  "0_1": { text: "the word war", description: "Fires on 'war' and 'battle'.", source: "heuristic" },
  "0_2": { text: "opening quotation marks", description: "Fires on quotes.", source: "heuristic" },
  "1_3": { text: "years 06–14 → promotes 10–30", description: "Start year in a narrow range.", source: "heuristic" },
  "2_5": { text: "year numbers after 17", description: "Two-digit year tokens.", source: "llm" },
  "3_1": { text: "promotes later years", description: "Greater-than comparison on years.", source: "heuristic" },
  "3_6": { text: "even after odd", description: "Parity of the year.", source: "heuristic" },
};

export const LLM_SCORES = [
  { type: "detection", value: 0.82, ci95: [0.71, 0.9], positives: 40, negatives: 40 },
  { type: "fuzzing", value: 0.74, ci95: [0.62, 0.84], positives: 30, negatives: 30 },
];

export function examplesOf(layer: number, index: number) {
  const top = [0, 1, 2].map((k) => ({
    id: `${k}:0`,
    tokens: ["The", " war", " lasted", " from", " 17", "11"],
    acts: [
      [1, 0.5 + k],
      [4, 2 + layer + index / 10 - k / 2],
    ] as [number, number][],
    maxIndex: 4,
    maxActivation: 2 + layer + index / 10 - k / 2,
  }));
  return {
    top,
    quantiles: [
      {
        quantileLow: 0,
        quantileHigh: 0.5,
        lower: 0,
        upper: 1,
        examples: [
          { id: "7:3", tokens: ["a", "b"], acts: [[1, 0.4]] as [number, number][], maxIndex: 1, maxActivation: 0.4 },
        ],
      },
      {
        quantileLow: 0.5,
        quantileHigh: 1,
        lower: 1,
        upper: 2,
        examples: [
          { id: "8:0", tokens: ["c", "d"], acts: [[0, 1.5]] as [number, number][], maxIndex: 0, maxActivation: 1.5 },
        ],
      },
    ],
  };
}

export const topLogitsOf = (layer: number, index: number) =>
  [0, 1, 2, 3].map((k) => ({ tokenId: 10 + k, token: `t${k}`, value: 3 - k + layer / 10 + index / 100 }));
export const bottomLogitsOf = (layer: number, index: number) =>
  [0, 1, 2].map((k) => ({ tokenId: 20 + k, token: `b${k}`, value: -3 + k - layer / 10 - index / 100 }));

/** Graph features: [layer, index, position]. Positions repeat a feature so per-graph sums add edges. */
const GRAPH_FEATURES: [number, number, number][][] = [
  [
    [0, 1, 1],
    [0, 2, 2],
    [1, 3, 2],
    [1, 3, 3],
    [2, 5, 3],
    [3, 1, 3],
    [3, 6, 3],
  ],
  [
    [0, 1, 1],
    [1, 3, 2],
    [2, 5, 2],
    [2, 4, 3],
    [3, 1, 3],
  ],
];

export function graphInput(g: number): GraphInput {
  const feats = GRAPH_FEATURES[g]!;
  const input = smallGraph({ transcoderId: T, modelId: M, graphPrefix: RUN }, `g${g}`, feats, g);
  // Cumulative influence: lower = more important (the first nodes are the most important here); the
  // first node of each graph carries an ablation validation.
  input.nodes.forEach((n, i) => {
    if (n.kind !== "feature") return;
    n.influence = 0.1 + (0.8 * i) / feats.length;
    if (i === 0)
      Object.assign(n, {
        ablationPredicted: -0.5 - g,
        ablationMeasuredLive: -0.4 - g,
        ablationMeasuredFrozen: -0.45 - g,
      });
  });
  Object.assign(input.graph, {
    prompt: g === 0 ? "The war lasted from the year 1711 to 17" : "The battle lasted from 1732 to 17",
    nodeThreshold: 0.8,
    edgeThreshold: 0.98,
    replacementScore: 0.7 + g / 100,
    completenessScore: 0.9 - g / 100,
    contentHash: `${RUN}-${g}`,
    createdAt: `2026-11-30T10:0${g}:00.000Z`,
    validationTarget: "2",
    validationSpearmanLive: 0.6,
    validationSpearmanFrozen: 0.7,
  });
  return input;
}

export const VIRTUAL = [
  { source: fid(0, 1), target: fid(1, 3), weight: 0.9 },
  { source: fid(0, 2), target: fid(1, 3), weight: -1.2 },
  { source: fid(1, 3), target: fid(2, 5), weight: 0.3 },
];

export const STUDY_FEATURES = [
  { layer: 3, index: 1, rank: 1 },
  { layer: 1, index: 3, rank: 2 },
];

export async function seed(): Promise<void> {
  const { model, transcoder } = syntheticAtlasRows({
    modelId: M,
    modelName: "test model",
    transcoderId: T,
    nLayers: N_LAYERS,
    dModel: 16,
    featuresPerLayer: N_FEATURES,
    transcoder: { fvuMean: 0.05 },
  });
  await upsertModels([model]);
  await upsertTranscoders([transcoder]);
  const rows = [];
  for (let layer = 0; layer < N_LAYERS; layer++) {
    for (let index = 0; index < N_FEATURES; index++) {
      rows.push({
        transcoderId: T,
        layer,
        featureIndex: index,
        density: (layer * N_FEATURES + index + 1) / 1000,
        maxActivation: 2 + layer + index / 10,
        histogram: JSON.stringify({ binWidth: 1, counts: [5 + index, 3, 1] }),
        topLogits: JSON.stringify(topLogitsOf(layer, index)),
        bottomLogits: JSON.stringify(bottomLogitsOf(layer, index)),
        examples: JSON.stringify(examplesOf(layer, index)),
      });
    }
  }
  await upsertFeatures(rows);
  await upsertLabels(
    Object.entries(LABELS).map(([key, l]) => {
      const [layer, index] = key.split("_").map(Number) as [number, number];
      return {
        featureId: fid(layer, index),
        text: l.text,
        description: l.description,
        source: l.source,
        explainer: l.source === "llm" ? "test-llm" : "heuristic-v1",
        ...(l.source === "llm" ? { score: 0.82, scores: JSON.stringify(LLM_SCORES) } : {}),
        createdAt: "2026-11-30T09:00:00.000Z",
      };
    }),
  );
  for (const g of [0, 1]) await writeGraph(graphInput(g));
  await writeVirtualWeights(T, VIRTUAL);
  await writeStudy({
    study: {
      id: `${T}/greater-than`,
      transcoderId: T,
      kind: "greater-than",
      metrics: JSON.stringify({
        original: {
          n: 100,
          probabilityDifference: 0.78,
          cutoffSharpness: 0.1,
          yearMass: 0.9,
          heatmap: [null, [0.1, 0.2], [0.3, 0.4]],
        },
        replacement: {
          n: 100,
          probabilityDifference: 0.7,
          cutoffSharpness: 0.08,
          yearMass: 0.85,
          heatmap: [[0.5, 0.5]],
        },
      }),
      dataset: JSON.stringify({ nouns: ["war"], centuries: [17], prompts: 100 }),
      graphs: 2,
      meanReplacementScore: 0.71,
      meanCompletenessScore: 0.89,
      verdict: "partially reproduces",
    },
    features: STUDY_FEATURES.map((f) => ({
      featureId: fid(f.layer, f.index),
      rank: f.rank,
      influence: 1 / f.rank,
      graphsActive: 2,
      types: f.rank === 1 ? ["greater-than"] : ["narrow-context", "greater-than"],
      descriptors: JSON.stringify({ greaterThanScore: 1 / f.rank }),
      heatmapRows: [6, 7],
      heatmap: [0.1, 0.2, 0.3, 0.4].map((v) => v * f.rank),
      activationProfile: [1, 2],
    })),
  });
}

export function cleanup(): Promise<void> {
  return cleanupScope({ transcoderId: T, modelId: M, graphPrefix: RUN });
}

/** A fingerprint of everything in the database (counts + label/feature property digests). */
export function fingerprint(): Promise<Record<string, unknown>> {
  return readTx((tx) =>
    tx.one<Record<string, unknown>>(
      `CALL () { MATCH (n) RETURN count(n) AS nodes }
       CALL () { MATCH ()-[r]->() RETURN count(r) AS rels }
       CALL () { MATCH (l:Label) WITH l ORDER BY l.id RETURN collect(l.id + '|' + l.text + '|' + toString(l.current)) AS labels }
       CALL () { MATCH (f:Feature) WITH f ORDER BY f.id RETURN collect(f.id + '|' + coalesce(f.label, '')) AS features }
       RETURN nodes, rels, size(labels) AS nLabels, reduce(s = '', x IN labels | s + x) AS labels,
              reduce(s = '', x IN features | s + x) AS features`,
    ),
  );
}
