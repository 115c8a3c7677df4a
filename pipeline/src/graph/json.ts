// circuit-tracer / Neuronpedia graph JSON: {metadata, qParams, nodes, links}.
//  - The writer emits what circuit-tracer's viewer needs (its pydantic graph models): string layers,
//    integer features, every qParams field; plus Neuronpedia's optional metadata fields `info`,
//    `generation_settings` and `pruning_settings`. Only what has no standard field goes under
//    `metadata.atlas`. `circuitTracerGraphSchema` checks the writer's output.
//  - The reader accepts what Neuronpedia's graph schema accepts (qParams fields optional, layer a
//    string or an integer, feature null, clerp missing) and returns the writer's shape (layer as a
//    string, qParams and clerp filled with circuit-tracer's defaults).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { z } from "zod";
import { type AttributionGraph, graphLayout, nodeId, nodeInfo } from "./graph.ts";
import { writeFileAtomic } from "./io.ts";
import type { PruneResult } from "./prune.ts";

export const FEATURE_TYPES = {
  feature: "cross layer transcoder",
  error: "mlp reconstruction error",
  embedding: "embedding",
  logit: "logit",
} as const;

const NODE_ID_PATTERNS: Record<string, RegExp> = {
  [FEATURE_TYPES.feature]: /^\d+_\d+_\d+$/,
  [FEATURE_TYPES.error]: /^\d+_-1_\d+$/,
  [FEATURE_TYPES.embedding]: /^E_\d+_\d+$/,
  [FEATURE_TYPES.logit]: /^\d+_\d+_\d+$/,
};

/** Neuronpedia's optional metadata blocks (its graph schema; every field optional, extra keys allowed). */
const infoSchema = z.looseObject({
  description: z.string().optional(),
  creator_name: z.string().optional(),
  creator_url: z.string().optional(),
  source_urls: z.array(z.string()).optional(),
  generator: z
    .looseObject({
      name: z.string().optional(),
      version: z.string().optional(),
      url: z.string().optional(),
      email: z.string().optional(),
    })
    .optional(),
  create_time_ms: z.number().optional(),
});
const generationSettingsSchema = z.looseObject({
  max_n_logits: z.number().int().optional(),
  desired_logit_prob: z.number().optional(),
  batch_size: z.number().int().optional(),
  max_feature_nodes: z.number().int().optional(),
});
const pruningSettingsSchema = z.looseObject({
  node_threshold: z.number().optional(),
  edge_threshold: z.number().optional(),
});

export const ctMetadataSchema = z.looseObject({
  slug: z.string().min(1),
  scan: z.string(),
  transcoder_list: z.array(z.string()).optional(),
  prompt_tokens: z.array(z.string()),
  prompt: z.string(),
  node_threshold: z.number().min(0).max(1).nullable().optional(),
  schema_version: z.number().int().nullable().optional(),
  info: infoSchema.optional(),
  generation_settings: generationSettingsSchema.optional(),
  pruning_settings: pruningSettingsSchema.optional(),
});

export const ctQParamsSchema = z.looseObject({
  pinnedIds: z.array(z.string()),
  supernodes: z.array(z.array(z.string())),
  linkType: z.string(),
  clickedId: z.string(),
  sg_pos: z.string(),
});

export const ctNodeSchema = z.looseObject({
  node_id: z.string().min(1),
  feature: z.number().int(),
  layer: z.string(),
  ctx_idx: z.number().int().nonnegative(),
  feature_type: z.string(),
  token_prob: z.number().min(0).max(1).optional(),
  is_target_logit: z.boolean().optional(),
  run_idx: z.number().int().optional(),
  reverse_ctx_idx: z.number().int().optional(),
  jsNodeId: z.string(),
  clerp: z.string().optional(),
  influence: z.number().nullable().optional(),
  activation: z.number().nullable().optional(),
});

export const ctLinkSchema = z.looseObject({
  source: z.string(),
  target: z.string(),
  weight: z.number().refine(Number.isFinite, "weight must be finite"),
});

export const circuitTracerGraphSchema = z
  .object({
    metadata: ctMetadataSchema,
    qParams: ctQParamsSchema,
    nodes: z.array(ctNodeSchema),
    links: z.array(ctLinkSchema),
  })
  .superRefine((g, ctx) => checkNodesAndLinks(g, ctx));

/** Unique node ids that match their feature_type's pattern; links between existing nodes. */
function checkNodesAndLinks(
  g: { nodes: { node_id: string; feature_type: string }[]; links: { source: string; target: string }[] },
  ctx: z.RefinementCtx,
): void {
  const ids = new Set<string>();
  g.nodes.forEach((n, i) => {
    if (ids.has(n.node_id))
      ctx.addIssue({ code: "custom", message: `duplicate node_id ${n.node_id}`, path: ["nodes", i] });
    ids.add(n.node_id);
    const pattern = NODE_ID_PATTERNS[n.feature_type];
    if (pattern && !pattern.test(n.node_id)) {
      ctx.addIssue({
        code: "custom",
        message: `node_id ${n.node_id} does not match feature_type "${n.feature_type}"`,
        path: ["nodes", i, "node_id"],
      });
    }
  });
  g.links.forEach((l, i) => {
    for (const end of ["source", "target"] as const) {
      if (!ids.has(l[end])) {
        ctx.addIssue({ code: "custom", message: `link ${end} ${l[end]} is not a node`, path: ["links", i, end] });
      }
    }
  });
}

export type CircuitTracerGraph = z.infer<typeof circuitTracerGraphSchema>;
export type CircuitTracerNode = z.infer<typeof ctNodeSchema>;

// The reader: Neuronpedia's graph schema is the bound (required: metadata {slug, scan, prompt_tokens,
// prompt}, qParams, nodes {node_id, feature, layer, ctx_idx, feature_type, jsNodeId}, links {source,
// target, weight}); clerp may be missing as in circuit-tracer's model, which defaults it to "".
const readQParamsSchema = z.looseObject({
  pinnedIds: z.array(z.string()).default([]),
  supernodes: z.array(z.array(z.string())).default([]),
  linkType: z.string().default("both"),
  clickedId: z.string().default(""),
  sg_pos: z.string().default(""),
});

const readNodeSchema = ctNodeSchema.extend({
  feature: z.number().int().nullable(),
  layer: z.union([z.string(), z.number().int()]).transform(String),
  clerp: z.string().default(""),
});

export const graphJsonReadSchema = z
  .object({
    metadata: ctMetadataSchema.extend({ node_threshold: z.number().nullable().optional() }),
    qParams: readQParamsSchema,
    nodes: z.array(readNodeSchema),
    links: z.array(ctLinkSchema),
  })
  .superRefine((g, ctx) => checkNodesAndLinks(g, ctx));

/** A graph JSON as read: the writer's shape, except that a node's feature may be null. */
export type GraphJson = z.infer<typeof graphJsonReadSchema>;

export interface CircuitTracerExportOptions {
  slug: string;
  /** Defaults to graph.scan. */
  scan?: string;
  /** Labels by node_id (features get "" otherwise). */
  clerps?: Record<string, string>;
  pinnedIds?: string[];
  supernodes?: string[][];
  /** Neuronpedia's metadata.info (the generator is filled in). */
  info?: z.input<typeof infoSchema>;
  /** Edge threshold of the pruning (the node threshold comes with the prune result). */
  edgeThreshold?: number;
  /** Fields with no standard place, written under metadata.atlas (other readers ignore it). */
  atlas?: Record<string, unknown>;
}

/** metadata.info.generator of every graph we write: this package and its version. */
export const GRAPH_GENERATOR: { name: string; version: string } = {
  name: "circuit-atlas",
  version: (createRequire(import.meta.url)("../../package.json") as { version: string }).version,
};

/** Cantor pairing of (layer, feature index): circuit-tracer's numeric `feature` of a CLT node. */
export function cantorPair(x: number, y: number): number {
  return ((x + y) * (x + y + 1)) / 2 + y;
}

export function toCircuitTracerJson(
  g: AttributionGraph,
  prune: PruneResult,
  options: CircuitTracerExportOptions,
): CircuitTracerGraph {
  const layout = graphLayout(g);
  const scan = options.scan ?? g.scan;
  if (!scan) throw new Error("the graph has no scan (transcoder set id): pass one to the export");
  const linked = new Uint8Array(layout.size);
  for (let e = 0; e < prune.edgeTargets.length; e++) {
    linked[prune.edgeTargets[e]!] = 1;
    linked[prune.edgeSources[e]!] = 1;
  }
  const nodes: CircuitTracerNode[] = [];
  for (let i = 0; i < layout.size; i++) {
    const info = nodeInfo(g, i, layout);
    const keep = info.kind === "embedding" || info.kind === "logit" || (prune.nodeMask[i] === 1 && linked[i] === 1);
    if (!keep) continue;
    const id = nodeId(g, i, layout);
    const influence = prune.cumulativeInfluence[i]!;
    const common = { run_idx: 0, reverse_ctx_idx: 0, is_target_logit: false, token_prob: 0 };
    switch (info.kind) {
      case "feature":
        nodes.push({
          node_id: id,
          feature: cantorPair(info.layer, info.featureIndex),
          layer: String(info.layer),
          ctx_idx: info.position,
          feature_type: FEATURE_TYPES.feature,
          ...common,
          jsNodeId: `${info.layer}_${info.featureIndex}-0`,
          clerp: options.clerps?.[id] ?? "",
          influence,
          activation: info.activation,
        });
        break;
      case "error":
        nodes.push({
          node_id: id,
          feature: -1,
          layer: String(info.layer),
          ctx_idx: info.position,
          feature_type: FEATURE_TYPES.error,
          ...common,
          jsNodeId: `${info.layer}_-1-${info.position}`,
          clerp: options.clerps?.[id] ?? "",
          influence,
          activation: null,
        });
        break;
      case "embedding":
        nodes.push({
          node_id: id,
          feature: info.position,
          layer: "E",
          ctx_idx: info.position,
          feature_type: FEATURE_TYPES.embedding,
          ...common,
          jsNodeId: `E_${info.tokenId}-${info.position}`,
          clerp: options.clerps?.[id] ?? "",
          influence,
          activation: null,
        });
        break;
      case "logit":
        // circuit-tracer leaves logit influence empty: logits are the roots, not ranked.
        nodes.push({
          node_id: id,
          feature: info.tokenId,
          layer: String(layout.nLayers + 1),
          ctx_idx: info.position,
          feature_type: FEATURE_TYPES.logit,
          ...common,
          token_prob: Math.min(1, Math.max(0, info.probability)),
          is_target_logit: info.rank === 0,
          jsNodeId: `L_${info.tokenId}-${info.position}`,
          clerp: options.clerps?.[id] ?? `Output "${info.token}" (p=${info.probability.toFixed(3)})`,
          influence: null,
          activation: null,
        });
        break;
    }
  }
  const links = Array.from(prune.edgeTargets, (t, e) => ({
    source: nodeId(g, prune.edgeSources[e]!, layout),
    target: nodeId(g, t, layout),
    weight: prune.edgeWeights[e]!,
  }));
  const out: CircuitTracerGraph = {
    metadata: {
      slug: options.slug,
      scan,
      transcoder_list: [],
      prompt_tokens: g.tokenStrings,
      prompt: g.prompt,
      node_threshold: prune.nodeThreshold,
      schema_version: 1,
      info: { ...options.info, generator: { ...GRAPH_GENERATOR, ...options.info?.generator } },
      ...(g.settings
        ? {
            generation_settings: {
              max_n_logits: g.settings.maxLogits,
              desired_logit_prob: g.settings.desiredLogitProb,
              batch_size: g.settings.batchSize,
              max_feature_nodes: g.settings.maxFeatureNodes,
            },
          }
        : {}),
      pruning_settings: { node_threshold: prune.nodeThreshold, edge_threshold: prune.edgeThreshold },
      ...(options.atlas ? { atlas: options.atlas } : {}),
    },
    qParams: {
      pinnedIds: options.pinnedIds ?? [],
      supernodes: options.supernodes ?? [],
      linkType: "both",
      clickedId: "",
      sg_pos: "",
    },
    nodes,
    links,
  };
  return circuitTracerGraphSchema.parse(out);
}

/** Parses a circuit-tracer / Neuronpedia graph JSON (see the reader rules at the top). */
export function parseCircuitTracerJson(text: string, source = "graph JSON"): GraphJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source} is not valid JSON: ${(err as Error).message}`);
  }
  const r = graphJsonReadSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new Error(`${source} is not a circuit-tracer graph: ${first.path.join(".") || "(root)"}: ${first.message}`);
  }
  return r.data;
}

export function readCircuitTracerJson(path: string): GraphJson {
  return parseCircuitTracerJson(readFileSync(path, "utf8"), path);
}

export function writeCircuitTracerJson(path: string, graph: CircuitTracerGraph): void {
  writeFileAtomic(path, JSON.stringify(graph));
}
