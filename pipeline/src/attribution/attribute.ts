// attribute(): the attribution graph of a prompt under a CLT (Ameisen et al. 2025; circuit-tracer).
//  1. clean run (BOS prepended; position 0 excluded from feature/error nodes), CLT features from
//     hook_resid_mid, errors = hook_mlp_out − reconstruction (incl. b_dec);
//  2. logit nodes: the top tokens covering 95 % of the probability (at most 10), each targeting the
//     demeaned unembedding column through the frozen ln_final; or custom targets;
//  3. edge rows by batched backward passes (engine.ts): logit rows first; then, if there are more
//     active features than maxFeatureNodes, feature rows in order of estimated influence (re-estimated
//     from the partial matrix every updateInterval batches), else all of them;
//  4. additivity check: for every computed row, Σ edges + constant terms (biases, positional
//     embeddings, b_dec, position 0 — from a frozen forward with the node inputs removed) equals
//     the target's pre-activation / logit value; the largest residual is reported.

import { gemm, softmax64 } from "../backend/index.ts";
import {
  type AttributionGraph,
  denseAdjacency,
  type FeatureNode,
  type GenerationSettings,
  type LogitNode,
} from "../graph/index.ts";
import type { GPT2 } from "../model/index.ts";
import { BOS_ID, decodeToken, encode } from "../tokenizer/index.ts";
import { type CltLike, encoderRow } from "./clt.ts";
import { buildContext, type PromptContext } from "./context.ts";
import {
  buildSourceLayout,
  computeRows,
  featureInjection,
  linearWeights,
  type SourceLayout,
  type Target,
} from "./engine.ts";
import { constantMlpOut, frozenRun } from "./frozen.ts";

export interface CustomTarget {
  /** Label shown on the logit node. */
  label: string;
  /** Coefficients over GPT-2 token ids: the target is Σ c_v · logit_v (e.g. {a: 1, b: −1}). */
  coefficients: Record<number, number>;
  /** Weight in the influence computation (default: 1 / number of custom targets). */
  weight?: number;
  /** Node id token (default: a virtual id vocabSize + k, as circuit-tracer does). */
  tokenId?: number;
}

export interface AttributeOptions {
  maxFeatureNodes?: number;
  batchSize?: number;
  updateInterval?: number;
  desiredLogitProb?: number;
  maxLogits?: number;
  targets?: CustomTarget[];
  scan?: string;
  modelName?: string;
  checkAdditivity?: boolean;
  onProgress?: (message: string) => void;
}

/** The options' attribution settings with their defaults (as circuit-tracer's). */
export function generationSettings(o: AttributeOptions): GenerationSettings {
  return {
    maxFeatureNodes: o.maxFeatureNodes ?? 7500,
    batchSize: o.batchSize ?? 64,
    desiredLogitProb: o.desiredLogitProb ?? 0.95,
    maxLogits: o.maxLogits ?? 10,
  };
}

export interface AdditivityReport {
  /** max_t |Σ_s A[t,s] + const_t − value_t| over feature rows / logit rows. */
  maxFeatureResidual: number;
  maxLogitResidual: number;
  /** Same, divided by Σ_s |A[t,s]| + |const_t| of the row. */
  maxRelativeResidual: number;
  rows: number;
}

export interface AttributionResult {
  graph: AttributionGraph;
  context: PromptContext;
  additivity: AdditivityReport | null;
  stats: {
    nPositions: number;
    nActiveFeatures: number;
    nSelectedFeatures: number;
    nLogits: number;
    timings: Record<string, number>;
  };
}

interface LogitTargetInternal {
  node: LogitNode;
  /** Gradient at the final residual stream. */
  injection: Float32Array;
  /** Clean value of the target (c · logits). */
  value: number;
  /** Coefficients over model ids. */
  coeffs: Map<number, number>;
}

/** Direction u in ln_final-output space of c·logits, and the injection through frozen ln_final. */
export function logitTarget(
  ctx: PromptContext,
  coeffs: Map<number, number>,
): { u: Float32Array; injection: Float32Array } {
  const { d, T } = ctx;
  const w = linearWeights(ctx);
  const u = new Float64Array(d);
  for (const [v, c] of coeffs) {
    if (c === 0) continue;
    for (let r = 0; r < d; r++) u[r]! += c * w.unembed[v * d + r]!;
  }
  const gamma = w.gammaF;
  const sigma = ctx.lnfScale[T - 1]!;
  let mean = 0;
  for (let r = 0; r < d; r++) mean += gamma[r]! * u[r]!;
  mean /= d;
  const injection = new Float32Array(d);
  for (let r = 0; r < d; r++) injection[r] = (gamma[r]! * u[r]! - mean) / sigma;
  return { u: Float32Array.from(u), injection };
}

function demeanedCoeffs(V: number, v: number): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < V; i++) m.set(i, -1 / V);
  m.set(v, 1 - 1 / V);
  return m;
}

function logitTargets(ctx: PromptContext, o: AttributeOptions): LogitTargetInternal[] {
  const V = ctx.model.config.vocabSize;
  const value = (coeffs: Map<number, number>) => {
    let s = 0;
    for (const [v, c] of coeffs) s += c * ctx.lastLogits[v]!;
    return s;
  };
  if (o.targets?.length) {
    return o.targets.map((t, k) => {
      const coeffs = new Map<number, number>();
      for (const [g, c] of Object.entries(t.coefficients)) {
        coeffs.set(ctx.model.toModelIds([Number(g)])[0]!, c);
      }
      const { u, injection } = logitTarget(ctx, coeffs);
      return {
        node: {
          tokenId: t.tokenId ?? 50257 + k,
          token: t.label,
          probability: t.weight ?? 1 / o.targets!.length,
          target: u,
        },
        injection,
        value: value(coeffs),
        coeffs,
      };
    });
  }
  const probs = softmax64(ctx.lastLogits);
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]!);
  const { desiredLogitProb: want, maxLogits: maxN } = generationSettings(o);
  const chosen: number[] = [];
  let cum = 0;
  for (const v of order) {
    chosen.push(v);
    cum += probs[v]!;
    if (cum >= want || chosen.length >= maxN) break;
  }
  return chosen.map((v) => {
    const coeffs = demeanedCoeffs(V, v);
    const { u, injection } = logitTarget(ctx, coeffs);
    const gpt2 = ctx.model.toGpt2Ids([v])[0]!;
    return {
      node: { tokenId: gpt2, token: decodeToken(gpt2), probability: probs[v]!, target: u },
      injection,
      value: value(coeffs),
      coeffs,
    };
  });
}

/**
 * Influence of every source column, estimated from the rows computed so far (power iteration, as
 * circuit-tracer's compute_partial_influences): `absNorm` holds |row| / Σ|row| of every computed row.
 */
function partialInfluence(
  absNorm: Float32Array,
  rowNodes: readonly number[],
  nCols: number,
  logitWeights: readonly number[],
): Float64Array {
  const R = rowNodes.length;
  const nodeRow = new Map<number, number>();
  rowNodes.forEach((node, r) => {
    nodeRow.set(node, r);
  });
  const total = new Float64Array(nCols);
  // prod over rows: the current term of the series at each row's node.
  let prod = new Float32Array(R);
  logitWeights.forEach((w, k) => {
    const r = nodeRow.get(nCols + k);
    if (r !== undefined) prod[r] = w;
  });
  const next = new Float32Array(nCols);
  for (let iter = 0; iter < 128; iter++) {
    gemm(false, false, 1, nCols, R, 1, prod, R, absNorm, nCols, 0, next, nCols);
    let any = false;
    const nextProd = new Float32Array(R);
    for (let c = 0; c < nCols; c++) {
      const v = next[c]!;
      if (v === 0) continue;
      any = true;
      total[c]! += v;
      const r = nodeRow.get(c);
      if (r !== undefined) nextProd[r] = v;
    }
    if (!any) break;
    prod = nextProd;
  }
  return total;
}

export async function attribute(
  model: GPT2,
  clt: CltLike,
  input: string | readonly number[],
  options: AttributeOptions = {},
): Promise<AttributionResult> {
  const timings: Record<string, number> = {};
  const progress = options.onProgress ?? (() => {});
  let t0 = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timings[name] = (now - t0) / 1000;
    t0 = now;
  };
  const gpt2Ids = typeof input === "string" ? [BOS_ID, ...encode(input)] : [...input];
  if (gpt2Ids[0] !== BOS_ID) gpt2Ids.unshift(BOS_ID);
  const prompt = typeof input === "string" ? input : gpt2Ids.slice(1).map(decodeToken).join("");
  const ctx = await buildContext(model, clt, model.toModelIds(gpt2Ids));
  const { T, L } = ctx;
  lap("forward");
  const src = buildSourceLayout(ctx);
  const nCols = src.nCols;
  const logits = logitTargets(ctx, options);
  progress(`${T} positions, ${src.nFeatures} active features, ${logits.length} logit targets`);
  lap("setup");

  const { maxFeatureNodes, batchSize } = generationSettings(options);
  const nSelect = Math.min(maxFeatureNodes, src.nFeatures);
  // Row storage: logit rows first, then feature rows in computation order.
  const rows = new Float32Array((logits.length + nSelect) * nCols);
  const rowNodes: number[] = logits.map((_, k) => nCols + k);
  const logitRows: Target[] = logits.map((l) => ({ layer: L, position: T - 1, vector: l.injection }));
  computeRows(ctx, src, logitRows, rows, batchSize);
  const adaptive = nSelect < src.nFeatures;
  // |row| / Σ|row| of computed rows, for the influence estimates of the adaptive order.
  const absNorm = adaptive ? new Float32Array(rows.length) : new Float32Array(0);
  const normalizeRows = (from: number, to: number) => {
    if (!adaptive) return;
    for (let r = from; r < to; r++) {
      let sum = 0;
      for (let c = 0; c < nCols; c++) sum += Math.abs(rows[r * nCols + c]!);
      const inv = 1 / Math.max(sum, 1e-8);
      for (let c = 0; c < nCols; c++) absNorm[r * nCols + c] = Math.abs(rows[r * nCols + c]!) * inv;
    }
  };
  normalizeRows(0, logits.length);
  lap("logit rows");

  const featureTarget = (i: number): Target => {
    const f = src.features[i]!;
    return { layer: f.layer, position: f.position, vector: featureInjection(ctx, f) };
  };
  const byPosLayer = (a: number, b: number) =>
    src.features[a]!.position - src.features[b]!.position || src.features[a]!.layer - src.features[b]!.layer;
  const visited = new Uint8Array(src.nFeatures);
  let done = 0;
  const runChunk = (chunk: number[]) => {
    chunk.sort(byPosLayer);
    const targets = chunk.map(featureTarget);
    const offset = rowNodes.length * nCols;
    computeRows(ctx, src, targets, rows.subarray(offset, offset + chunk.length * nCols), batchSize);
    normalizeRows(rowNodes.length, rowNodes.length + chunk.length);
    for (const i of chunk) {
      rowNodes.push(i);
      visited[i] = 1;
    }
    done += chunk.length;
    progress(`feature rows: ${done}/${nSelect}`);
  };
  if (nSelect === src.nFeatures) {
    const all = Array.from({ length: src.nFeatures }, (_, i) => i);
    const step = batchSize * (options.updateInterval ?? 4);
    for (let s = 0; s < all.length; s += step) runChunk(all.slice(s, s + step));
  } else {
    const step = batchSize * (options.updateInterval ?? 4);
    while (done < nSelect) {
      const inf = partialInfluence(
        rows,
        rowNodes,
        nCols,
        logits.map((l) => l.node.probability),
      );
      const candidates: number[] = [];
      for (let i = 0; i < src.nFeatures; i++) if (!visited[i]) candidates.push(i);
      candidates.sort((a, b) => inf[b]! - inf[a]! || a - b);
      runChunk(candidates.slice(0, Math.min(step, nSelect - done)));
    }
  }
  lap("feature rows");

  const additivity = options.checkAdditivity === false ? null : await checkAdditivity(ctx, src, rows, rowNodes, logits);
  lap("additivity");

  const graph = assembleGraph(ctx, src, rows, rowNodes, logits, prompt, options);
  lap("assemble");
  return {
    graph,
    context: ctx,
    additivity,
    stats: {
      nPositions: T,
      nActiveFeatures: src.nFeatures,
      nSelectedFeatures: nSelect,
      nLogits: logits.length,
      timings,
    },
  };
}

async function checkAdditivity(
  ctx: PromptContext,
  src: SourceLayout,
  rows: Float32Array,
  rowNodes: readonly number[],
  logits: readonly LogitTargetInternal[],
): Promise<AdditivityReport> {
  const { T, d } = ctx;
  const nCols = src.nCols;
  const cons = await frozenRun(ctx, { embed: new Float32Array(T * d), mlpOut: constantMlpOut(ctx), residMid: true });
  let maxF = 0;
  let maxL = 0;
  let maxRel = 0;
  rowNodes.forEach((node, r) => {
    let sum = 0;
    let abs = 0;
    for (let c = 0; c < nCols; c++) {
      const v = rows[r * nCols + c]!;
      sum += v;
      abs += Math.abs(v);
    }
    let constant: number;
    let value: number;
    if (node >= nCols) {
      const lt = logits[node - nCols]!;
      constant = 0;
      for (const [v, c] of lt.coeffs) constant += c * cons.lastLogits[v]!;
      value = lt.value;
    } else {
      const f = src.features[node]!;
      const enc = encoderRow(ctx.clt, f.layer, f.featureIndex);
      const x = cons.residMid![f.layer]!;
      constant = ctx.clt.bEnc[f.layer]![f.featureIndex]!;
      for (let k = 0; k < d; k++) constant += enc[k]! * x[f.position * d + k]!;
      value = f.activation;
    }
    const res = Math.abs(sum + constant - value);
    if (node >= nCols) maxL = Math.max(maxL, res);
    else maxF = Math.max(maxF, res);
    maxRel = Math.max(maxRel, res / (abs + Math.abs(constant) + 1e-12));
  });
  return { maxFeatureResidual: maxF, maxLogitResidual: maxL, maxRelativeResidual: maxRel, rows: rowNodes.length };
}

function assembleGraph(
  ctx: PromptContext,
  src: SourceLayout,
  rows: Float32Array,
  rowNodes: readonly number[],
  logits: readonly LogitTargetInternal[],
  prompt: string,
  o: AttributeOptions,
): AttributionGraph {
  const { T, L } = ctx;
  const nCols = src.nCols;
  const selected = rowNodes.filter((n) => n < nCols);
  selected.sort((a, b) => {
    const fa = src.features[a]!;
    const fb = src.features[b]!;
    return fa.layer - fb.layer || fa.position - fb.position || fa.featureIndex - fb.featureIndex;
  });
  const nSel = selected.length;
  const graphCol = new Int32Array(nCols).fill(-1);
  selected.forEach((c, i) => {
    graphCol[c] = i;
  });
  for (let c = src.nFeatures; c < nCols; c++) graphCol[c] = c - src.nFeatures + nSel;
  const n = nSel + L * T + T + logits.length;
  const adj = denseAdjacency(n);
  rowNodes.forEach((node, r) => {
    const target = node >= nCols ? nSel + L * T + T + (node - nCols) : graphCol[node]!;
    const off = r * nCols;
    const dst = target * n;
    for (let c = 0; c < nCols; c++) {
      const g = graphCol[c]!;
      if (g >= 0) adj.data[dst + g] = rows[off + c]!;
    }
  });
  const features: FeatureNode[] = selected.map((c) => {
    const f = src.features[c]!;
    return { layer: f.layer, position: f.position, featureIndex: f.featureIndex, activation: f.activation };
  });
  const graph: AttributionGraph = {
    prompt,
    inputTokens: ctx.gpt2Ids,
    tokenStrings: ctx.gpt2Ids.map(decodeToken),
    nLayers: L,
    features,
    logits: logits.map((l) => l.node),
    adjacency: adj,
    settings: generationSettings(o),
  };
  if (o.scan !== undefined) graph.scan = o.scan;
  if (o.modelName !== undefined) graph.model = o.modelName;
  return graph;
}
