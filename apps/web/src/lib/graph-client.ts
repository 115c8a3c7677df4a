// Graph data for the viewer: the GraphView query's answer mapped to the viewer's model, and the
// browser-side re-fetches (through this app's /graphql forwarder) when the pruning changes.
import type { GraphViewQuery } from "../gql/graphql.ts";
import { request } from "./api.ts";
import type { NodeKind, ViewGraph } from "./graph-model.ts";
import { GraphDoc, GraphJsonDoc } from "./queries.ts";

const KINDS: Record<string, NodeKind> = { FEATURE: "feature", ERROR: "error", EMBEDDING: "embedding", LOGIT: "logit" };

export function toViewGraph(g: NonNullable<GraphViewQuery["graph"]>): ViewGraph {
  // The API puts logit nodes on layer nLayers: that is how many blocks the model has.
  const logitLayer = Math.max(0, ...g.nodes.filter((n) => n.kind === "LOGIT").map((n) => n.layer));
  return {
    id: g.id,
    nLayers: logitLayer,
    prompt: g.prompt,
    tokens: g.tokens,
    nodes: g.nodes.map((n) => {
      const kind = KINDS[n.kind] ?? "feature";
      return {
        id: n.id,
        kind,
        layer: kind === "embedding" || kind === "logit" ? null : n.layer,
        position: n.position,
        activation: n.activation,
        influence: n.influence,
        featureId: n.feature?.id ?? null,
        label: kind === "feature" ? (n.feature?.label?.text ?? null) : n.token,
      };
    }),
    edges: g.edges,
  };
}

export async function fetchGraph(id: string, nodeThreshold: number, edgeThreshold: number, signal?: AbortSignal) {
  const data = await request(GraphDoc, { id, nodeThreshold, edgeThreshold }, { url: "/graphql", signal });
  if (!data.graph) throw new Error(`graph ${id} is no longer in the atlas`);
  return toViewGraph(data.graph);
}

export async function fetchGraphJson(id: string, nodeThreshold: number, edgeThreshold: number): Promise<string> {
  const data = await request(GraphJsonDoc, { id, nodeThreshold, edgeThreshold }, { url: "/graphql" });
  if (!data.graph) throw new Error(`graph ${id} is no longer in the atlas`);
  const json = data.graph.json;
  return typeof json === "string" ? json : JSON.stringify(json, null, 1);
}
