// Validation of a graph against interventions (after Ameisen et al. 2025, who report Spearman 0.72
// between influence and ablation effect): for the top-K features by node influence, the effect of
// ablating the feature (×0) on the target logit as predicted by the graph's linear model
// (propagated along the graph's feature→feature edges, every downstream feature responding
// linearly) against the effect measured by an intervention on the model (default: iterative
// patching with live attention, i.e. the real model's response), and their Spearman correlation.
import { graphLayout, nodeId, nodeInfluence, toDense } from "../graph/index.ts";
import type { AttributionResult } from "./attribute.ts";
import { type InterveneOptions, intervene } from "./intervene.ts";

export interface ValidationEntry {
  nodeId: string;
  influence: number;
  predicted: number;
  measured: number;
}

export interface ValidationReport {
  target: string;
  entries: ValidationEntry[];
  spearman: number;
}

/** Ranks with ties averaged (1-based). */
export function ranks(x: readonly number[]): number[] {
  const order = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(x.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) r[order[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length || x.length < 2) throw new Error("spearman needs two equal-length series of ≥ 2 values");
  const rx = ranks(x);
  const ry = ranks(y);
  const n = x.length;
  const mx = (n + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - mx);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - mx) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/** Effect on every node's input of changing feature `s`'s activation by `delta`, through the graph. */
export function predictedEffects(r: AttributionResult, s: number, delta: number): Float64Array {
  const g = r.graph;
  const l = graphLayout(g);
  const A = toDense(g.adjacency).data;
  const change = new Float64Array(l.size);
  change[s] = delta;
  const order = g.features.map((_, i) => i).sort((a, b) => g.features[a]!.layer - g.features[b]!.layer);
  const sources = order.filter((i) => g.features[i]!.layer >= g.features[s]!.layer);
  const effect = new Float64Array(l.size);
  for (const t of [...sources, ...Array.from({ length: l.nLogits }, (_, k) => l.logitStart + k)]) {
    if (t === s) continue;
    let e = 0;
    for (const u of sources) {
      if (change[u] === 0) continue;
      e += (A[t * l.size + u]! / g.features[u]!.activation) * change[u]!;
    }
    effect[t] = e;
    if (t < l.errorStart) change[t] = e; // an active JumpReLU feature responds linearly
  }
  return effect;
}

export async function validateAttribution(
  r: AttributionResult,
  options: { topK?: number; logit?: number; intervention?: InterveneOptions } = {},
): Promise<ValidationReport> {
  const g = r.graph;
  const l = graphLayout(g);
  const k = options.logit ?? 0;
  const logit = g.logits[k];
  if (!logit) throw new Error(`the graph has no logit node ${k}`);
  const V = r.context.model.config.vocabSize;
  if (logit.tokenId >= 50257) throw new Error("validation needs a token logit node, not a custom target");
  const v = r.context.model.toModelIds([logit.tokenId])[0]!;
  const value = (logits: ArrayLike<number>) => {
    let mean = 0;
    for (let i = 0; i < V; i++) mean += logits[i]!;
    return logits[v]! - mean / V;
  };
  const clean = value(r.context.lastLogits);
  const inf = nodeInfluence(g);
  const top = g.features
    .map((_, i) => i)
    .sort((a, b) => inf[b]! - inf[a]!)
    .slice(0, options.topK ?? 20);
  const entries: ValidationEntry[] = [];
  for (const s of top) {
    const f = g.features[s]!;
    const predicted = predictedEffects(r, s, -f.activation)[l.logitStart + k]!;
    const out = await intervene(
      r.context,
      [{ layer: f.layer, featureIndex: f.featureIndex, positions: [f.position], mode: "scale", value: 0 }],
      options.intervention ?? { patching: "iterative", freezeAttention: false },
    );
    entries.push({ nodeId: nodeId(g, s, l), influence: inf[s]!, predicted, measured: value(out.logits) - clean });
  }
  const rho =
    entries.length >= 2
      ? spearman(
          entries.map((e) => e.predicted),
          entries.map((e) => e.measured),
        )
      : Number.NaN;
  return { target: logit.token, entries, spearman: rho };
}
