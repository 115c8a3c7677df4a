// Every operation of the SDL against the real API over HTTP and the real Neo4j, on a seeded atlas;
// expected values are recomputed here from the seed's inputs, not read back from the database.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { circuitTracerGraphSchema } from "../../../pipeline/src/graph/json.ts";
import type { ApiServer } from "../src/index.ts";
import { codes, data, gql, type Json, withSeededApi } from "./helpers.ts";
import {
  examplesOf,
  fid,
  graphInput,
  LABELS,
  LLM_SCORES,
  N_FEATURES,
  N_LAYERS,
  RUN,
  T,
  topLogitsOf,
  VIRTUAL,
} from "./seed.ts";

let api: ApiServer;

withSeededApi((a) => {
  api = a;
});

// ── independent expectations from the seed's graphs ─────────────────────────────────────────────

type Agg = { weight: number; abs: number; count: number; graphs: Set<number> };

/** feature→feature sums over the seed graphs (all of them, or graph g). */
function aggregate(only?: number): Map<string, Agg> {
  const out = new Map<string, Agg>();
  for (const g of only === undefined ? [0, 1] : [only]) {
    const input = graphInput(g);
    for (const e of input.edges) {
      const a = input.nodes[e.source]!;
      const b = input.nodes[e.target]!;
      if (!a.featureId || !b.featureId) continue;
      const key = `${a.featureId}>${b.featureId}`;
      const x = out.get(key) ?? { weight: 0, abs: 0, count: 0, graphs: new Set<number>() };
      x.weight += e.weight;
      x.abs += Math.abs(e.weight);
      x.count++;
      x.graphs.add(g);
      out.set(key, x);
    }
  }
  return out;
}

function expectedNeighbors(id: string, dir: "up" | "down", only?: number) {
  return [...aggregate(only).entries()]
    .map(([k, v]) => {
      const [a, b] = k.split(">") as [string, string];
      return { a, b, ...v };
    })
    .filter((e) => (dir === "up" ? e.b === id : e.a === id))
    .map((e) => ({ other: dir === "up" ? e.a : e.b, weight: e.weight, count: e.count, graphs: e.graphs.size }))
    .sort((x, y) => Math.abs(y.weight) - Math.abs(x.weight) || (x.other < y.other ? -1 : 1));
}

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

// ── search ──────────────────────────────────────────────────────────────────────────────────────

describe("searchFeatures", () => {
  const Q = `query($q: String!, $first: Int, $after: String, $layer: Int, $src: String) {
    searchFeatures(query: $q, transcoder: "${T}", first: $first, after: $after, layer: $layer, labelSource: $src) {
      totalCount edges { cursor score feature { id layer label { text source } } } pageInfo { hasNextPage hasPreviousPage endCursor }
    }
  }`;
  const yearIds = [fid(1, 3), fid(2, 5)].sort();

  test("a word of the labels finds its features, ranked by score", async () => {
    const d = await data(api, Q, { q: "year" });
    const ids = d.searchFeatures.edges.map((e: Json) => e.feature.id);
    for (const id of yearIds) assert.ok(ids.includes(id), `${id} in ${ids}`);
    const scores = d.searchFeatures.edges.map((e: Json) => e.score);
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
    );
    assert.ok(scores.every((s: number) => s > 0));
    assert.equal(d.searchFeatures.totalCount, ids.length);
  });

  test("typos are tolerated", async () => {
    // One edit for words of 4–7 letters: "yeers" → "years", "yeer" → "year".
    const d = await data(api, Q, { q: "yeers" });
    const ids = d.searchFeatures.edges.map((e: Json) => e.feature.id);
    for (const id of [fid(1, 3), fid(3, 1)]) assert.ok(ids.includes(id), `typo: ${id} in ${ids}`);
    const y = await data(api, Q, { q: "yeer" });
    assert.ok(y.searchFeatures.edges.some((e: Json) => e.feature.id === fid(2, 5)));
    const w = await data(api, Q, { q: "quotaton" });
    assert.equal(w.searchFeatures.edges[0].feature.id, fid(0, 2));
  });

  test("pagination walks every hit once; the last page has no next page", async () => {
    const all = await data(api, Q, { q: "year after war even", first: 50 });
    const total = all.searchFeatures.totalCount;
    assert.ok(total >= 4);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const d = await data(api, Q, { q: "year after war even", first: 2, after: cursor });
      const c = d.searchFeatures;
      seen.push(...c.edges.map((e: Json) => e.feature.id));
      assert.equal(c.pageInfo.hasPreviousPage, cursor !== null);
      cursor = c.pageInfo.endCursor;
      if (!c.pageInfo.hasNextPage) break;
    }
    assert.deepEqual(
      seen,
      all.searchFeatures.edges.map((e: Json) => e.feature.id),
    );
    assert.equal(new Set(seen).size, total);
    const past = await data(api, Q, { q: "year", first: 5, after: cursor });
    assert.deepEqual(past.searchFeatures.edges, []);
    assert.equal(past.searchFeatures.pageInfo.hasNextPage, false);
    const zero = await data(api, Q, { q: "year", first: 0 });
    assert.deepEqual(zero.searchFeatures.edges, []);
    assert.ok(zero.searchFeatures.totalCount > 0);
  });

  test("layer and label-source filters", async () => {
    const d = await data(api, Q, { q: "year", layer: 2 });
    assert.deepEqual(
      d.searchFeatures.edges.map((e: Json) => e.feature.id),
      [fid(2, 5)],
    );
    const s = await data(api, Q, { q: "year", src: "heuristic" });
    assert.ok(s.searchFeatures.edges.every((e: Json) => e.feature.label.source === "heuristic"));
    assert.ok(s.searchFeatures.edges.some((e: Json) => e.feature.id === fid(1, 3)));
  });

  test("no words, Lucene or Cypher syntax: no error, no injection", async () => {
    for (const q of [
      "",
      "   ",
      "*",
      "year) OR 1=1 //",
      '" }) MATCH (n) DETACH DELETE n //',
      "AND OR NOT",
      "ye?r~0.1^9 [a TO z]",
      "\\",
    ]) {
      const r = await gql(api, Q, { q });
      assert.equal(r.status, 200, q);
      assert.equal(r.body.errors, undefined, q);
    }
    const inj = await data(api, Q, { q: 'year") DETACH DELETE f //' });
    assert.ok(inj.searchFeatures.edges.some((e: Json) => e.feature.id === fid(2, 5)));
  });

  test("bad cursor, negative and huge `first` are BAD_USER_INPUT", async () => {
    assert.deepEqual(codes(await gql(api, Q, { q: "year", after: "not-a-cursor" })), ["BAD_USER_INPUT"]);
    assert.deepEqual(codes(await gql(api, Q, { q: "year", first: -1 })), ["BAD_USER_INPUT"]);
    assert.deepEqual(codes(await gql(api, Q, { q: "year", first: 101 })), ["BAD_USER_INPUT"]);
  });
});

// ── features ────────────────────────────────────────────────────────────────────────────────────

describe("feature", () => {
  const FEATURE = `query($id: ID!) { feature(id: $id) {
    id featureId transcoderId layer index featureIndex density maxActivation graphCount
    label { text source description score scores { name value n lower upper } current }
    labelHistory { text current }
    histogram { binEdges binWidth counts }
    topExamples { id tokens activations maxActivation maxPosition }
    quantileExamples { quantileLow quantileHigh lower upper examples { tokens activations } }
    topLogits(first: 3) { token tokenId value } bottomLogits { token value }
    heatmap { rows columns values } greaterThan { rank types }
    upstream { feature { id } weight count graphs } downstream { feature { id } weight count graphs }
    virtualNeighbors { feature { id } weight direction }
    graphs { id } causalEffects { graphId nodeId predicted measuredLive measuredFrozen target graph { id } }
    causalSummary { count predictedMean measuredLiveMean }
  } }`;

  test("every field of a labeled, studied feature", async () => {
    const f = (await data(api, FEATURE, { id: fid(1, 3) })).feature;
    assert.equal(f.id, fid(1, 3));
    assert.deepEqual([f.featureId, f.transcoderId, f.layer, f.index, f.featureIndex], ["1_3", T, 1, 3, 3]);
    close(f.density, (1 * N_FEATURES + 3 + 1) / 1000);
    assert.deepEqual(f.label, {
      text: LABELS["1_3"]!.text,
      source: "heuristic",
      description: LABELS["1_3"]!.description,
      score: null,
      scores: [],
      current: true,
    });
    assert.deepEqual(f.histogram, { binEdges: [0, 1, 2, 3], binWidth: 1, counts: [8, 3, 1] });
    const ex = examplesOf(1, 3).top[0]!;
    const acts = ex.tokens.map((_, p) => ex.acts.find(([q]) => q === p)?.[1] ?? 0);
    assert.deepEqual(f.topExamples[0], {
      id: ex.id,
      tokens: ex.tokens,
      activations: acts,
      maxActivation: ex.maxActivation,
      maxPosition: 4,
    });
    assert.equal(f.topExamples.length, 3);
    assert.deepEqual(
      f.quantileExamples.map((q: Json) => [q.quantileLow, q.quantileHigh, q.lower, q.upper]),
      [
        [0, 0.5, 0, 1],
        [0.5, 1, 1, 2],
      ],
    );
    assert.deepEqual(f.quantileExamples[1].examples[0].activations, [1.5, 0]);
    assert.deepEqual(
      f.topLogits,
      topLogitsOf(1, 3)
        .slice(0, 3)
        .map((l) => ({ token: l.token, tokenId: l.tokenId, value: l.value })),
    );
    assert.equal(f.bottomLogits.length, 3);
    assert.deepEqual(f.heatmap, {
      rows: [6, 7],
      columns: [0, 1],
      values: [
        [0.2, 0.4],
        [0.6, 0.8],
      ],
    });
    assert.deepEqual(f.greaterThan, { rank: 2, types: ["narrow-context", "greater-than"] });
    assert.deepEqual(f.graphs.map((g: Json) => g.id).sort(), [`${RUN}-g0`, `${RUN}-g1`]);
    assert.equal(f.graphCount, 2);
    const up = expectedNeighbors(fid(1, 3), "up");
    assert.deepEqual(
      f.upstream.map((n: Json) => n.feature.id),
      up.slice(0, 10).map((e) => e.other),
    );
    f.upstream.forEach((n: Json, i: number) => {
      close(n.weight, up[i]!.weight);
      assert.equal(n.count, up[i]!.count);
      assert.equal(n.graphs, up[i]!.graphs);
    });
    const down = expectedNeighbors(fid(1, 3), "down");
    assert.deepEqual(
      f.downstream.map((n: Json) => n.feature.id),
      down.map((e) => e.other),
    );
    const virt = VIRTUAL.filter((v) => v.source === fid(1, 3) || v.target === fid(1, 3));
    assert.deepEqual(
      f.virtualNeighbors.map((v: Json) => [v.feature.id, v.weight, v.direction]),
      virt
        .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))
        .map((v) => (v.target === fid(1, 3) ? [v.source, v.weight, "UPSTREAM"] : [v.target, v.weight, "DOWNSTREAM"])),
    );
    assert.deepEqual(f.causalEffects, []);
  });

  test("llm label scores, causal effects of a validated feature", async () => {
    const f = (await data(api, FEATURE, { id: fid(2, 5) })).feature;
    assert.deepEqual(
      f.label.scores,
      LLM_SCORES.map((s) => ({
        name: s.type,
        value: s.value,
        n: s.positives + s.negatives,
        lower: s.ci95[0],
        upper: s.ci95[1],
      })),
    );
    const g = (await data(api, FEATURE, { id: fid(0, 1) })).feature;
    // 0_1 is the first (validated) node of both seed graphs.
    assert.deepEqual(
      g.causalEffects.map((c: Json) => [
        c.graphId,
        c.nodeId,
        c.predicted,
        c.measuredLive,
        c.measuredFrozen,
        c.target,
        c.graph.id,
      ]),
      [
        [`${RUN}-g0`, "0_1_1", -0.5, -0.4, -0.45, "2", `${RUN}-g0`],
        [`${RUN}-g1`, "0_1_1", -1.5, -1.4, -1.45, "2", `${RUN}-g1`],
      ],
    );
    assert.equal(g.causalSummary.count, 2);
    close(g.causalSummary.predictedMean, -1);
  });

  test("upstream/downstream within one graph, first and minWeight", async () => {
    const q = `query($id: ID!, $g: ID, $first: Int, $min: Float) { feature(id: $id) {
      upstream(graphId: $g, first: $first, minWeight: $min) { feature { id } weight count graphs }
      downstream(graphId: $g) { feature { id } weight } } }`;
    for (const g of [0, 1]) {
      const f = (await data(api, q, { id: fid(3, 1), g: `${RUN}-g${g}` })).feature;
      const up = expectedNeighbors(fid(3, 1), "up", g);
      assert.deepEqual(
        f.upstream.map((n: Json) => n.feature.id),
        up.map((e) => e.other),
      );
      f.upstream.forEach((n: Json, i: number) => {
        close(n.weight, up[i]!.weight);
        assert.equal(n.count, up[i]!.count);
        assert.equal(n.graphs, 1);
      });
      assert.deepEqual(f.downstream, []);
    }
    const all = expectedNeighbors(fid(3, 1), "up");
    const top2 = (await data(api, q, { id: fid(3, 1), first: 2 })).feature.upstream;
    assert.deepEqual(
      top2.map((n: Json) => n.feature.id),
      all.slice(0, 2).map((e) => e.other),
    );
    const min = 0.8;
    const strong = (await data(api, q, { id: fid(3, 1), min })).feature.upstream;
    assert.deepEqual(
      strong.map((n: Json) => n.feature.id),
      all.filter((e) => Math.abs(e.weight) >= min).map((e) => e.other),
    );
  });

  test("short ids, unknown ids and features(ids)", async () => {
    // Short ids resolve only when a single transcoder has the feature; here unknown short ids are NOT_FOUND.
    const r = await gql(api, FEATURE, { id: "99_99999" });
    assert.deepEqual(codes(r), ["NOT_FOUND"]);
    assert.equal(r.body.data?.feature, null);
    assert.deepEqual(codes(await gql(api, FEATURE, { id: `${T}/9_9` })), ["NOT_FOUND"]);
    assert.deepEqual(codes(await gql(api, FEATURE, { id: "x".repeat(301) })), ["BAD_USER_INPUT"]);
    const d = await data(api, `query($ids: [ID!]!) { features(ids: $ids) { id } }`, {
      ids: [fid(0, 1), "nope", fid(3, 6)],
    });
    assert.deepEqual(
      d.features.map((f: Json) => f.id),
      [fid(0, 1), fid(3, 6)],
    );
  });
});

// ── graphs ──────────────────────────────────────────────────────────────────────────────────────

describe("graphs and graph", () => {
  test("cursor connection: totalCount, pages, newest first", async () => {
    const q = `query($first: Int, $after: String) { graphs(first: $first, after: $after, transcoder: "${T}") {
      totalCount edges { cursor node { id prompt } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`;
    const p1 = (await data(api, q, { first: 1 })).graphs;
    assert.equal(p1.totalCount, 2);
    assert.equal(p1.pageInfo.hasNextPage, true);
    const p2 = (await data(api, q, { first: 1, after: p1.pageInfo.endCursor })).graphs;
    assert.equal(p2.pageInfo.hasNextPage, false);
    assert.equal(p2.pageInfo.hasPreviousPage, true);
    assert.deepEqual([...p1.edges, ...p2.edges].map((e: Json) => e.node.id).sort(), [`${RUN}-g0`, `${RUN}-g1`]);
    assert.deepEqual(codes(await gql(api, q, { first: 1000 })), ["BAD_USER_INPUT"]);
  });

  const G = `query($id: ID!, $n: Float, $e: Float) { graph(id: $id, nodeThreshold: $n, edgeThreshold: $e) {
    id prompt tokens targetLogits { token tokenId probability } nodeThreshold edgeThreshold nodeCount edgeCount
    nodes { id kind layer position activation influence feature { id label { text } } token probability isTarget }
    edges { source target weight } replacementScore completenessScore validationSpearmanLive json } }`;

  test("nodes, edges, scores and circuit-tracer JSON of a stored graph", async () => {
    const input = graphInput(0);
    const g = (await data(api, G, { id: `${RUN}-g0` })).graph;
    assert.equal(g.prompt, input.graph.prompt);
    assert.deepEqual(g.tokens, input.graph.tokens);
    assert.deepEqual(g.targetLogits, [{ token: "2", tokenId: 17, probability: 0.5 }]);
    assert.equal(g.nodeCount, input.nodes.length);
    assert.equal(g.edgeCount, input.edges.length);
    assert.deepEqual(g.nodes.map((n: Json) => n.id).sort(), input.nodes.map((n) => n.nodeId).sort());
    const byId = new Map(input.nodes.map((n) => [n.nodeId, n]));
    for (const n of g.nodes) {
      const s = byId.get(n.id)!;
      assert.equal(n.kind, s.kind.toUpperCase());
      assert.equal(n.layer, s.layer);
      assert.equal(n.position, s.position);
      assert.equal(n.feature?.id ?? null, s.featureId ?? null);
    }
    assert.equal(g.nodes.find((n: Json) => n.id === "2_5_3").feature.label.text, LABELS["2_5"]!.text);
    const expected = new Map(
      input.edges.map((e) => [`${input.nodes[e.source]!.nodeId}>${input.nodes[e.target]!.nodeId}`, e.weight]),
    );
    assert.equal(g.edges.length, expected.size);
    for (const e of g.edges) close(e.weight, expected.get(`${e.source}>${e.target}`)!);
    assert.equal(g.replacementScore, 0.7);
    assert.equal(g.validationSpearmanLive, 0.6);
    // The download validates against the pipeline's circuit-tracer schema and matches nodes/links.
    const json = circuitTracerGraphSchema.parse(g.json);
    assert.equal(json.metadata.slug, `${RUN}-g0`);
    assert.equal(json.metadata.scan, T);
    assert.equal(json.nodes.length, g.nodes.length);
    assert.equal(json.links.length, g.edges.length);
    assert.equal(json.nodes.find((n) => n.node_id === "2_5_3")!.clerp, LABELS["2_5"]!.text);
    assert.equal(json.nodes.find((n) => n.node_id === "4_17_2")!.layer, String(N_LAYERS + 1));
  });

  test("thresholds prune nodes by cumulative influence and edges by |weight| share", async () => {
    const input = graphInput(0);
    const full = (await data(api, G, { id: `${RUN}-g0` })).graph;
    const g = (await data(api, G, { id: `${RUN}-g0`, n: 0.4, e: 0.5 })).graph;
    assert.equal(g.nodeThreshold, 0.4);
    assert.equal(g.edgeThreshold, 0.5);
    const keptFeatures = g.nodes.filter((n: Json) => n.kind === "FEATURE");
    assert.ok(keptFeatures.every((n: Json) => n.influence <= 0.4));
    assert.ok(g.nodeCount < full.nodeCount && g.edgeCount < full.edgeCount);
    assert.equal(g.nodeCount, g.nodes.length);
    // Independent: edges among kept nodes, strongest first until ≥ 50% of their total |weight|.
    const keep = new Set(
      input.nodes.filter((n) => n.kind !== "feature" || (n.influence ?? 0) <= 0.4).map((n) => n.nodeId),
    );
    const among = input.edges
      .filter((e) => keep.has(input.nodes[e.source]!.nodeId) && keep.has(input.nodes[e.target]!.nodeId))
      .map((e) => Math.abs(e.weight))
      .sort((a, b) => b - a);
    const total = among.reduce((s, w) => s + w, 0);
    let k = 0;
    for (let acc = 0; k < among.length && (k === 0 || acc < 0.5 * total); k++) acc += among[k]!;
    assert.equal(g.edgeCount, k);
    const ids = new Set(g.nodes.map((n: Json) => n.id));
    for (const e of g.edges) assert.ok(ids.has(e.source) && ids.has(e.target));
    for (const bad of [0, -0.1, 1.5])
      assert.deepEqual(codes(await gql(api, G, { id: `${RUN}-g0`, n: bad })), ["BAD_USER_INPUT"]);
  });

  test("unknown graph → NOT_FOUND", async () => {
    const r = await gql(api, G, { id: "no-such-graph" });
    assert.deepEqual(codes(r), ["NOT_FOUND"]);
    assert.equal(r.body.data?.graph, null);
  });
});

// ── circuits and paths ──────────────────────────────────────────────────────────────────────────

describe("circuit and paths", () => {
  const C = `query($f: ID!, $d: Direction, $depth: Int, $first: Int, $g: ID, $min: Float) {
    circuit(featureId: $f, direction: $d, depth: $depth, first: $first, graphId: $g, minWeight: $min) {
      nodes { id depth feature { id } } edges { source target weight count } } }`;

  test("k-hop neighbourhood equals a BFS over the aggregate computed here", async () => {
    const agg = [...aggregate().entries()].map(([k, v]) => {
      const [a, b] = k.split(">") as [string, string];
      return { a, b, w: v.weight };
    });
    for (const [dir, depth, first] of [
      ["UPSTREAM", 2, 10],
      ["DOWNSTREAM", 2, 2],
      ["BOTH", 1, 3],
    ] as const) {
      const c = (await data(api, C, { f: fid(2, 5), d: dir, depth, first })).circuit;
      // Independent BFS.
      const depthOf = new Map([[fid(2, 5), 0]]);
      const edges = new Set<string>();
      let frontier = [fid(2, 5)];
      for (let hop = 1; hop <= depth; hop++) {
        const next: string[] = [];
        for (const d of dir === "BOTH" ? ["UPSTREAM", "DOWNSTREAM"] : [dir]) {
          for (const x of frontier) {
            const list = agg
              .filter((e) => (d === "UPSTREAM" ? e.b === x : e.a === x))
              .map((e) => ({ ...e, other: d === "UPSTREAM" ? e.a : e.b }))
              .sort((p, q) => Math.abs(q.w) - Math.abs(p.w) || (p.other < q.other ? -1 : 1))
              .slice(0, first);
            for (const e of list) {
              edges.add(`${e.a}>${e.b}`);
              if (!depthOf.has(e.other)) {
                depthOf.set(e.other, hop);
                next.push(e.other);
              }
            }
          }
        }
        frontier = next;
      }
      assert.deepEqual(
        c.nodes.map((n: Json) => [n.id, n.depth]).sort(),
        [...depthOf.entries()].sort(),
        `${dir} depth ${depth}`,
      );
      assert.deepEqual(c.edges.map((e: Json) => `${e.source}>${e.target}`).sort(), [...edges].sort());
      assert.ok(c.nodes.every((n: Json) => n.feature.id === n.id));
    }
  });

  test("circuit within one graph, limits and NOT_FOUND", async () => {
    const c = (await data(api, C, { f: fid(2, 5), d: "UPSTREAM", depth: 1, g: `${RUN}-g1` })).circuit;
    const up = expectedNeighbors(fid(2, 5), "up", 1);
    assert.deepEqual(c.edges.map((e: Json) => e.source).sort(), up.map((e) => e.other).sort());
    assert.deepEqual(codes(await gql(api, C, { f: fid(2, 5), depth: 9 })), ["BAD_USER_INPUT"]);
    assert.deepEqual(codes(await gql(api, C, { f: fid(2, 5), first: 51 })), ["BAD_USER_INPUT"]);
    assert.deepEqual(codes(await gql(api, C, { f: "nope/1_1" })), ["NOT_FOUND"]);
    assert.deepEqual(codes(await gql(api, C, { f: fid(2, 5), g: "no-graph" })), ["NOT_FOUND"]);
  });

  test("paths: strongest by the product of normalized |weights|, checked by brute force", async () => {
    const P = `query($a: ID!, $b: ID!, $h: Int, $first: Int, $g: ID) { paths(from: $a, to: $b, maxHops: $h, first: $first, graphId: $g) {
      score sign hops nodes { id } edges { source target weight } } }`;
    for (const g of [undefined, 0]) {
      const agg = aggregate(g);
      const out = new Map<string, { b: string; w: number }[]>();
      const inAbs = new Map<string, number>();
      for (const [k, v] of agg) {
        const [a, b] = k.split(">") as [string, string];
        out.set(a, [...(out.get(a) ?? []), { b, w: v.weight }]);
        inAbs.set(b, (inAbs.get(b) ?? 0) + Math.abs(v.weight));
      }
      const found: { nodes: string[]; score: number; sign: number }[] = [];
      const walk = (nodes: string[], score: number, sign: number) => {
        const tip = nodes.at(-1)!;
        if (tip === fid(3, 1) && nodes.length > 1) {
          found.push({ nodes, score, sign });
          return;
        }
        if (nodes.length > 3) return;
        for (const e of out.get(tip) ?? []) {
          if (nodes.includes(e.b)) continue;
          walk([...nodes, e.b], (score * Math.abs(e.w)) / inAbs.get(e.b)!, e.w < 0 ? -sign : sign);
        }
      };
      walk([fid(0, 1)], 1, 1);
      found.sort((x, y) => y.score - x.score);
      const ps = (
        await data(api, P, { a: fid(0, 1), b: fid(3, 1), h: 3, first: 5, g: g === undefined ? null : `${RUN}-g${g}` })
      ).paths;
      assert.equal(ps.length, Math.min(5, found.length));
      ps.forEach((p: Json, i: number) => {
        close(p.score, found[i]!.score, 1e-9);
        assert.deepEqual(
          p.nodes.map((n: Json) => n.id),
          found[i]!.nodes,
        );
        assert.equal(p.sign, found[i]!.sign);
        assert.equal(p.hops, found[i]!.nodes.length - 1);
        assert.ok(p.score > 0 && p.score <= 1);
      });
    }
    assert.deepEqual((await data(api, P, { a: fid(3, 1), b: fid(0, 1) })).paths, []);
    assert.deepEqual(codes(await gql(api, P, { a: fid(0, 1), b: fid(3, 1), h: 6 })), ["BAD_USER_INPUT"]);
    assert.deepEqual(codes(await gql(api, P, { a: fid(0, 1), b: "nope" })), ["NOT_FOUND"]);
  });
});

// ── study, atlas, transcoders ───────────────────────────────────────────────────────────────────

describe("study and overview", () => {
  test("study(name: greater-than): metrics, ranked features with heatmaps", async () => {
    const s = (
      await data(
        api,
        `{ study(name: "greater-than", transcoder: "${T}") { id name transcoderId graphs verdict meanReplacementScore
          original { n probabilityDifference heatmap { rows columns values } } replacement { probabilityDifference }
          features { rank influence types feature { id label { text } } heatmap { rows columns values } activationProfile } } }`,
      )
    ).study;
    assert.equal(s.name, "greater-than");
    assert.equal(s.verdict, "partially reproduces");
    assert.deepEqual(s.original.heatmap, {
      rows: [1, 2],
      columns: [0, 1],
      values: [
        [0.1, 0.2],
        [0.3, 0.4],
      ],
    });
    assert.equal(s.replacement.probabilityDifference, 0.7);
    assert.deepEqual(
      s.features.map((f: Json) => [f.rank, f.feature.id]),
      [
        [1, fid(3, 1)],
        [2, fid(1, 3)],
      ],
    );
    assert.equal(s.features[0].feature.label.text, LABELS["3_1"]!.text);
    assert.deepEqual(s.features[0].heatmap.values, [
      [0.1, 0.2],
      [0.3, 0.4],
    ]);
    assert.deepEqual(codes(await gql(api, `{ study(name: "less-than") { id } }`)), ["NOT_FOUND"]);
  });

  test("atlas overview and transcoders", async () => {
    const d = await data(
      api,
      `{ atlas { featureCount labeledFeatureCount labelCoverage graphCount
      labelSources { source count } featuredGraphs(first: 50) { id } transcoders { id } models { id } studies { id } }
      transcoders { id kind nLayers nFeatures featureCount model { id } } }`,
    );
    assert.ok(d.atlas.featureCount >= N_LAYERS * N_FEATURES);
    assert.ok(d.atlas.labeledFeatureCount >= Object.keys(LABELS).length);
    close(d.atlas.labelCoverage, d.atlas.labeledFeatureCount / d.atlas.featureCount);
    assert.ok(d.atlas.featuredGraphs.some((g: Json) => g.id === `${RUN}-g0`));
    const t = d.transcoders.find((x: Json) => x.id === T);
    assert.deepEqual(t, {
      id: T,
      kind: "clt",
      nLayers: N_LAYERS,
      nFeatures: N_FEATURES,
      featureCount: 32,
      model: { id: `${RUN}-model` },
    });
  });
});
