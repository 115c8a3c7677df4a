// Compact binary side file with the full unpruned graph, for database ingest: a safetensors file
// (8-byte LE header length, JSON header, packed little-endian tensors) holding
//   adjacency F32 [n, n] (A[target, source], circuit-tracer's node order), input_tokens I32 [P],
//   features I32 [F, 3] (layer, position, featureIndex), activations F32 [F], logit_tokens I32 [K],
//   logit_probabilities F32 [K], optionally logit_targets F32 [K, d] and influence F32 [n];
// and in __metadata__ the prompt, decoded tokens, logit labels, layer count, scan and model.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { toDense } from "./adjacency.ts";
import type { AttributionGraph, LogitNode } from "./graph.ts";
import { validateGraph } from "./graph.ts";
import { writeFileAtomic } from "./io.ts";

export const GRAPH_BINARY_FORMAT = "circuit-atlas-graph";

type DType = "F32" | "I32";
interface TensorOut {
  name: string;
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array;
}

export function writeGraphBinary(path: string, g: AttributionGraph, extra: { influence?: Float64Array } = {}): void {
  const layout = validateGraph(g);
  const tensors: TensorOut[] = [
    { name: "adjacency", dtype: "F32", shape: [layout.size, layout.size], data: toDense(g.adjacency).data },
    { name: "input_tokens", dtype: "I32", shape: [layout.nPos], data: Int32Array.from(g.inputTokens) },
    {
      name: "features",
      dtype: "I32",
      shape: [layout.nFeatures, 3],
      data: Int32Array.from(g.features.flatMap((f) => [f.layer, f.position, f.featureIndex])),
    },
    {
      name: "activations",
      dtype: "F32",
      shape: [layout.nFeatures],
      data: Float32Array.from(g.features, (f) => f.activation),
    },
    { name: "logit_tokens", dtype: "I32", shape: [layout.nLogits], data: Int32Array.from(g.logits, (l) => l.tokenId) },
    {
      name: "logit_probabilities",
      dtype: "F32",
      shape: [layout.nLogits],
      data: Float32Array.from(g.logits, (l) => l.probability),
    },
  ];
  const targets = g.logits.map((l) => l.target);
  if (targets.length > 0 && targets.every((t) => t !== undefined)) {
    const d = targets[0]!.length;
    if (targets.some((t) => t!.length !== d)) throw new Error("logit target vectors differ in length");
    const data = new Float32Array(targets.length * d);
    for (const [k, t] of targets.entries()) data.set(t!, k * d);
    tensors.push({ name: "logit_targets", dtype: "F32", shape: [targets.length, d], data });
  }
  if (extra.influence) {
    if (extra.influence.length !== layout.size) throw new Error("influence vector does not match the node count");
    tensors.push({ name: "influence", dtype: "F32", shape: [layout.size], data: Float32Array.from(extra.influence) });
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

  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  // Pad the header with spaces so the data section starts 8-byte aligned.
  let json = JSON.stringify(header);
  const headerBytes = Buffer.byteLength(json, "utf8");
  json += " ".repeat((8 - ((8 + headerBytes) % 8)) % 8);
  const headerBuf = Buffer.from(json, "utf8");
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBuf.byteLength));
  writeFileAtomic(path, [
    lenBuf,
    headerBuf,
    ...tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
  ]);
}

const tensorHeaderSchema = z.object({
  dtype: z.enum(["F32", "I32"]),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});

export interface GraphBinary {
  graph: AttributionGraph;
  influence?: Float32Array;
  metadata: Record<string, string>;
}

export function readGraphBinary(path: string): GraphBinary {
  const buf = readFileSync(path);
  if (buf.byteLength < 8) throw new Error(`${path}: too short for a graph binary file`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (8 + headerLen > buf.byteLength) throw new Error(`${path}: header length ${headerLen} exceeds the file size`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8"));
  } catch {
    throw new Error(`${path}: header is not JSON`);
  }
  const metadata = z.record(z.string(), z.string()).parse(header.__metadata__ ?? {});
  if (metadata.format !== GRAPH_BINARY_FORMAT) throw new Error(`${path}: not a ${GRAPH_BINARY_FORMAT} file`);
  const dataStart = 8 + headerLen;
  const tensor = (name: string, optional = false): { shape: number[]; data: Float32Array | Int32Array } | undefined => {
    const h = header[name];
    if (h === undefined) {
      if (optional) return undefined;
      throw new Error(`${path}: missing tensor ${name}`);
    }
    const t = tensorHeaderSchema.parse(h);
    const [begin, end] = t.data_offsets;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * 4 || dataStart + end > buf.byteLength) {
      throw new Error(`${path}: tensor ${name} has inconsistent offsets`);
    }
    const start = buf.byteOffset + dataStart + begin;
    // A view when the bytes are 4-aligned in the underlying buffer, a copy otherwise.
    const [ab, off] =
      start % 4 === 0
        ? [buf.buffer, start]
        : [Uint8Array.from(buf.subarray(dataStart + begin, dataStart + end)).buffer, 0];
    return {
      shape: t.shape,
      data: t.dtype === "F32" ? new Float32Array(ab, off, count) : new Int32Array(ab, off, count),
    };
  };
  const adjacency = tensor("adjacency")!;
  const inputTokens = Array.from(tensor("input_tokens")!.data);
  const feats = tensor("features")!.data;
  const acts = tensor("activations")!.data;
  const logitTokens = tensor("logit_tokens")!.data;
  const logitProbs = tensor("logit_probabilities")!.data;
  const logitTargets = tensor("logit_targets", true);
  const influence = tensor("influence", true);
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
    adjacency: { kind: "dense", size: adjacency.shape[0]!, data: adjacency.data as Float32Array },
  };
  if (metadata.scan !== undefined) graph.scan = metadata.scan;
  if (metadata.model !== undefined) graph.model = metadata.model;
  validateGraph(graph);
  const out: GraphBinary = { graph, metadata };
  if (influence) out.influence = influence.data as Float32Array;
  return out;
}
