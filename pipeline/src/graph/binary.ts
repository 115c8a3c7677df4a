// Compact binary side file with the full unpruned graph, for database ingest: a safetensors file
// (8-byte LE header length, JSON header, packed little-endian tensors) holding
//   adjacency F32 [n, n] (A[target, source], circuit-tracer's node order), input_tokens I32 [P],
//   features I32 [F, 3] (layer, position, featureIndex), activations F32 [F], logit_tokens I32 [K],
//   logit_probabilities F32 [K], optionally logit_targets F32 [K, d] and influence F32 [n];
// and in __metadata__ the prompt, decoded tokens, logit labels, layer count, scan and model.
import { writeFileAtomic } from "@circuit-atlas/util";
import { z } from "zod";
import { encodeSafetensors, readSafetensors, type TensorToWrite } from "../safetensors/index.ts";
import { toDense } from "./adjacency.ts";
import type { AttributionGraph, LogitNode } from "./graph.ts";
import { validateGraph } from "./graph.ts";

export const GRAPH_BINARY_FORMAT = "circuit-atlas-graph";

/** graph.json → graph.graph.safetensors (the side file published with the JSON as one unit). */
export function sideFilePath(jsonPath: string): string {
  return jsonPath.replace(/\.json$/, ".graph.safetensors");
}

/** graph.json → graph.validation.json (written with the unit by `trace --validate`). */
export function validationFilePath(jsonPath: string): string {
  return jsonPath.replace(/\.json$/, ".validation.json");
}

/** Every file of the unit `trace --out graph.json` publishes, the JSON (main file) first. */
export function traceUnitFiles(jsonPath: string): string[] {
  return [jsonPath, sideFilePath(jsonPath), validationFilePath(jsonPath)];
}

/** The side file's bytes (safetensors chunks), for `publishUnit` or `writeGraphBinary`. */
export function encodeGraphBinary(g: AttributionGraph, extra: { influence?: Float64Array } = {}): Uint8Array[] {
  const layout = validateGraph(g);
  const tensors = new Map<string, TensorToWrite>([
    ["adjacency", { dtype: "F32", shape: [layout.size, layout.size], data: toDense(g.adjacency).data }],
    ["input_tokens", { dtype: "I32", shape: [layout.nPos], data: Int32Array.from(g.inputTokens) }],
    [
      "features",
      {
        dtype: "I32",
        shape: [layout.nFeatures, 3],
        data: Int32Array.from(g.features.flatMap((f) => [f.layer, f.position, f.featureIndex])),
      },
    ],
    [
      "activations",
      { dtype: "F32", shape: [layout.nFeatures], data: Float32Array.from(g.features, (f) => f.activation) },
    ],
    ["logit_tokens", { dtype: "I32", shape: [layout.nLogits], data: Int32Array.from(g.logits, (l) => l.tokenId) }],
    [
      "logit_probabilities",
      { dtype: "F32", shape: [layout.nLogits], data: Float32Array.from(g.logits, (l) => l.probability) },
    ],
  ]);
  const targets = g.logits.map((l) => l.target);
  if (targets.length > 0 && targets.every((t) => t !== undefined)) {
    const d = targets[0]!.length;
    if (targets.some((t) => t!.length !== d)) throw new Error("logit target vectors differ in length");
    const data = new Float32Array(targets.length * d);
    for (const [k, t] of targets.entries()) data.set(t!, k * d);
    tensors.set("logit_targets", { dtype: "F32", shape: [targets.length, d], data });
  }
  if (extra.influence) {
    if (extra.influence.length !== layout.size) throw new Error("influence vector does not match the node count");
    tensors.set("influence", { dtype: "F32", shape: [layout.size], data: Float32Array.from(extra.influence) });
  }
  const metadata: Record<string, string> = {
    format: GRAPH_BINARY_FORMAT,
    version: "1",
    prompt: g.prompt,
    token_strings: JSON.stringify(g.tokenStrings),
    logit_labels: JSON.stringify(g.logits.map((l) => l.token)),
    n_layers: String(g.nLayers),
    node_order: "features,errors(layer-major),embeddings,logits",
  };
  if (g.scan !== undefined) metadata.scan = g.scan;
  if (g.model !== undefined) metadata.model = g.model;
  return encodeSafetensors(tensors, metadata);
}

export function writeGraphBinary(path: string, g: AttributionGraph, extra: { influence?: Float64Array } = {}): void {
  writeFileAtomic(path, encodeGraphBinary(g, extra));
}

export interface GraphBinary {
  graph: AttributionGraph;
  influence?: Float32Array;
  metadata: Record<string, string>;
}

export function readGraphBinary(path: string): GraphBinary {
  const file = readSafetensors(path);
  const { metadata } = file;
  if (metadata.format !== GRAPH_BINARY_FORMAT) throw new Error(`${path}: not a ${GRAPH_BINARY_FORMAT} file`);
  function tensor(name: string, dtype: "F32", optional?: false): { shape: number[]; data: Float32Array };
  function tensor(name: string, dtype: "I32", optional?: false): { shape: number[]; data: Int32Array };
  function tensor(name: string, dtype: "F32", optional: true): { shape: number[]; data: Float32Array } | undefined;
  function tensor(name: string, dtype: "F32" | "I32", optional = false) {
    const t = file.tensors.get(name);
    if (t === undefined) {
      if (optional) return undefined;
      throw new Error(`${path}: missing tensor ${name}`);
    }
    if (t.dtype !== dtype) throw new Error(`${path}: tensor ${name} is ${t.dtype}, expected ${dtype}`);
    return { shape: t.shape, data: t.data };
  }
  const adjacency = tensor("adjacency", "F32");
  const inputTokens = Array.from(tensor("input_tokens", "I32").data);
  const feats = tensor("features", "I32").data;
  const acts = tensor("activations", "F32").data;
  const logitTokens = tensor("logit_tokens", "I32").data;
  const logitProbs = tensor("logit_probabilities", "F32").data;
  const logitTargets = tensor("logit_targets", "F32", true);
  const influence = tensor("influence", "F32", true);
  const labels = z.array(z.string()).parse(JSON.parse(metadata.logit_labels ?? "[]"));
  const logits: LogitNode[] = Array.from(logitTokens, (tokenId, k) => {
    const node: LogitNode = { tokenId, token: labels[k] ?? "", probability: logitProbs[k]! };
    if (logitTargets) {
      const d = logitTargets.shape[1]!;
      node.target = Float32Array.from(logitTargets.data.subarray(k * d, (k + 1) * d));
    }
    return node;
  });
  const graph: AttributionGraph = {
    prompt: metadata.prompt ?? "",
    inputTokens,
    tokenStrings: z.array(z.string()).parse(JSON.parse(metadata.token_strings ?? "[]")),
    nLayers: Number(metadata.n_layers),
    features: Array.from({ length: acts.length }, (_, i) => ({
      layer: feats[3 * i]!,
      position: feats[3 * i + 1]!,
      featureIndex: feats[3 * i + 2]!,
      activation: acts[i]!,
    })),
    logits,
    adjacency: { kind: "dense", size: adjacency.shape[0]!, data: adjacency.data },
  };
  if (metadata.scan !== undefined) graph.scan = metadata.scan;
  if (metadata.model !== undefined) graph.model = metadata.model;
  validateGraph(graph);
  const out: GraphBinary = { graph, metadata };
  if (influence) out.influence = influence.data;
  return out;
}
