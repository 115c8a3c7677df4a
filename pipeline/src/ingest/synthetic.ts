// Synthetic atlas data of the pipeline's real file shapes, for ingest tests, `bench:ingest`,
// `bench:api` and the API tests' seed: model and transcoder rows (as `atlas ingest` writes them),
// circuit-tracer graph JSON objects (as `atlas trace` writes them) and FeatureStats lines (as
// `atlas features` writes them). Feature popularity is Zipf-like, so graphs share features and the
// cross-prompt aggregates see real overlap.

import type { ModelRow, TranscoderRow } from "@circuit-atlas/db";
import { Rng } from "@circuit-atlas/util";
import type { FeatureStats } from "../features/formats.ts";
import { type CircuitTracerGraph, cantorPair, FEATURE_TYPES } from "../graph/index.ts";
import { FEATURE_INPUT_HOOK, FEATURE_OUTPUT_HOOK } from "../transcoder/hooks.ts";

export interface SyntheticOptions {
  /** Written into metadata.scan; the transcoder the graphs belong to. */
  scan: string;
  nLayers: number;
  featuresPerLayer: number;
  /** Prompt length (BOS included). */
  positions: number;
  /** Feature nodes per graph. */
  featureNodes: number;
  /** Links per graph (feature→feature mostly; the rest from errors/embeddings and into logits). */
  edges: number;
  /** Logit nodes per graph. */
  logits?: number;
  /** Zipf exponent of feature popularity (0: uniform). */
  zipf?: number;
  seed?: number;
}

export interface SyntheticAtlasOptions {
  modelId: string;
  transcoderId: string;
  nLayers: number;
  dModel: number;
  featuresPerLayer: number;
  /** Feature nodes per synthetic graph (default 600). */
  featureNodes?: number;
  /** Links per synthetic graph (default 10,000, a pruned GPT-2-Small graph). */
  edges?: number;
  /** Model name (default: the id). */
  modelName?: string;
  /** Further transcoder properties (eval metrics…). */
  transcoder?: Partial<TranscoderRow>;
}

/**
 * The model and transcoder rows of a synthetic atlas, as `atlas ingest` writes them for a CLT of
 * ours (the run config's hook names), and the options of its synthetic graphs (16-token prompts).
 */
export function syntheticAtlasRows(o: SyntheticAtlasOptions): {
  model: ModelRow;
  transcoder: TranscoderRow;
  graphs: SyntheticOptions;
} {
  return {
    model: { id: o.modelId, name: o.modelName ?? o.modelId, nLayers: o.nLayers, dModel: o.dModel },
    transcoder: {
      id: o.transcoderId,
      modelId: o.modelId,
      kind: "clt",
      nLayers: o.nLayers,
      dModel: o.dModel,
      nFeatures: o.featuresPerLayer,
      featureInputHook: FEATURE_INPUT_HOOK,
      featureOutputHook: FEATURE_OUTPUT_HOOK,
      ...o.transcoder,
    },
    graphs: {
      scan: o.transcoderId,
      nLayers: o.nLayers,
      featuresPerLayer: o.featuresPerLayer,
      positions: 16,
      featureNodes: o.featureNodes ?? 600,
      edges: o.edges ?? 10_000,
      seed: 0,
    },
  };
}

/** Draws indices in [0, n) with P(k) ∝ (k+1)^−s by inverting the continuous power law. */
function zipfSampler(n: number, s: number, rand: () => number): () => number {
  if (s === 0) return () => Math.floor(rand() * n);
  if (s === 1) return () => Math.min(n - 1, Math.floor(Math.exp(rand() * Math.log(n + 1)) - 1));
  const a = 1 - s;
  const top = (n + 1) ** a;
  return () => Math.min(n - 1, Math.floor((1 + rand() * (top - 1)) ** (1 / a) - 1));
}

/** Graph `k` of the synthetic set (deterministic in options.seed and k). */
export function syntheticGraph(o: SyntheticOptions, k: number): CircuitTracerGraph {
  const rand = new Rng(((o.seed ?? 0) * 1_000_003 + k * 7919 + 1) >>> 0).uniform;
  const L = o.nLayers;
  const P = o.positions;
  const total = L * o.featuresPerLayer;
  // Popular features are spread over layers and indices by a fixed permutation-like stride.
  const draw = zipfSampler(total, o.zipf ?? 1.1, rand);
  const stride = 2_654_435_761 % total || 1;
  const tokens = Array.from({ length: P }, (_, p) => (p === 0 ? "<|endoftext|>" : ` t${(k * 31 + p * 7) % 997}`));
  const nodes: CircuitTracerGraph["nodes"] = [];
  const common = { run_idx: 0, reverse_ctx_idx: 0, is_target_logit: false, token_prob: 0, clerp: "" };
  const seen = new Set<string>();
  const featureNodes: { id: string; layer: number; pos: number }[] = [];
  for (let tries = 0; featureNodes.length < o.featureNodes && tries < o.featureNodes * 20; tries++) {
    const g = (draw() * stride) % total;
    const layer = Math.floor(g / o.featuresPerLayer);
    const index = g % o.featuresPerLayer;
    const pos = 1 + Math.floor(rand() * (P - 1));
    const id = `${layer}_${index}_${pos}`;
    if (seen.has(id)) continue;
    seen.add(id);
    featureNodes.push({ id, layer, pos });
    nodes.push({
      node_id: id,
      feature: cantorPair(layer, index),
      layer: String(layer),
      ctx_idx: pos,
      feature_type: FEATURE_TYPES.feature,
      ...common,
      jsNodeId: `${layer}_${index}-0`,
      influence: rand(),
      activation: 0.1 + 5 * rand(),
    });
  }
  const others: { id: string; layer: number }[] = [];
  for (let l = 0; l < L; l++) {
    for (let p = 1; p < P; p++) {
      const id = `${l}_-1_${p}`;
      others.push({ id, layer: l });
      nodes.push({
        node_id: id,
        feature: -1,
        layer: String(l),
        ctx_idx: p,
        feature_type: FEATURE_TYPES.error,
        ...common,
        jsNodeId: `${l}_-1-${p}`,
        influence: rand() * 0.1,
        activation: null,
      });
    }
  }
  for (let p = 0; p < P; p++) {
    const tok = p === 0 ? 50256 : 1000 + ((k * 31 + p * 7) % 997);
    const id = `E_${tok}_${p}`;
    others.push({ id, layer: -1 });
    nodes.push({
      node_id: id,
      feature: p,
      layer: "E",
      ctx_idx: p,
      feature_type: FEATURE_TYPES.embedding,
      ...common,
      jsNodeId: `E_${tok}-${p}`,
      influence: rand() * 0.1,
      activation: null,
    });
  }
  const logits: string[] = [];
  const nLogits = o.logits ?? 5;
  for (let r = 0; r < nLogits; r++) {
    const tok = 2000 + r * 13 + (k % 11);
    const id = `${L + 1}_${tok}_${P - 1}`;
    logits.push(id);
    nodes.push({
      node_id: id,
      feature: tok,
      layer: String(L + 1),
      ctx_idx: P - 1,
      feature_type: FEATURE_TYPES.logit,
      ...common,
      is_target_logit: r === 0,
      token_prob: 0.5 / (r + 1),
      jsNodeId: `L_${tok}-${P - 1}`,
      clerp: `Output " y${r}" (p=${(0.5 / (r + 1)).toFixed(3)})`,
      influence: null,
      activation: null,
    });
  }
  // Edges: 85% feature→feature (lower layer → higher layer), 10% error/embedding → feature,
  // 5% feature → logit; duplicates dropped.
  const byLayer = featureNodes.slice().sort((a, b) => a.layer - b.layer);
  const links: CircuitTracerGraph["links"] = [];
  const linked = new Set<string>();
  const add = (s: string, t: string) => {
    const key = `${s}>${t}`;
    if (linked.has(key)) return false;
    linked.add(key);
    links.push({ source: s, target: t, weight: (rand() - 0.45) * 2 * rand() });
    return true;
  };
  const F = byLayer.length;
  for (let tries = 0; links.length < o.edges && tries < o.edges * 10; tries++) {
    const u = rand();
    if (u < 0.85 && F > 1) {
      let i = Math.floor(rand() * F);
      let j = Math.floor(rand() * F);
      if (i === j) continue;
      if (i > j) [i, j] = [j, i];
      const a = byLayer[i]!;
      const b = byLayer[j]!;
      if (a.layer >= b.layer) continue;
      add(a.id, b.id);
    } else if (u < 0.95 && F > 0) {
      const o2 = others[Math.floor(rand() * others.length)]!;
      const b = byLayer[Math.floor(rand() * F)]!;
      if (o2.layer >= b.layer) continue;
      add(o2.id, b.id);
    } else if (F > 0) {
      add(byLayer[Math.floor(rand() * F)]!.id, logits[Math.floor(rand() * logits.length)]!);
    }
  }
  return {
    metadata: {
      slug: `${o.scan}-synthetic-${k}`,
      scan: o.scan,
      transcoder_list: [],
      prompt_tokens: tokens,
      prompt: tokens.slice(1).join(""),
      node_threshold: 0.8,
      schema_version: 1,
    },
    qParams: { pinnedIds: [], supernodes: [], linkType: "both", clickedId: "", sg_pos: "" },
    nodes,
    links,
  };
}

/** A FeatureStats line of plausible size (examples of `window` tokens) for feature (layer, index). */
export function syntheticFeatureStats(
  layer: number,
  featureIndex: number,
  o: { window?: number; seed?: number } = {},
): FeatureStats {
  const rand = new Rng((((o.seed ?? 0) + 1) * 2_246_822_519 + layer * 1_000_003 + featureIndex) >>> 0).uniform;
  const W = o.window ?? 16;
  let ctx = 0;
  const example = (peak: number) => {
    const maxIndex = Math.floor(rand() * W);
    const acts = Array.from({ length: W }, (_, i) => (i === maxIndex ? peak : rand() < 0.2 ? peak * rand() : 0));
    const c = ctx++;
    return {
      id: `${c}:${1 + (c % 50)}`,
      contextIndex: c,
      start: 1 + (c % 50),
      tokens: Array.from({ length: W }, (_, i) => ` w${(featureIndex + i * 17) % 5000}`),
      tokenIds: Array.from({ length: W }, (_, i) => (featureIndex + i * 17) % 50000),
      acts,
      maxIndex,
      maxActivation: peak,
    };
  };
  const max = 1 + 9 * rand();
  const logit = (r: number, sign: number) => ({
    tokenId: (featureIndex * 13 + r) % 50257,
    token: ` l${r}`,
    value: sign * (1 - r / 10),
  });
  return {
    featureId: `${layer}_${featureIndex}`,
    layer,
    featureIndex,
    density: rand() * 0.01,
    activeTokens: Math.floor(rand() * 10000),
    activeContexts: Math.floor(rand() * 1000),
    maxActivation: max,
    minActivation: 0.01,
    meanActivation: max / 4,
    stdActivation: max / 8,
    histogram: { binWidth: max / 32, counts: Array.from({ length: 32 }, () => Math.floor(rand() * 100)) },
    topExamples: Array.from({ length: 5 }, (_, i) => example(max * (1 - i / 10))),
    quantiles: [0, 1].map((q) => ({
      index: q,
      quantileLow: q / 2,
      quantileHigh: (q + 1) / 2,
      lower: (max * q) / 2,
      upper: (max * (q + 1)) / 2,
      examples: [example((max * (q + 0.5)) / 2), example((max * (q + 0.7)) / 2)],
    })),
    negativeExamples: [],
    logits: {
      top: Array.from({ length: 10 }, (_, r) => logit(r, 1)),
      bottom: Array.from({ length: 10 }, (_, r) => logit(r, -1)),
    },
  };
}
