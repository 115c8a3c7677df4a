// Thin resolvers over the db read layer (@circuit-atlas/db, db/src/atlas/read.ts): argument checks,
// typed errors, DataLoader batching, and the shaping of stored JSON into the SDL's types.
import * as db from "@circuit-atlas/db";
import { type Caller, requireKey } from "./auth.ts";
import type { ApiConfig } from "./config.ts";
import { badInput, notFound } from "./errors.ts";
import { circuitTracerJson, pruneStored } from "./graph-json.ts";
import type { JobQueue } from "./jobs.ts";
import { page } from "./limits.ts";
import type { Loaders } from "./loaders.ts";

export interface Context {
  config: ApiConfig;
  caller: Caller;
  loaders: Loaders;
  jobs: JobQueue;
  readOpts: () => { timeoutMs?: number };
}

type Args = Record<string, unknown>;
type Direction = "UPSTREAM" | "DOWNSTREAM" | "BOTH";
type FeatureParent = db.FeatureCore;

// ── ids, cursors, numbers ───────────────────────────────────────────────────────────────────────

const MAX_ID = 300;

function checkId(id: string, arg: string): string {
  if (id.length === 0 || id.length > MAX_ID) throw badInput(`\`${arg}\` must be 1–${MAX_ID} characters`, arg);
  return id;
}

/** A feature id as given (qualified) or its short form "{layer}_{index}" when exactly one transcoder has it. */
async function resolveFeatureId(id: string, arg: string, ctx: Context): Promise<string> {
  checkId(id, arg);
  if (!/^\d+_\d+$/.test(id)) return id;
  const ids = await db.featureIdsByShortId(id, ctx.readOpts());
  if (ids.length === 0) throw notFound(`feature ${JSON.stringify(id)}`);
  if (ids.length > 1) throw badInput(`feature id "${id}" is ambiguous: qualify it as "{transcoder}/${id}"`, arg);
  return ids[0]!;
}

async function loadFeature(id: string, arg: string, ctx: Context): Promise<db.FeatureCore> {
  const fid = await resolveFeatureId(id, arg, ctx);
  const f = await ctx.loaders.feature.load(fid);
  if (!f) throw notFound(`feature ${JSON.stringify(id)}`);
  return f;
}

const encodeCursor = (offset: number) => Buffer.from(`o:${offset}`).toString("base64url");

function decodeCursor(after: unknown): number {
  if (after === null || after === undefined) return 0;
  const text = Buffer.from(String(after), "base64url").toString("utf8");
  const m = /^o:(\d{1,9})$/.exec(text);
  if (!m) throw badInput("`after` is not a cursor returned by this API", "after");
  return Number(m[1]) + 1;
}

function finiteOrNull(v: unknown, arg: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "number" || !Number.isFinite(v)) throw badInput(`\`${arg}\` must be a finite number`, arg);
  return v;
}

function unit(v: unknown, arg: string): number | null {
  const x = finiteOrNull(v, arg);
  if (x !== null && !(x > 0 && x <= 1)) throw badInput(`\`${arg}\` must be in (0, 1], got ${x}`, arg);
  return x;
}

function json<T = unknown>(text: string | null | undefined): T | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

function connection<T>(total: number, offset: number, items: T[], node: (x: T) => Record<string, unknown>) {
  const edges = items.map((x, i) => ({ cursor: encodeCursor(offset + i), ...node(x) }));
  return {
    totalCount: total,
    edges,
    pageInfo: {
      hasNextPage: offset + items.length < total,
      hasPreviousPage: offset > 0,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

const dir = (d: Direction | null | undefined): db.EdgeDirection | "both" =>
  d === "UPSTREAM" ? "upstream" : d === "DOWNSTREAM" ? "downstream" : "both";

// ── shaping stored JSON ─────────────────────────────────────────────────────────────────────────

/** db FeatureExamples (compact): activations only where nonzero, as [token index, value]. */
interface StoredExample {
  id?: string;
  tokens: string[];
  acts: [number, number][];
  maxIndex?: number;
  maxActivation: number;
}

function example(e: StoredExample) {
  const activations = new Array<number>(e.tokens.length).fill(0);
  let maxPosition = -1;
  let best = Number.NEGATIVE_INFINITY;
  for (const [p, v] of e.acts ?? []) {
    if (p >= 0 && p < activations.length) activations[p] = v;
    if (v > best) {
      best = v;
      maxPosition = p;
    }
  }
  return {
    id: e.id ?? null,
    tokens: e.tokens,
    activations,
    maxActivation: e.maxActivation ?? (Number.isFinite(best) ? best : 0),
    maxPosition: e.maxIndex ?? maxPosition,
    source: e.id ?? null,
  };
}

/** db Histogram: linear bins of width binWidth from 0 (older rows: explicit edges). */
function histogram(text: string | null | undefined) {
  const h = json<{ binWidth?: number; edges?: number[]; counts: number[] }>(text);
  if (!h || !Array.isArray(h.counts)) return null;
  const binEdges = h.edges ?? Array.from({ length: h.counts.length + 1 }, (_, i) => i * (h.binWidth ?? 0));
  return { binEdges, binWidth: h.binWidth ?? null, counts: h.counts };
}

/** Label scores stored as an array of scorer results ({type, value, ci95, positives, negatives}) or a map. */
function labelScores(text: string | null) {
  const raw = json<unknown>(text);
  const out: { name: string; value: number; n: number | null; lower: number | null; upper: number | null }[] = [];
  const push = (name: string, s: unknown) => {
    if (typeof s === "number") out.push({ name, value: s, n: null, lower: null, upper: null });
    else if (s && typeof s === "object") {
      const o = s as Record<string, unknown>;
      if (typeof o.value !== "number") return;
      const ci = Array.isArray(o.ci95) ? (o.ci95 as number[]) : null;
      const n =
        typeof o.positives === "number" && typeof o.negatives === "number"
          ? o.positives + o.negatives
          : typeof o.n === "number"
            ? o.n
            : null;
      out.push({
        name: String(o.type ?? o.name ?? name),
        value: o.value,
        n,
        lower: ci?.[0] ?? (typeof o.lower === "number" ? o.lower : null),
        upper: ci?.[1] ?? (typeof o.upper === "number" ? o.upper : null),
      });
    }
  };
  if (Array.isArray(raw)) {
    for (const [i, s] of raw.entries()) push(String(i), s);
  } else if (raw && typeof raw === "object") for (const [k, v] of Object.entries(raw)) push(k, v);
  return out;
}

/** Study heatmap rows (null = no data) → {rows, columns, values} with the empty rows left out. */
function heatmapFromRows(rows: unknown): { rows: number[]; columns: number[]; values: number[][] } | null {
  if (!Array.isArray(rows)) return null;
  const out = { rows: [] as number[], columns: [] as number[], values: [] as number[][] };
  rows.forEach((r, y) => {
    if (Array.isArray(r)) {
      out.rows.push(y);
      out.values.push(r.map((v) => (typeof v === "number" && Number.isFinite(v) ? v : 0)));
    }
  });
  out.columns = Array.from({ length: out.values[0]?.length ?? 0 }, (_, i) => i);
  return out;
}

function studiedEntry(r: db.StudiedRecord) {
  const cols = r.heatmapRows.length > 0 ? Math.round(r.heatmap.length / r.heatmapRows.length) : 0;
  return {
    rank: r.rank,
    featureId: r.featureId,
    influence: r.influence,
    graphsActive: r.graphsActive ?? 0,
    types: r.types ?? [],
    descriptors: json(r.descriptors),
    heatmap: {
      rows: r.heatmapRows,
      columns: Array.from({ length: cols }, (_, i) => i),
      values: r.heatmapRows.map((_, k) => r.heatmap.slice(k * cols, (k + 1) * cols)),
    },
    activationProfile: r.activationProfile ?? [],
  };
}

function studyView(s: db.StudyRecord) {
  const metrics = json<Record<string, Record<string, unknown>>>(s.metrics) ?? {};
  const m = (k: string) => {
    const x = metrics[k];
    if (!x) return null;
    return {
      n: typeof x.n === "number" ? x.n : null,
      probabilityDifference: x.probabilityDifference ?? null,
      cutoffSharpness: x.cutoffSharpness ?? null,
      yearMass: x.yearMass ?? null,
      heatmap: heatmapFromRows(x.heatmap),
    };
  };
  return {
    id: s.id,
    name: s.kind,
    transcoderId: s.transcoderId,
    original: m("original"),
    replacement: m("replacement"),
    graphs: s.graphs,
    meanReplacementScore: s.meanReplacementScore,
    meanCompletenessScore: s.meanCompletenessScore,
    verdict: s.verdict,
    dataset: json(s.dataset),
  };
}

type StudyView = ReturnType<typeof studyView>;

/** Graph parent object: the stored row plus the thresholds asked for (null = the stored pruning). */
interface GraphParent extends db.GraphRecord {
  askedNode: number | null;
  askedEdge: number | null;
}

const asGraph = (g: db.GraphRecord, askedNode: number | null = null, askedEdge: number | null = null): GraphParent => ({
  ...g,
  askedNode,
  askedEdge,
});

/** Graph contents, fetched once per graph and threshold pair within a request. */
const contentsCache = new WeakMap<
  Context,
  Map<string, Promise<{ nodes: db.GraphNodeRecord[]; edges: db.GraphEdgeRecord[] }>>
>();

function graphContents(g: GraphParent, ctx: Context) {
  let m = contentsCache.get(ctx);
  if (!m) {
    m = new Map();
    contentsCache.set(ctx, m);
  }
  const key = `${g.id}\u0000${g.askedNode}\u0000${g.askedEdge}`;
  let p = m.get(key);
  if (!p) {
    p = db.graphContents(g.id, ctx.readOpts()).then((c) => pruneStored(c.nodes, c.edges, g.askedNode, g.askedEdge));
    m.set(key, p);
  }
  return p;
}

// ── circuits and paths ──────────────────────────────────────────────────────────────────────────

const MAX_CIRCUIT_NODES = 500;

async function circuit(args: Args, ctx: Context) {
  const depth = page(args.depth as number | null, 2, 4, "depth");
  const first = page(args.first as number | null, 10, 50);
  const minWeight = finiteOrNull(args.minWeight, "minWeight");
  const graphId = args.graphId == null ? null : checkId(String(args.graphId), "graphId");
  const start = await loadFeature(String(args.featureId), "featureId", ctx);
  if (graphId && !(await ctx.loaders.graph.load(graphId))) throw notFound(`graph ${JSON.stringify(graphId)}`);
  const d = dir(args.direction as Direction);
  const depthOf = new Map<string, number>([[start.id, 0]]);
  const edges = new Map<string, { source: string; target: string; weight: number; count: number }>();
  let frontier = [start.id];
  for (let hop = 1; hop <= depth && frontier.length > 0; hop++) {
    const next: string[] = [];
    for (const direction of d === "both" ? (["upstream", "downstream"] as const) : [d]) {
      const lists = await ctx.loaders.edges({ direction, graphId, minWeight, limit: first }).loadMany(frontier);
      lists.forEach((list, i) => {
        if (list instanceof Error) throw list;
        for (const e of list) {
          const [source, target] = direction === "upstream" ? [e.otherId, frontier[i]!] : [frontier[i]!, e.otherId];
          if (!depthOf.has(e.otherId)) {
            if (depthOf.size >= MAX_CIRCUIT_NODES) continue;
            depthOf.set(e.otherId, hop);
            next.push(e.otherId);
          }
          edges.set(`${source}\u0000${target}`, { source, target, weight: e.weight, count: e.count });
        }
      });
    }
    frontier = next;
  }
  const nodes = await ctx.loaders.feature.loadMany([...depthOf.keys()]);
  return {
    nodes: nodes
      .filter((f): f is db.FeatureCore => f !== null && !(f instanceof Error))
      .map((f) => ({ id: f.id, feature: f, depth: depthOf.get(f.id)! })),
    edges: [...edges.values()],
  };
}

/** Beam width and out-edges followed per node when searching paths. */
const PATH_BEAM = 200;
const PATH_FANOUT = 25;

async function paths(args: Args, ctx: Context) {
  const maxHops = page(args.maxHops as number | null, 3, 5, "maxHops");
  const first = page(args.first as number | null, 10, 50);
  const graphId = args.graphId == null ? null : checkId(String(args.graphId), "graphId");
  const [from, to] = await Promise.all([
    loadFeature(String(args.from), "from", ctx),
    loadFeature(String(args.to), "to", ctx),
  ]);
  if (graphId && !(await ctx.loaders.graph.load(graphId))) throw notFound(`graph ${JSON.stringify(graphId)}`);
  if (maxHops === 0 || first === 0) return [];
  const layerOf = new Map<string, number>([
    [from.id, from.layer],
    [to.id, to.layer],
  ]);
  const inAbs = new Map<string, number>();
  type Partial = { nodes: string[]; weights: number[]; score: number };
  let beam: Partial[] = [{ nodes: [from.id], weights: [], score: 1 }];
  const done: Partial[] = [];
  for (let hop = 1; hop <= maxHops && beam.length > 0; hop++) {
    const tips = [...new Set(beam.map((p) => p.nodes.at(-1)!))];
    const lists = await ctx.loaders
      .edges({ direction: "downstream", graphId, minWeight: null, limit: PATH_FANOUT })
      .loadMany(tips);
    const out = new Map<string, db.FeatureEdge[]>();
    lists.forEach((l, i) => {
      if (l instanceof Error) throw l;
      out.set(tips[i]!, l);
    });
    // Features only write into later layers, so nothing at or beyond `to`'s layer (except `to`) can reach it.
    const targets = [...new Set([...out.values()].flat().map((e) => e.otherId))].filter((id) => !inAbs.has(id));
    if (targets.length > 0) {
      const cores = await ctx.loaders.feature.loadMany(targets);
      cores.forEach((c) => {
        if (c && !(c instanceof Error)) layerOf.set(c.id, c.layer);
      });
      const totals = await db.incomingAbsWeight(targets, graphId, ctx.readOpts());
      for (const id of targets) inAbs.set(id, totals.get(id) ?? 0);
    }
    const next: Partial[] = [];
    for (const p of beam) {
      for (const e of out.get(p.nodes.at(-1)!) ?? []) {
        if (p.nodes.includes(e.otherId)) continue;
        const total = inAbs.get(e.otherId) ?? 0;
        if (total <= 0) continue;
        const q = {
          nodes: [...p.nodes, e.otherId],
          weights: [...p.weights, e.weight],
          score: (p.score * Math.abs(e.weight)) / total,
        };
        if (e.otherId === to.id) done.push(q);
        else if ((layerOf.get(e.otherId) ?? Number.POSITIVE_INFINITY) < to.layer) next.push(q);
      }
    }
    beam = next.sort((a, b) => b.score - a.score).slice(0, PATH_BEAM);
  }
  const best = done.sort((a, b) => b.score - a.score).slice(0, first);
  return Promise.all(
    best.map(async (p) => {
      const feats = await ctx.loaders.feature.loadMany(p.nodes);
      return {
        score: p.score,
        sign: p.weights.reduce((s, w) => (w < 0 ? -s : s), 1),
        hops: p.weights.length,
        nodes: feats.filter((f) => f && !(f instanceof Error)),
        edges: p.weights.map((w, i) => ({ source: p.nodes[i]!, target: p.nodes[i + 1]!, weight: w, count: 1 })),
      };
    }),
  );
}

// ── resolvers ───────────────────────────────────────────────────────────────────────────────────

function neighbors(direction: db.EdgeDirection) {
  return async (f: FeatureParent, args: Args, ctx: Context) => {
    const limit = page(args.first as number | null, 10, ctx.config.maxPage);
    const minWeight = finiteOrNull(args.minWeight, "minWeight");
    const graphId = args.graphId == null ? null : checkId(String(args.graphId), "graphId");
    const list = await ctx.loaders.edges({ direction, graphId, minWeight, limit }).load(f.id);
    const feats = await ctx.loaders.feature.loadMany(list.map((e) => e.otherId));
    return list
      .map((e, i) => {
        const feature = feats[i];
        return feature && !(feature instanceof Error)
          ? { feature, weight: e.weight, weightAbsSum: e.weightAbsSum, count: e.count, graphs: e.graphs }
          : null;
      })
      .filter(Boolean);
  };
}

export const resolvers = {
  Query: {
    atlas: () => ({}),

    async searchFeatures(_: unknown, args: Args, ctx: Context) {
      const limit = page(args.first as number | null, 20, ctx.config.maxPage);
      const offset = decodeCursor(args.after);
      const query = String(args.query);
      if (query.length > 500) throw badInput("`query` is longer than 500 characters", "query");
      const layer = args.layer as number | null | undefined;
      if (layer != null && layer < 0) throw badInput("`layer` must be ≥ 0", "layer");
      const r = await db.searchFeatures(
        {
          query,
          layer,
          transcoderId: (args.transcoder as string | null) ?? null,
          labelSource: (args.labelSource as string | null) ?? null,
          offset,
          limit,
        },
        ctx.readOpts(),
      );
      for (const h of r.hits) ctx.loaders.feature.prime(h.feature.id, h.feature);
      return connection(r.totalCount, offset, r.hits, (h) => ({ score: h.score, feature: h.feature }));
    },

    feature: (_: unknown, args: Args, ctx: Context) => loadFeature(String(args.id), "id", ctx),

    async features(_: unknown, args: Args, ctx: Context) {
      const ids = (args.ids as string[]).map((id) => checkId(id, "ids"));
      page(ids.length, 0, ctx.config.maxPage, "ids");
      const out = await ctx.loaders.feature.loadMany(ids);
      return out.filter((f) => f && !(f instanceof Error));
    },

    transcoders: (_: unknown, __: Args, ctx: Context) => db.listTranscoders(ctx.readOpts()),

    async graphs(_: unknown, args: Args, ctx: Context) {
      const limit = page(args.first as number | null, 20, ctx.config.maxPage);
      const offset = decodeCursor(args.after);
      const r = await db.listGraphs(
        { offset, limit, transcoderId: (args.transcoder as string | null) ?? null },
        ctx.readOpts(),
      );
      for (const g of r.graphs) ctx.loaders.graph.prime(g.id, g);
      return connection(r.totalCount, offset, r.graphs, (g) => ({ node: asGraph(g) }));
    },

    async graph(_: unknown, args: Args, ctx: Context) {
      const id = checkId(String(args.id), "id");
      const n = unit(args.nodeThreshold, "nodeThreshold");
      const e = unit(args.edgeThreshold, "edgeThreshold");
      const g = await ctx.loaders.graph.load(id);
      if (!g) throw notFound(`graph ${JSON.stringify(id)}`);
      return asGraph(g, n, e);
    },

    circuit: (_: unknown, args: Args, ctx: Context) => circuit(args, ctx),
    paths: (_: unknown, args: Args, ctx: Context) => paths(args, ctx),

    async study(_: unknown, args: Args, ctx: Context) {
      const name = String(args.name);
      if (name.length > 100) throw badInput("`name` is longer than 100 characters", "name");
      const s = await db.studyByKind(name, (args.transcoder as string | null) ?? null, ctx.readOpts());
      if (!s) throw notFound(`study ${JSON.stringify(name)}`);
      return studyView(s);
    },

    job(_: unknown, args: Args, ctx: Context) {
      const j = ctx.jobs.get(checkId(String(args.id), "id"));
      if (!j) throw notFound(`job ${JSON.stringify(args.id)}`);
      return j;
    },
  },

  Mutation: {
    async setLabel(_: unknown, args: Args, ctx: Context) {
      const author = requireKey(ctx.caller, ctx.config.apiKeys.length > 0);
      const text = String(args.text).trim();
      if (text.length === 0 || text.length > 200) throw badInput("`text` must be 1–200 characters", "text");
      const note = args.note == null ? null : String(args.note);
      if (note !== null && note.length > 2000) throw badInput("`note` is longer than 2000 characters", "note");
      const f = await loadFeature(String(args.featureId), "featureId", ctx);
      const id = await db.writeHumanLabel({ featureId: f.id, text, note, author });
      ctx.loaders.feature.clear(f.id);
      ctx.loaders.labelHistory.clear(f.id);
      const [label] = await db.labelsByIds([id], ctx.readOpts());
      return label;
    },

    traceGraph(_: unknown, args: Args, ctx: Context) {
      const author = requireKey(ctx.caller, ctx.config.apiKeys.length > 0);
      const prompt = String(args.prompt);
      if (prompt.trim().length === 0 || prompt.length > 1000)
        throw badInput("`prompt` must be 1–1000 characters", "prompt");
      return ctx.jobs.submit({ prompt, transcoderId: (args.transcoder as string | null) ?? null, author });
    },
  },

  Atlas: {
    models: (_: unknown, __: Args, ctx: Context) => db.listModels(ctx.readOpts()),
    transcoders: (_: unknown, __: Args, ctx: Context) => db.listTranscoders(ctx.readOpts()),
    featureCount: async (_: unknown, __: Args, ctx: Context) => (await counts(ctx)).featureCount,
    labeledFeatureCount: async (_: unknown, __: Args, ctx: Context) => (await counts(ctx)).labeledFeatureCount,
    labelCoverage: async (_: unknown, __: Args, ctx: Context) => {
      const c = await counts(ctx);
      return c.featureCount > 0 ? c.labeledFeatureCount / c.featureCount : 0;
    },
    labelSources: async (_: unknown, __: Args, ctx: Context) => (await counts(ctx)).labelSources,
    graphCount: async (_: unknown, __: Args, ctx: Context) => (await counts(ctx)).graphCount,
    async featuredGraphs(_: unknown, args: Args, ctx: Context) {
      const limit = page(args.first as number | null, 5, ctx.config.maxPage);
      const { graphs } = await db.listGraphs({ offset: 0, limit: 1000 }, ctx.readOpts());
      // The greater-than prompt first, then newest.
      const gt = (g: db.GraphRecord) => (/greater|lasted from the year/i.test(`${g.id} ${g.prompt}`) ? 0 : 1);
      return [...graphs]
        .sort((a, b) => gt(a) - gt(b))
        .slice(0, limit)
        .map((g) => asGraph(g));
    },
    studies: async (_: unknown, __: Args, ctx: Context) => (await db.listStudies(ctx.readOpts())).map(studyView),
  },

  Transcoder: {
    model: async (t: Record<string, unknown>, _: Args, ctx: Context) =>
      (await db.listModels(ctx.readOpts())).find((m) => m.id === t.modelId) ?? null,
    featureCount: (t: Record<string, unknown>) => (t.nLayers as number) * (t.nFeatures as number),
    trainConfig: (t: Record<string, unknown>) => json(t.trainConfig as string),
    evalMetrics: (t: Record<string, unknown>) => json(t.evalMetrics as string),
  },

  Feature: {
    index: (f: FeatureParent) => f.featureIndex,
    transcoder: async (f: FeatureParent, _: Args, ctx: Context) =>
      (await db.listTranscoders(ctx.readOpts())).find((t) => t.id === f.transcoderId) ?? null,
    label: (f: FeatureParent, _: Args, ctx: Context) => (f.labelId ? ctx.loaders.label.load(f.labelId) : null),
    labelHistory: (f: FeatureParent, _: Args, ctx: Context) => ctx.loaders.labelHistory.load(f.id),
    histogram: async (f: FeatureParent, _: Args, ctx: Context) =>
      histogram((await ctx.loaders.details.load(f.id))?.histogram),
    async topExamples(f: FeatureParent, args: Args, ctx: Context) {
      const n = page(args.first as number | null, 20, ctx.config.maxPage);
      const ex = json<{ top?: StoredExample[] }>((await ctx.loaders.details.load(f.id))?.examples);
      return (ex?.top ?? []).slice(0, n).map(example);
    },
    async quantileExamples(f: FeatureParent, _: Args, ctx: Context) {
      type Q = { quantileLow?: number; quantileHigh?: number; lower: number; upper: number; examples: StoredExample[] };
      const ex = json<{ quantiles?: Q[] }>((await ctx.loaders.details.load(f.id))?.examples);
      return (ex?.quantiles ?? []).map((q) => ({
        quantileLow: q.quantileLow ?? null,
        quantileHigh: q.quantileHigh ?? null,
        lower: q.lower,
        upper: q.upper,
        examples: q.examples.map(example),
      }));
    },
    async topLogits(f: FeatureParent, args: Args, ctx: Context) {
      const n = page(args.first as number | null, 10, ctx.config.maxPage);
      return (
        json<{ token: string; tokenId?: number; value: number }[]>((await ctx.loaders.details.load(f.id))?.topLogits) ??
        []
      ).slice(0, n);
    },
    async bottomLogits(f: FeatureParent, args: Args, ctx: Context) {
      const n = page(args.first as number | null, 10, ctx.config.maxPage);
      return (
        json<{ token: string; tokenId?: number; value: number }[]>(
          (await ctx.loaders.details.load(f.id))?.bottomLogits,
        ) ?? []
      ).slice(0, n);
    },
    heatmap: async (f: FeatureParent, _: Args, ctx: Context) => {
      const r = await ctx.loaders.greaterThan.load(f.id);
      return r ? studiedEntry(r).heatmap : null;
    },
    greaterThan: async (f: FeatureParent, _: Args, ctx: Context) => {
      const r = await ctx.loaders.greaterThan.load(f.id);
      return r ? studiedEntry(r) : null;
    },
    upstream: neighbors("upstream"),
    downstream: neighbors("downstream"),
    async virtualNeighbors(f: FeatureParent, args: Args, ctx: Context) {
      const limit = page(args.first as number | null, 10, ctx.config.maxPage);
      const list = await ctx.loaders.virtual(dir(args.direction as Direction), limit).load(f.id);
      const feats = await ctx.loaders.feature.loadMany(list.map((e) => e.otherId));
      return list
        .map((e, i) => {
          const feature = feats[i];
          return feature && !(feature instanceof Error)
            ? { feature, weight: e.weight, direction: e.direction === "upstream" ? "UPSTREAM" : "DOWNSTREAM" }
            : null;
        })
        .filter(Boolean);
    },
    graphCount: (f: FeatureParent) => f.graphCount ?? 0,
    async graphs(f: FeatureParent, args: Args, ctx: Context) {
      const limit = page(args.first as number | null, 20, ctx.config.maxPage);
      return (await ctx.loaders.graphsOf(limit).load(f.id)).map((g) => asGraph(g));
    },
    causalEffects: (f: FeatureParent, _: Args, ctx: Context) => ctx.loaders.causal.load(f.id),
    causalSummary: (f: FeatureParent) =>
      f.ablationCount
        ? {
            count: f.ablationCount,
            predictedMean: f.ablationPredictedMean,
            measuredLiveMean: f.ablationMeasuredLiveMean,
            measuredFrozenMean: f.ablationMeasuredFrozenMean,
          }
        : null,
  },

  Label: {
    feature: (l: db.LabelRecord, _: Args, ctx: Context) => ctx.loaders.feature.load(l.featureId),
    scores: (l: db.LabelRecord) => labelScores(l.scores),
    provenance: (l: db.LabelRecord) => json(l.provenance),
  },

  CausalEffect: {
    graph: async (c: db.CausalRecord, _: Args, ctx: Context) => {
      const g = await ctx.loaders.graph.load(c.graphId);
      return g ? asGraph(g) : null;
    },
  },

  Graph: {
    targetLogits: (g: GraphParent) => json<unknown[]>(g.targetLogits) ?? [],
    nodeThreshold: (g: GraphParent) => g.askedNode ?? g.nodeThreshold,
    edgeThreshold: (g: GraphParent) => g.askedEdge ?? g.edgeThreshold,
    nodes: async (g: GraphParent, _: Args, ctx: Context) => (await graphContents(g, ctx)).nodes,
    edges: async (g: GraphParent, _: Args, ctx: Context) => (await graphContents(g, ctx)).edges,
    nodeCount: async (g: GraphParent, _: Args, ctx: Context) =>
      g.askedNode === null && g.askedEdge === null ? g.nNodes : (await graphContents(g, ctx)).nodes.length,
    edgeCount: async (g: GraphParent, _: Args, ctx: Context) =>
      g.askedNode === null && g.askedEdge === null ? g.nEdges : (await graphContents(g, ctx)).edges.length,
    json: async (g: GraphParent, _: Args, ctx: Context) => {
      const c = await graphContents(g, ctx);
      return circuitTracerJson(g, c.nodes, c.edges, g.askedNode ?? g.nodeThreshold);
    },
  },

  GraphNode: {
    id: (n: db.GraphNodeRecord) => n.nodeId,
    kind: (n: db.GraphNodeRecord) => n.kind.toUpperCase(),
    feature: (n: db.GraphNodeRecord, _: Args, ctx: Context) =>
      n.featureId ? ctx.loaders.feature.load(n.featureId) : null,
  },

  Study: {
    async features(s: StudyView, args: Args, ctx: Context) {
      const limit = page(args.first as number | null, 50, ctx.config.maxPage);
      return (await db.studyFeatures(s.id, limit, ctx.readOpts())).map(studiedEntry);
    },
  },

  StudyFeature: {
    feature: (s: { featureId: string }, _: Args, ctx: Context) => ctx.loaders.feature.load(s.featureId),
  },

  Job: {
    graph: async (j: { graphId: string | null }, _: Args, ctx: Context) => {
      if (!j.graphId) return null;
      const g = await ctx.loaders.graph.load(j.graphId);
      return g ? asGraph(g) : null;
    },
  },
};

const countsCache = new WeakMap<Context, Promise<db.AtlasCounts>>();
function counts(ctx: Context) {
  let p = countsCache.get(ctx);
  if (!p) {
    p = db.atlasCounts(ctx.readOpts());
    countsCache.set(ctx, p);
  }
  return p;
}
