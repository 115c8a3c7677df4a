// The attribution graph object. Node order follows circuit-tracer's adjacency layout:
//   [selected features][error nodes, layer-major: (layer 0, pos 0..P-1), (layer 1, …)]
//   [embedding nodes, pos 0..P-1][logit nodes, most probable first]
// Token ids in the graph are GPT-2 token ids (a compact-vocab model maps its own ids back first).
import type { Adjacency } from "./adjacency.ts";

export interface FeatureNode {
  layer: number;
  position: number;
  featureIndex: number;
  activation: number;
}

export interface LogitNode {
  /** GPT-2 token id; custom targets (e.g. logit(a) − logit(b)) use a virtual id ≥ vocab size. */
  tokenId: number;
  /** Decoded token (or a label for custom targets), used for the clerp. */
  token: string;
  /** Weight in the influence computation: the token's probability (or a chosen weight). */
  probability: number;
  /** Direction injected at the unembedding input (dModel), if kept. */
  target?: Float32Array;
}

export interface AttributionGraph {
  prompt: string;
  /** GPT-2 ids of every position, BOS included: one embedding node per entry. */
  inputTokens: number[];
  /** Decoded strings of inputTokens (for prompt_tokens in the JSON export). */
  tokenStrings: string[];
  nLayers: number;
  features: FeatureNode[];
  logits: LogitNode[];
  adjacency: Adjacency;
  /** Transcoder set id (circuit-tracer "scan"), e.g. the CLT run name. */
  scan?: string;
  /** Model id (a name, never a local path). */
  model?: string;
  /** The attribution settings that produced the graph (circuit-tracer's generation settings). */
  settings?: GenerationSettings;
}

export interface GenerationSettings {
  maxFeatureNodes: number;
  batchSize: number;
  desiredLogitProb: number;
  maxLogits: number;
}

export interface GraphLayout {
  nFeatures: number;
  nPos: number;
  nLayers: number;
  nLogits: number;
  errorStart: number;
  tokenStart: number;
  logitStart: number;
  size: number;
}

export function graphLayout(g: Pick<AttributionGraph, "features" | "inputTokens" | "nLayers" | "logits">): GraphLayout {
  const nFeatures = g.features.length;
  const nPos = g.inputTokens.length;
  const errorStart = nFeatures;
  const tokenStart = errorStart + g.nLayers * nPos;
  const logitStart = tokenStart + nPos;
  return {
    nFeatures,
    nPos,
    nLayers: g.nLayers,
    nLogits: g.logits.length,
    errorStart,
    tokenStart,
    logitStart,
    size: logitStart + g.logits.length,
  };
}

export function errorNodeIndex(l: GraphLayout, layer: number, position: number): number {
  return l.errorStart + layer * l.nPos + position;
}
export function embeddingNodeIndex(l: GraphLayout, position: number): number {
  return l.tokenStart + position;
}
export function logitNodeIndex(l: GraphLayout, k: number): number {
  return l.logitStart + k;
}

export type NodeInfo =
  | ({ kind: "feature"; index: number } & FeatureNode)
  | { kind: "error"; index: number; layer: number; position: number }
  | { kind: "embedding"; index: number; position: number; tokenId: number }
  | ({ kind: "logit"; index: number; position: number; rank: number } & LogitNode);

export function nodeInfo(g: AttributionGraph, index: number, layout = graphLayout(g)): NodeInfo {
  if (index < 0 || index >= layout.size) throw new Error(`node index ${index} out of range 0..${layout.size - 1}`);
  if (index < layout.errorStart) return { kind: "feature", index, ...g.features[index]! };
  if (index < layout.tokenStart) {
    const k = index - layout.errorStart;
    return { kind: "error", index, layer: Math.floor(k / layout.nPos), position: k % layout.nPos };
  }
  if (index < layout.logitStart) {
    const position = index - layout.tokenStart;
    return { kind: "embedding", index, position, tokenId: g.inputTokens[position]! };
  }
  const rank = index - layout.logitStart;
  return { kind: "logit", index, position: layout.nPos - 1, rank, ...g.logits[rank]! };
}

/** circuit-tracer node ids: features `{layer}_{index}_{pos}`, errors `{layer}_-1_{pos}`,
 * embeddings `E_{tokenId}_{pos}`, logits `{L+1}_{tokenId}_{pos}` (pos = last position). */
export function nodeId(g: AttributionGraph, index: number, layout = graphLayout(g)): string {
  const n = nodeInfo(g, index, layout);
  switch (n.kind) {
    case "feature":
      return `${n.layer}_${n.featureIndex}_${n.position}`;
    case "error":
      return `${n.layer}_-1_${n.position}`;
    case "embedding":
      return `E_${n.tokenId}_${n.position}`;
    case "logit":
      return `${layout.nLayers + 1}_${n.tokenId}_${n.position}`;
  }
}

/** Influence weights: logit probabilities on the logit nodes, 0 elsewhere. */
export function logitWeights(g: AttributionGraph, layout = graphLayout(g)): Float64Array {
  const w = new Float64Array(layout.size);
  g.logits.forEach((lg, k) => {
    w[layout.logitStart + k] = lg.probability;
  });
  return w;
}

/** Throws with a clear message when the graph's parts disagree in size. */
export function validateGraph(g: AttributionGraph): GraphLayout {
  const layout = graphLayout(g);
  if (g.adjacency.size !== layout.size) {
    throw new Error(
      `adjacency is ${g.adjacency.size}×${g.adjacency.size} but the graph has ${layout.size} nodes ` +
        `(${layout.nFeatures} features + ${g.nLayers}×${layout.nPos} errors + ${layout.nPos} embeddings + ${layout.nLogits} logits)`,
    );
  }
  if (g.tokenStrings.length !== layout.nPos) {
    throw new Error(`tokenStrings has ${g.tokenStrings.length} entries, inputTokens ${layout.nPos}`);
  }
  for (const f of g.features) {
    if (f.layer < 0 || f.layer >= g.nLayers || f.position < 0 || f.position >= layout.nPos) {
      throw new Error(
        `feature ${f.layer}_${f.featureIndex}_${f.position} is outside ${g.nLayers} layers × ${layout.nPos} positions`,
      );
    }
  }
  return layout;
}
