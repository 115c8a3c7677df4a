// The GraphQL API (`npm run api`, over HTTP) on the demo atlas that `atlas ingest` wrote from a real
// demo run (tests/src/demo-atlas.ts, shared with the browser test). Every expectation is computed
// here from the run's files on disk — the label file, the feature statistics, the graph JSONs — not
// from the database, so a wrong write or read anywhere between them fails a test.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { closeDriver, loadConfig, ping } from "@circuit-atlas/db";
import type { FeatureStats, LabelRecord } from "../../pipeline/src/features/formats.ts";
import { type DemoAtlas, demoAtlas } from "../src/demo-atlas.ts";
import { gqlData } from "../src/graphql.ts";
import { type Server, startApi } from "../src/stack.ts";

let demo: DemoAtlas;
let api: Server;
const q = <T>(query: string, variables: Record<string, unknown> = {}) => gqlData<T>(api.url, query, variables);

interface DiskGraph {
  metadata: { prompt: string; prompt_tokens: string[] };
  nodes: { node_id: string; feature_type: string; layer: string }[];
  links: { source: string; target: string; weight: number }[];
}

/** The current label of each feature ("{layer}_{index}"): the newest record in labels/labels.jsonl. */
function diskLabels(): Map<string, LabelRecord> {
  const out = new Map<string, LabelRecord>();
  for (const line of readFileSync(join(demo.cltDir, "labels", "labels.jsonl"), "utf8").split("\n")) {
    if (!line.trim()) continue;
    const l = JSON.parse(line) as LabelRecord;
    const had = out.get(l.featureId);
    if (!had || had.createdAt <= l.createdAt) out.set(l.featureId, l);
  }
  return out;
}

function diskStats(layer: number): FeatureStats[] {
  const text = gunzipSync(readFileSync(join(demo.cltDir, "features", `layer-${layer}.jsonl.gz`))).toString("utf8");
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as FeatureStats);
}

const diskGraph = (id: string) => JSON.parse(readFileSync(demo.graphFiles[id]!, "utf8")) as DiskGraph;

/**
 * Feature → feature weights of graph JSONs summed over positions (and over the given graphs): what
 * the store's per-graph ATTRIBUTES and cross-prompt INFLUENCES aggregate must answer.
 */
function featureEdges(graphIds: string[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const g of graphIds) {
    const j = diskGraph(g);
    const feat = new Map(
      j.nodes
        .filter((n) => n.feature_type === "cross layer transcoder")
        .map((n) => {
          const [layer, index] = n.node_id.split("_");
          return [n.node_id, `${demo.transcoderId}/${layer}_${index}`] as const;
        }),
    );
    for (const l of j.links) {
      const s = feat.get(l.source);
      const t = feat.get(l.target);
      if (!s || !t) continue;
      const k = `${s}>${t}`;
      sums.set(k, (sums.get(k) ?? 0) + l.weight);
    }
  }
  return sums;
}

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe("GraphQL API on the ingested demo run", { timeout: 30 * 60_000 }, () => {
  before(async () => {
    const db = await ping(loadConfig());
    if (!db.ok) throw new Error(`Neo4j is not reachable (${db.reason}): start it with \`npm run db:up\``);
    demo = await demoAtlas();
    api = await startApi("api-demo");
  });
  after(async () => {
    await api?.stop();
    await closeDriver();
  });

  test('searchFeatures "year": every feature whose label says "year" is found, hits carry labels, scores rank them', async () => {
    const labels = diskLabels();
    const expected = [...labels.values()]
      .filter((l) => /\byear\b/i.test(l.label))
      .map((l) => `${demo.transcoderId}/${l.featureId}`);
    assert.ok(expected.length >= 3, `the demo run's labels mention "year" (${expected.length})`);
    type Page = {
      searchFeatures: {
        totalCount: number;
        edges: {
          cursor: string;
          score: number;
          feature: { id: string; label: { text: string; source: string } | null };
        }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      };
    };
    const hits: Page["searchFeatures"]["edges"] = [];
    let after: string | null = null;
    let total = -1;
    for (let pages = 0; pages < 20; pages++) {
      const r: Page = await q<Page>(
        `query($t: ID, $after: String) { searchFeatures(query: "year", transcoder: $t, first: 100, after: $after) {
          totalCount edges { cursor score feature { id label { text source } } } pageInfo { hasNextPage endCursor } } }`,
        { t: demo.transcoderId, after },
      );
      total = r.searchFeatures.totalCount;
      hits.push(...r.searchFeatures.edges);
      if (!r.searchFeatures.pageInfo.hasNextPage) break;
      after = r.searchFeatures.pageInfo.endCursor;
    }
    assert.equal(hits.length, total, "walking the pages yields totalCount hits");
    assert.equal(new Set(hits.map((h) => h.feature.id)).size, hits.length, "no feature twice");
    assert.equal(new Set(hits.map((h) => h.cursor)).size, hits.length, "cursors are unique");
    const found = new Set(hits.map((h) => h.feature.id));
    const missing = expected.filter((id) => !found.has(id));
    assert.deepEqual(missing, [], "every label with the word is found");
    for (const [i, h] of hits.entries()) {
      assert.ok(Number.isFinite(h.score) && h.score > 0, `score of ${h.feature.id}: ${h.score}`);
      if (i > 0) assert.ok(h.score <= hits[i - 1]!.score, `ranked by score at ${i}`);
      const disk = labels.get(h.feature.id.slice(demo.transcoderId.length + 1));
      assert.ok(h.feature.label && disk, `${h.feature.id} has a label`);
      assert.equal(h.feature.label.text, disk.label);
      assert.equal(h.feature.label.source, disk.source);
    }
    // A hit's label mentions the word (or a one-edit variant such as "years") near the top.
    assert.match(hits[0]!.feature.label!.text, /\byears?\b/i);
  });

  test("feature by qualified id {transcoderId}/{layer}_{featureIndex}: the dashboard equals the statistics file", async () => {
    // The studied feature of rank 0 (it has a heatmap), checked against its line in features/layer-L.jsonl.gz.
    const s = await q<{ study: { features: { rank: number; feature: { id: string } }[] } }>(
      'query($t: ID) { study(name: "greater-than", transcoder: $t) { features(first: 1) { rank feature { id } } } }',
      { t: demo.transcoderId },
    );
    const [layer, index] = s.study.features[0]!.feature.id.split("/")[1]!.split("_").map(Number) as [number, number];
    const id = `${demo.transcoderId}/${layer}_${index}`;
    const stats = diskStats(layer).find((x) => x.featureIndex === index)!;
    assert.ok(stats.topExamples.length >= 1 && stats.histogram.counts.length >= 1);
    const f = (
      await q<{
        feature: {
          id: string;
          layer: number;
          index: number;
          density: number;
          maxActivation: number;
          histogram: { binWidth: number; binEdges: number[]; counts: number[] };
          topExamples: { tokens: string[]; activations: number[] }[];
          topLogits: { token: string; value: number }[];
          bottomLogits: { token: string; value: number }[];
          label: { text: string } | null;
          heatmap: { rows: number[]; columns: number[]; values: number[][] } | null;
        };
      }>(
        `query($id: ID!) { feature(id: $id) { id layer index density maxActivation histogram { binWidth binEdges counts }
          topExamples(first: 100) { tokens activations } topLogits(first: 100) { token value } bottomLogits(first: 100) { token value }
          label { text } heatmap { rows columns values } } }`,
        { id },
      )
    ).feature;
    assert.equal(f.id, id);
    assert.equal(f.layer, layer);
    assert.equal(f.index, index);
    close(f.density, stats.density, "density");
    close(f.maxActivation, stats.maxActivation, "maxActivation");
    assert.deepEqual(f.histogram.counts, stats.histogram.counts);
    close(f.histogram.binWidth, stats.histogram.binWidth, "binWidth");
    assert.equal(f.histogram.binEdges.length, stats.histogram.counts.length + 1);
    for (const [i, e] of f.histogram.binEdges.entries()) close(e, i * stats.histogram.binWidth, `binEdges[${i}]`);
    assert.equal(f.topExamples.length, stats.topExamples.length);
    for (const [i, ex] of f.topExamples.entries()) {
      assert.deepEqual(ex.tokens, stats.topExamples[i]!.tokens);
      for (const [k, a] of ex.activations.entries()) close(a, stats.topExamples[i]!.acts[k]!, `example ${i} act ${k}`);
    }
    assert.deepEqual(
      f.topLogits.map((l) => l.token),
      stats.logits.top.map((l) => l.token),
    );
    assert.deepEqual(
      f.bottomLogits.map((l) => l.token),
      stats.logits.bottom.map((l) => l.token),
    );
    assert.equal(f.label?.text, diskLabels().get(`${layer}_${index}`)?.label);
    assert.ok(f.heatmap, "the studied feature has its YY×ZZ heatmap");
    assert.equal(f.heatmap.columns.length, 100);
    assert.equal(f.heatmap.values.length, f.heatmap.rows.length);
    for (const row of f.heatmap.values) assert.equal(row.length, 100);
  });

  test("graph: nodes and links equal the graph JSON on disk; `json` round-trips them", async () => {
    for (const gid of demo.graphIds) {
      const disk = diskGraph(gid);
      const g = (
        await q<{
          graph: {
            prompt: string;
            tokens: string[];
            nodes: { id: string }[];
            edges: { source: string; target: string; weight: number }[];
            json: DiskGraph;
          };
        }>("query($id: ID!) { graph(id: $id) { prompt tokens nodes { id } edges { source target weight } json } }", {
          id: gid,
        })
      ).graph;
      assert.equal(g.prompt, disk.metadata.prompt);
      assert.deepEqual(g.tokens, disk.metadata.prompt_tokens);
      assert.equal(g.nodes.length, disk.nodes.length, `${gid} nodes`);
      assert.equal(g.edges.length, disk.links.length, `${gid} edges`);
      const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
      const want = sorted(disk.links.map((l) => l.weight));
      for (const [i, w] of sorted(g.edges.map((e) => e.weight)).entries()) close(w, want[i]!, `${gid} weight ${i}`);
      const json = g.json;
      assert.equal(json.nodes.length, disk.nodes.length);
      assert.equal(json.links.length, disk.links.length);
      assert.deepEqual(new Set(json.nodes.map((n) => n.node_id)), new Set(disk.nodes.map((n) => n.node_id)));
    }
  });

  test("circuit: upstream and downstream of a feature equal the sums over the graph JSONs (aggregate and per graph)", async () => {
    type C = {
      circuit: { nodes: { id: string; depth: number }[]; edges: { source: string; target: string; weight: number }[] };
    };
    const circuit = (featureId: string, direction: string, graphId: string | null) =>
      q<C>(
        `query($f: ID!, $d: Direction, $g: ID) { circuit(featureId: $f, direction: $d, depth: 1, first: 50, graphId: $g) {
          nodes { id depth } edges { source target weight } } }`,
        { f: featureId, d: direction, g: graphId },
      );
    const check = async (graphIds: string[], graphId: string | null) => {
      const sums = featureEdges(graphIds);
      const ins = new Map<string, Map<string, number>>();
      const outs = new Map<string, Map<string, number>>();
      for (const [k, w] of sums) {
        const [s, t] = k.split(">") as [string, string];
        if (!ins.has(t)) ins.set(t, new Map());
        ins.get(t)!.set(s, w);
        if (!outs.has(s)) outs.set(s, new Map());
        outs.get(s)!.set(t, w);
      }
      // The feature with the most neighbours on both sides (at most 50 each, so `first: 50` returns all).
      const f = [...ins.keys()]
        .filter((id) => outs.has(id) && ins.get(id)!.size <= 50 && outs.get(id)!.size <= 50)
        .sort(
          (a, b) => Math.min(ins.get(b)!.size, outs.get(b)!.size) - Math.min(ins.get(a)!.size, outs.get(a)!.size),
        )[0];
      assert.ok(f, "a feature with inputs and outputs from other features");
      for (const [direction, expect, end] of [
        ["UPSTREAM", ins.get(f)!, "source"],
        ["DOWNSTREAM", outs.get(f)!, "target"],
      ] as const) {
        const c: C["circuit"] = (await circuit(f, direction, graphId)).circuit;
        const got = new Map(c.edges.map((e) => [e[end], e]));
        assert.equal(got.size, expect.size, `${direction} of ${f} (${graphId ?? "aggregate"}): neighbour count`);
        for (const [n, w] of expect) {
          const e = got.get(n);
          assert.ok(e, `${direction} of ${f}: ${n} missing`);
          assert.equal(direction === "UPSTREAM" ? e.target : e.source, f);
          close(e.weight, w, `${direction} ${n}`);
        }
        assert.deepEqual(new Set(c.nodes.map((n) => n.id)), new Set([f, ...expect.keys()]));
        assert.equal(c.nodes.find((n) => n.id === f)?.depth, 0);
      }
    };
    await check(demo.graphIds, null);
    await check([demo.graphIds[0]!], demo.graphIds[0]!);
  });
});
