// Pipeline outputs → atlas rows: a CLT run dir (config.json + eval.json) → Model + Transcoder,
// a circuit-tracer graph JSON (+ its .graph.safetensors side file and .validation.json) → a
// GraphInput, a greater-than study's greater-than.json → a StudyInput. Pure file reading; the
// writes are in @circuit-atlas/db.
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import {
  type FeatureExamples,
  type FeatureRow,
  type GraphInput,
  type GraphNodeRow,
  type LabelInput,
  type ModelRow,
  qualifiedFeatureId,
  type StudyInput,
  studyId,
  type TranscoderRow,
} from "@circuit-atlas/db";
import { z } from "zod";
import type { FeatureExample, FeatureStats, LabelRecord } from "../features/formats.ts";
import {
  type CircuitTracerGraph,
  FEATURE_TYPES,
  GRAPH_BINARY_FORMAT,
  type GraphJson,
  parseCircuitTracerJson,
} from "../graph/index.ts";

/** Turns a directory or file name into an atlas key (letters, digits, . _ + -). */
export function atlasKey(name: string): string {
  const k = name.replace(/[^A-Za-z0-9._+-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  if (!k) throw new Error(`"${name}" gives an empty atlas id`);
  return k;
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new Error(`${what} ${path} cannot be read`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`${where}: ${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  return r.data;
}

// ── CLT run dir ─────────────────────────────────────────────────────────────────────────────────

const RunConfig = z.looseObject({
  kind: z.literal("clt"),
  shape: z.object({ nLayers: z.number().int(), dModel: z.number().int(), nFeatures: z.number().int() }),
  featureInputHook: z.string(),
  featureOutputHook: z.string(),
  model: z.string().nullable().optional(),
  modelName: z.string().nullable().optional(),
  modelAbsolute: z.string().nullable().optional(),
  train: z.unknown().optional(),
});

const EvalJson = z.looseObject({
  fvu: z.object({ mean: z.number() }).optional(),
  l0: z.object({ total: z.number() }).optional(),
  dead_fraction: z.object({ mean: z.number() }).optional(),
  replacement: z.object({ top1_agreement: z.number() }).optional(),
});

const HfConfig = z.looseObject({
  n_layer: z.number().int(),
  n_embd: z.number().int(),
  n_head: z.number().int().optional(),
  n_inner: z.number().int().nullable().optional(),
  n_ctx: z.number().int().optional(),
  n_positions: z.number().int().optional(),
  vocab_size: z.number().int().optional(),
});

export function isCltRunDir(dir: string): boolean {
  const p = join(dir, "config.json");
  if (!existsSync(p)) return false;
  try {
    return (JSON.parse(readFileSync(p, "utf8")) as { kind?: unknown }).kind === "clt";
  } catch {
    return false;
  }
}

export interface TranscoderSource {
  model: ModelRow;
  transcoder: TranscoderRow;
  dir: string;
}

/** Model + Transcoder rows of a CLT run directory. The transcoder id is the directory's name. */
export function readCltRun(dir: string): TranscoderSource {
  const abs = resolve(dir);
  const cfgPath = join(abs, "config.json");
  const cfg = parseWith(RunConfig, readJson(cfgPath, "CLT run config"), cfgPath);
  const evalPath = join(abs, "eval.json");
  const ev = existsSync(evalPath) ? parseWith(EvalJson, readJson(evalPath, "CLT eval"), evalPath) : undefined;
  const modelDir =
    cfg.modelAbsolute && existsSync(cfg.modelAbsolute)
      ? cfg.modelAbsolute
      : cfg.model
        ? resolve(abs, cfg.model)
        : undefined;
  const modelName = cfg.modelName ?? (modelDir ? basename(modelDir) : "unknown-model");
  const modelId = atlasKey(modelName);
  let model: ModelRow = { id: modelId, name: modelName, nLayers: cfg.shape.nLayers, dModel: cfg.shape.dModel };
  const hfPath = modelDir ? join(modelDir, "config.json") : undefined;
  if (hfPath && existsSync(hfPath)) {
    const hf = parseWith(HfConfig, readJson(hfPath, "model config"), hfPath);
    model = {
      id: modelId,
      name: modelName,
      nLayers: hf.n_layer,
      dModel: hf.n_embd,
      ...(hf.n_head ? { nHeads: hf.n_head } : {}),
      dMlp: hf.n_inner ?? 4 * hf.n_embd,
      ...((hf.n_ctx ?? hf.n_positions) ? { nCtx: (hf.n_ctx ?? hf.n_positions)! } : {}),
      ...(hf.vocab_size ? { vocabSize: hf.vocab_size } : {}),
      source: modelDir!,
    };
  }
  const transcoder: TranscoderRow = {
    id: atlasKey(basename(abs)),
    modelId,
    kind: "clt",
    nLayers: cfg.shape.nLayers,
    dModel: cfg.shape.dModel,
    nFeatures: cfg.shape.nFeatures,
    featureInputHook: cfg.featureInputHook,
    featureOutputHook: cfg.featureOutputHook,
    runDir: abs,
    ...(cfg.train !== undefined ? { trainConfig: JSON.stringify(cfg.train) } : {}),
    ...(ev
      ? {
          evalMetrics: readFileSync(evalPath, "utf8"),
          ...(ev.fvu ? { fvuMean: ev.fvu.mean } : {}),
          ...(ev.l0 ? { l0Total: ev.l0.total } : {}),
          ...(ev.dead_fraction ? { deadFraction: ev.dead_fraction.mean } : {}),
          ...(ev.replacement ? { top1Agreement: ev.replacement.top1_agreement } : {}),
        }
      : {}),
  };
  return { model, transcoder, dir: abs };
}

// ── Graphs ──────────────────────────────────────────────────────────────────────────────────────

const ValidationReport = z.object({
  target: z.string(),
  entries: z.array(
    z.object({ nodeId: z.string(), influence: z.number(), predicted: z.number(), measured: z.number() }),
  ),
  spearman: z.number(),
});
const ValidationFile = z.object({ live: ValidationReport, frozen: ValidationReport.optional() });

const AtlasMeta = z.looseObject({
  model: z.string().optional(),
  clt: z.string().optional(),
  edge_threshold: z.number().optional(),
  max_feature_nodes: z.number().int().optional(),
  scores: z
    .object({
      unpruned: z.object({ replacement: z.number(), completeness: z.number() }),
      pruned: z.object({ replacement: z.number(), completeness: z.number() }),
    })
    .optional(),
  side_file: z.string().optional(),
});

/** The header (__metadata__) of a .graph.safetensors side file, without reading its tensors. */
export function readSideFileMetadata(path: string): Record<string, string> {
  const fd = openSync(path, "r");
  try {
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) !== 8) throw new Error(`${path}: too short for a graph side file`);
    const n = Number(len.readBigUInt64LE(0));
    if (n > 100_000_000 || 8 + n > statSync(path).size) throw new Error(`${path}: bad header length ${n}`);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 8);
    const header = JSON.parse(buf.toString("utf8")) as { __metadata__?: Record<string, string> };
    const meta = header.__metadata__ ?? {};
    if (meta.format !== GRAPH_BINARY_FORMAT) throw new Error(`${path}: not a ${GRAPH_BINARY_FORMAT} file`);
    return meta;
  } finally {
    closeSync(fd);
  }
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

export interface GraphSource {
  input: GraphInput;
  /** Validation entries whose node is not in the pruned graph (not stored). */
  unmatchedValidation: number;
}

const NODE_KIND: Record<string, GraphNodeRow["kind"]> = {
  [FEATURE_TYPES.feature]: "feature",
  [FEATURE_TYPES.error]: "error",
  [FEATURE_TYPES.embedding]: "embedding",
  [FEATURE_TYPES.logit]: "logit",
};

export interface GraphExtras {
  /** Decoded logit tokens (side file metadata), by logit rank. */
  logitLabels?: string[];
  validation?: z.infer<typeof ValidationFile>;
  side?: { path: string; sha256: string };
  contentHash: string;
  createdAt?: string;
}

/**
 * A graph JSON written by `atlas trace` (or circuit-tracer) as a GraphInput for `transcoderId`
 * (default: the graph's scan). Reads `<name>.validation.json` and the side file header when present.
 */
export function readGraphFile(path: string, opts: { transcoderId?: string } = {}): GraphSource {
  const text = readFileSync(path, "utf8");
  const g = parseCircuitTracerJson(text, path);
  const atlas = parseWith(AtlasMeta, (g.metadata as { atlas?: unknown }).atlas ?? {}, `${path}: metadata.atlas`);
  const hash = createHash("sha256").update(text);
  const sidePath = join(dirname(path), atlas.side_file ?? basename(path).replace(/\.json$/, ".graph.safetensors"));
  const side = existsSync(sidePath) ? readSideFileMetadata(sidePath) : undefined;
  const vPath = path.replace(/\.json$/, ".validation.json");
  const validation = existsSync(vPath)
    ? parseWith(ValidationFile, readJson(vPath, "graph validation"), vPath)
    : undefined;
  if (validation) hash.update(readFileSync(vPath));
  return graphInputFromJson(g, {
    ...opts,
    where: path,
    extras: {
      ...(side?.logit_labels ? { logitLabels: JSON.parse(side.logit_labels) as string[] } : {}),
      ...(validation ? { validation } : {}),
      ...(side ? { side: { path: resolve(sidePath), sha256: sha256File(sidePath) } } : {}),
      contentHash: hash.digest("hex"),
      createdAt: statSync(path).mtime.toISOString(),
    },
  });
}

/** A parsed circuit-tracer graph as a GraphInput (see `readGraphFile`). */
export function graphInputFromJson(
  g: GraphJson | CircuitTracerGraph,
  o: { transcoderId?: string; where?: string; extras: GraphExtras },
): GraphSource {
  const where = o.where ?? "graph";
  const atlas = parseWith(AtlasMeta, (g.metadata as { atlas?: unknown }).atlas ?? {}, `${where}: metadata.atlas`);
  const transcoderId = o.transcoderId ?? atlasKey(g.metadata.scan);
  const graphId = atlasKey(g.metadata.slug);
  const { validation } = o.extras;
  const logitLabels = o.extras.logitLabels ?? [];
  const inputTokens: number[] = [];
  let logitRank = 0;
  let nLayers = Number.NaN;
  for (const n of g.nodes) {
    if (n.feature_type === FEATURE_TYPES.logit) {
      nLayers = Number(n.layer) - 1;
      break;
    }
  }
  const nodes: GraphInput["nodes"] = g.nodes.map((n) => {
    const kind = NODE_KIND[n.feature_type];
    if (!kind) throw new Error(`${where}: node ${n.node_id} has an unknown feature_type "${n.feature_type}"`);
    const parts = n.node_id.split("_");
    const base = {
      nodeId: n.node_id,
      kind,
      position: n.ctx_idx,
      ...(n.influence != null && Number.isFinite(n.influence) ? { influence: n.influence } : {}),
      ...(n.activation != null && Number.isFinite(n.activation) ? { activation: n.activation } : {}),
    };
    switch (kind) {
      case "feature": {
        const layer = Number(parts[0]);
        const featureIndex = Number(parts[1]);
        return { ...base, layer, featureIndex, featureId: qualifiedFeatureId(transcoderId, layer, featureIndex) };
      }
      case "error":
        return { ...base, layer: Number(parts[0]) };
      case "embedding": {
        const tokenId = Number(parts[1]);
        inputTokens[n.ctx_idx] = tokenId;
        return { ...base, layer: -1, tokenId, token: g.metadata.prompt_tokens[n.ctx_idx] ?? "" };
      }
      default: {
        // Neuronpedia allows a null feature: the vocab id is also in the node id {layer}_{vocab}_{pos}
        const tokenId = n.feature ?? Number(parts[1]);
        const fromClerp = /^Output "(.*)" \(p=/.exec(n.clerp ?? "")?.[1];
        return {
          ...base,
          layer: nLayers,
          tokenId,
          token: logitLabels[logitRank++] ?? fromClerp ?? String(tokenId),
          probability: n.token_prob ?? 0,
          isTarget: n.is_target_logit ?? false,
        };
      }
    }
  });
  const index = new Map(g.nodes.map((n, i) => [n.node_id, i]));
  const edges = g.links.map((l) => ({ source: index.get(l.source)!, target: index.get(l.target)!, weight: l.weight }));

  let unmatched = 0;
  if (validation) {
    const frozen = new Map((validation.frozen?.entries ?? []).map((e) => [e.nodeId, e]));
    for (const e of validation.live.entries) {
      const i = index.get(e.nodeId);
      if (i === undefined) {
        unmatched++;
        continue;
      }
      const node = nodes[i]!;
      node.ablationPredicted = e.predicted;
      node.ablationMeasuredLive = e.measured;
      const f = frozen.get(e.nodeId);
      if (f) node.ablationMeasuredFrozen = f.measured;
    }
  }
  const targets = nodes
    .filter((n) => n.kind === "logit")
    .map((n) => ({ tokenId: n.tokenId!, token: n.token!, probability: n.probability! }));
  const edgeThreshold = g.metadata.pruning_settings?.edge_threshold ?? atlas.edge_threshold;
  const maxFeatureNodes = g.metadata.generation_settings?.max_feature_nodes ?? atlas.max_feature_nodes;
  const input: GraphInput = {
    graph: {
      id: graphId,
      transcoderId,
      ...(atlas.model ? { modelId: atlasKey(basename(atlas.model)) } : {}),
      prompt: g.metadata.prompt,
      tokens: g.metadata.prompt_tokens,
      inputTokens: g.metadata.prompt_tokens.map((_, p) => inputTokens[p] ?? -1),
      targetLogits: JSON.stringify(targets),
      ...(g.metadata.node_threshold != null ? { nodeThreshold: g.metadata.node_threshold } : {}),
      // Neuronpedia's standard fields; older atlas graphs kept them under metadata.atlas
      ...(edgeThreshold !== undefined ? { edgeThreshold } : {}),
      ...(maxFeatureNodes !== undefined ? { maxFeatureNodes } : {}),
      ...(atlas.scores
        ? {
            replacementScore: atlas.scores.unpruned.replacement,
            completenessScore: atlas.scores.unpruned.completeness,
            prunedReplacementScore: atlas.scores.pruned.replacement,
            prunedCompletenessScore: atlas.scores.pruned.completeness,
          }
        : {}),
      ...(o.extras.side ? { sideFile: o.extras.side.path, sideFileSha256: o.extras.side.sha256 } : {}),
      contentHash: o.extras.contentHash,
      ...(o.extras.createdAt ? { createdAt: o.extras.createdAt } : {}),
      ...(validation
        ? {
            validationTarget: validation.live.target,
            validationSpearmanLive: validation.live.spearman,
            ...(validation.frozen ? { validationSpearmanFrozen: validation.frozen.spearman } : {}),
          }
        : {}),
    },
    nodes,
    edges,
  };
  return { input, unmatchedValidation: unmatched };
}

// ── Greater-than study ──────────────────────────────────────────────────────────────────────────

const StudyJson = z.looseObject({
  model: z.string(),
  clt: z.string(),
  dataset: z.unknown(),
  metrics: z.unknown(),
  graphs: z.object({ n: z.number().int(), meanReplacementScore: z.number(), meanCompletenessScore: z.number() }),
  features: z.array(
    z.looseObject({
      featureId: z.string(),
      layer: z.number().int(),
      featureIndex: z.number().int(),
      influence: z.number(),
      graphsActive: z.number().int(),
      types: z.array(z.string()),
      descriptors: z.unknown(),
      image: z.string().optional(),
      heatmap: z.array(z.array(z.number()).nullable()),
      activationProfile: z.array(z.number().nullable()),
    }),
  ),
  verdict: z.looseObject({ verdict: z.string() }),
});

export function readGreaterThanStudy(path: string, opts: { transcoderId?: string } = {}): StudyInput {
  const s = parseWith(StudyJson, readJson(path, "greater-than study"), path);
  const transcoderId = opts.transcoderId ?? atlasKey(s.clt);
  return {
    study: {
      id: studyId(transcoderId, "greater-than"),
      transcoderId,
      kind: "greater-than",
      metrics: JSON.stringify(s.metrics),
      dataset: JSON.stringify(s.dataset),
      graphs: s.graphs.n,
      meanReplacementScore: s.graphs.meanReplacementScore,
      meanCompletenessScore: s.graphs.meanCompletenessScore,
      verdict: s.verdict.verdict,
    },
    features: s.features.map((f, rank) => {
      const rows: number[] = [];
      const cells: number[] = [];
      const profile: number[] = [];
      f.heatmap.forEach((row, yy) => {
        if (row === null) return;
        rows.push(yy);
        cells.push(...row);
        profile.push(f.activationProfile[yy] ?? 0);
      });
      return {
        featureId: qualifiedFeatureId(transcoderId, f.layer, f.featureIndex),
        rank,
        influence: f.influence,
        graphsActive: f.graphsActive,
        types: f.types,
        descriptors: JSON.stringify(f.descriptors),
        heatmapRows: rows,
        heatmap: cells,
        activationProfile: profile,
        ...(f.image ? { image: join(dirname(resolve(path)), f.image) } : {}),
      };
    }),
  };
}

// ── Run dir discovery ───────────────────────────────────────────────────────────────────────────

export interface RunDirContents {
  cltDir?: string;
  graphs: string[];
  studies: string[];
}

/**
 * What `atlas ingest RUN_DIR` finds: RUN_DIR itself when it is a CLT run; graph JSONs (`*.json`
 * with a `.graph.safetensors` sibling or circuit-tracer content) and `greater-than.json` studies
 * in RUN_DIR and its subdirectories (two levels).
 */
export function scanRunDir(dir: string): RunDirContents {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`RUN_DIR ${dir} is not a directory`);
  const out: RunDirContents = { graphs: [], studies: [] };
  if (isCltRunDir(dir)) out.cltDir = resolve(dir);
  const walk = (d: string, depth: number) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        if (depth < 2 && name !== "checkpoint" && name !== "node_modules") walk(p, depth + 1);
        continue;
      }
      if (name === "greater-than.json") out.studies.push(p);
      else if (
        name.endsWith(".json") &&
        !name.endsWith(".validation.json") &&
        existsSync(p.replace(/\.json$/, ".graph.safetensors"))
      ) {
        out.graphs.push(p);
      }
    }
  };
  walk(dir, 0);
  return out;
}

// ── Feature statistics and labels (pipeline/src/features/formats.ts) ────────────────────────────

function compactExample(e: FeatureExample): FeatureExamples["top"][number] {
  const acts: [number, number][] = [];
  e.acts.forEach((a, i) => {
    if (a !== 0) acts.push([i, a]);
  });
  return { id: e.id, tokens: e.tokens, acts, maxIndex: e.maxIndex, maxActivation: e.maxActivation };
}

/** One FeatureStats line as a Feature row (examples compacted to their nonzero activations). */
export function featureRowFromStats(transcoderId: string, f: FeatureStats): FeatureRow {
  const examples: FeatureExamples = {
    top: f.topExamples.map(compactExample),
    quantiles: f.quantiles.map((q) => ({
      quantileLow: q.quantileLow,
      quantileHigh: q.quantileHigh,
      lower: q.lower,
      upper: q.upper,
      examples: q.examples.map(compactExample),
    })),
  };
  return {
    id: qualifiedFeatureId(transcoderId, f.layer, f.featureIndex),
    transcoderId,
    layer: f.layer,
    featureIndex: f.featureIndex,
    featureId: f.featureId,
    density: f.density,
    activeTokens: f.activeTokens,
    activeContexts: f.activeContexts,
    maxActivation: f.maxActivation,
    minActivation: f.minActivation,
    meanActivation: f.meanActivation,
    stdActivation: f.stdActivation,
    histogram: JSON.stringify(f.histogram),
    topLogits: JSON.stringify(f.logits.top),
    bottomLogits: JSON.stringify(f.logits.bottom),
    examples: JSON.stringify(examples),
  };
}

/** A LabelRecord as a Label row of `transcoderId`; `current` as decided by `currentLabels`. */
export function labelInputFromRecord(transcoderId: string, r: LabelRecord, current: boolean): LabelInput {
  const score = r.scores.length > 0 ? r.scores.reduce((s, x) => s + x.value, 0) / r.scores.length : undefined;
  return {
    id: r.id,
    featureId: qualifiedFeatureId(transcoderId, r.layer, r.featureIndex),
    text: r.label,
    ...(r.description ? { description: r.description } : {}),
    source: r.source,
    explainer: r.provenance.explainer.model,
    method: r.provenance.rule ?? r.provenance.explainer.promptVersion,
    ...(r.confidence !== null ? { confidence: r.confidence } : {}),
    ...(score !== undefined ? { score } : {}),
    scores: JSON.stringify(r.scores),
    provenance: JSON.stringify(r.provenance),
    ...(r.supersedes ? { supersedes: r.supersedes } : {}),
    createdAt: r.createdAt,
    current,
  };
}
