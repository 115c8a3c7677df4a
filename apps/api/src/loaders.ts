// One set of DataLoaders per request: every field that needs rows for many parents (a page of
// search hits, a circuit's nodes) is batched into one Cypher query per field and argument set.
import * as read from "@circuit-atlas/db";
import DataLoader from "dataloader";

export type ReadOpts = { timeoutMs?: number };

export function createLoaders(opts: () => ReadOpts) {
  const keyed = new Map<string, DataLoader<string, unknown>>();
  /** A loader per argument set (e.g. upstream with first=5 vs first=10), created on first use. */
  function byArgs<V>(name: string, args: unknown, batch: (ids: readonly string[]) => Promise<V[]>) {
    const key = `${name}:${JSON.stringify(args)}`;
    let l = keyed.get(key) as DataLoader<string, V> | undefined;
    if (!l) {
      l = new DataLoader<string, V>(batch, { maxBatchSize: 1000 });
      keyed.set(key, l as DataLoader<string, unknown>);
    }
    return l;
  }
  return {
    feature: new DataLoader(async (ids: readonly string[]) => read.featuresByIds(ids, opts())),
    details: new DataLoader(async (ids: readonly string[]) => read.featureDetails(ids, opts())),
    label: new DataLoader(async (ids: readonly string[]) => read.labelsByIds(ids, opts())),
    labelHistory: new DataLoader(async (ids: readonly string[]) => read.labelHistories(ids, opts())),
    greaterThan: new DataLoader(async (ids: readonly string[]) => read.studiedByFeatures(ids, "greater-than", opts())),
    causal: new DataLoader(async (ids: readonly string[]) => read.causalEffects(ids, opts())),
    graph: new DataLoader(async (ids: readonly string[]) => read.graphsByIds(ids, opts())),
    edges: (q: read.EdgeQuery) => byArgs("edges", q, async (ids) => read.featureEdges(ids, q, opts())),
    virtual: (direction: read.EdgeDirection | "both", limit: number) =>
      byArgs("virtual", [direction, limit], async (ids) => read.virtualNeighborEdges(ids, direction, limit, opts())),
    graphsOf: (limit: number) => byArgs("graphsOf", limit, async (ids) => read.graphsOfFeatures(ids, limit, opts())),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;
