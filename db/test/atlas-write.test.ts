import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  deleteGraph,
  deleteTranscoder,
  ensureTranscoderFeatures,
  FeatureRow,
  InfluencesRel,
  parseFeatureId,
  qualifiedFeatureId,
  upsertFeatures,
  upsertLabels,
  writeGraph,
  writeGraphs,
} from "../src/atlas/index.ts";
import { closeDriver, readTx } from "../src/driver.ts";
import { DbError, NotFoundError } from "../src/errors.ts";
import {
  cleanupScope,
  type PairAggregate,
  recomputedInfluences,
  scope,
  scopeCounts,
  smallGraph,
  storedInfluences,
  upsertScope,
} from "./atlas-helpers.ts";
import { requireServer } from "./helpers.ts";

const S = scope("write");

function assertAggregatesMatch(stored: PairAggregate[], recomputed: PairAggregate[]): void {
  assert.equal(stored.length, recomputed.length, "one INFLUENCES per feature pair that has edges");
  for (const [i, r] of recomputed.entries()) {
    const s = stored[i]!;
    assert.equal(s.a, r.a);
    assert.equal(s.b, r.b);
    assert.equal(s.key, r.key, "INFLUENCES key is {source id}>{target id}");
    assert.equal(s.count, r.count, `${r.a}→${r.b} count`);
    assert.equal(s.graphs, r.graphs, `${r.a}→${r.b} graphs`);
    assert.ok(Math.abs(s.weightSum - r.weightSum) < 1e-9, `${r.a}→${r.b} weightSum ${s.weightSum} vs ${r.weightSum}`);
    assert.ok(Math.abs(s.weightAbsSum - r.weightAbsSum) < 1e-9, `${r.a}→${r.b} weightAbsSum`);
  }
}

const FEATS_A: [number, number, number][] = [
  [0, 1, 1],
  [0, 2, 2],
  [1, 5, 1],
  [1, 5, 2], // same feature at two positions: several edges per feature pair in one graph
  [2, 3, 2],
];
const FEATS_B: [number, number, number][] = [
  [0, 1, 2],
  [1, 5, 2],
  [2, 3, 2],
  [3, 0, 2],
];

describe("atlas write layer against the real server", () => {
  before(async () => {
    await requireServer();
    await cleanupScope(S);
    await upsertScope(S, 16);
  });
  after(async () => {
    await cleanupScope(S);
    await closeDriver();
  });

  test("qualified feature ids round-trip", () => {
    const id = qualifiedFeatureId("demo-clt", 2, 17);
    assert.equal(id, "demo-clt/2_17");
    assert.deepEqual(parseFeatureId(id), { transcoderId: "demo-clt", layer: 2, featureIndex: 17 });
    assert.equal(parseFeatureId("2_17"), null);
    assert.equal(parseFeatureId("a/b/2_17"), null);
  });

  test("feature stubs for the whole transcoder, once", async () => {
    assert.equal(await ensureTranscoderFeatures(S.transcoderId), 64);
    assert.equal(await ensureTranscoderFeatures(S.transcoderId), 0);
    const row = await readTx((tx) =>
      tx.one("MATCH (f:Feature {id: $id}) RETURN f {.*} AS f", { id: qualifiedFeatureId(S.transcoderId, 3, 15) }),
    );
    const f = FeatureRow.parse(row.f);
    assert.equal(f.layer, 3);
    assert.equal(f.featureIndex, 15);
    assert.equal(f.featureId, "3_15");
    await assert.rejects(ensureTranscoderFeatures(`${S.transcoderId}-missing`), NotFoundError);
  });

  test("feature statistics are stored as typed properties; integers stay integers", async () => {
    await upsertFeatures([
      {
        transcoderId: S.transcoderId,
        layer: 1,
        featureIndex: 5,
        density: 0.01,
        maxActivation: 7.5,
        histogram: JSON.stringify({ binWidth: 0.5, counts: [3, 4] }),
      },
    ]);
    const r = await readTx((tx) =>
      tx.one(
        "MATCH (f:Feature {id: $id}) RETURN f.density AS d, f.maxActivation AS m, valueType(f.layer) AS t, f.histogram AS h",
        { id: qualifiedFeatureId(S.transcoderId, 1, 5) },
      ),
    );
    assert.equal(r.d, 0.01);
    assert.equal(r.m, 7.5);
    assert.match(String(r.t), /^INTEGER/);
    assert.deepEqual(JSON.parse(String(r.h)), { binWidth: 0.5, counts: [3, 4] });
    await assert.rejects(
      upsertFeatures([{ transcoderId: S.transcoderId, layer: 1.5, featureIndex: 0 }]),
      (e: unknown) => e instanceof DbError && /feature 0: layer/.test(e.message),
    );
  });

  test("graphs: aggregates equal the sums over per-graph edges; rewriting is a no-op; delete keeps them consistent", async () => {
    const a = smallGraph(S, "a", FEATS_A, 0);
    const b = smallGraph(S, "b", FEATS_B, 1);
    assert.equal((await writeGraph(a)).status, "created");
    assert.equal((await writeGraph(b)).status, "created");

    const stored = await storedInfluences(S.transcoderId);
    for (const s of stored) InfluencesRel.parse({ ...s });
    assertAggregatesMatch(stored, await recomputedInfluences(S.transcoderId));
    // A pair present in both graphs counts both; the repeated feature gives count > graphs.
    const both = stored.find(
      (p) => p.a === qualifiedFeatureId(S.transcoderId, 0, 1) && p.b === qualifiedFeatureId(S.transcoderId, 1, 5),
    );
    assert.ok(both);
    assert.equal(both.graphs, 2);
    assert.equal(both.count, 3); // graph a: 0_1_1 → 1_5_1, 0_1_1 → 1_5_2; graph b: 0_1_2 → 1_5_2
    const before = await scopeCounts(S);
    assert.equal(before.graphs, 2);
    assert.equal(before.attributes, a.edges.length + b.edges.length);
    assert.equal(before.hasNode, a.nodes.length + b.nodes.length);

    assert.equal((await writeGraph(a)).status, "unchanged");
    assert.deepEqual(await scopeCounts(S), before);
    assertAggregatesMatch(await storedInfluences(S.transcoderId), await recomputedInfluences(S.transcoderId));

    // A changed graph under the same id replaces the old one.
    const a2 = smallGraph(S, "a", FEATS_A, 5);
    assert.equal((await writeGraph(a2)).status, "replaced");
    assert.deepEqual(await scopeCounts(S), before);
    assertAggregatesMatch(await storedInfluences(S.transcoderId), await recomputedInfluences(S.transcoderId));

    const graphCount = async (l: number, i: number) =>
      (
        await readTx((tx) =>
          tx.one("MATCH (f:Feature {id: $id}) RETURN f.graphCount AS c", {
            id: qualifiedFeatureId(S.transcoderId, l, i),
          }),
        )
      ).c;
    assert.equal(await graphCount(1, 5), 2);
    assert.equal(await graphCount(0, 2), 1);

    assert.equal(await deleteGraph(b.graph.id), true);
    assert.equal(await deleteGraph(b.graph.id), false);
    const afterDelete = await storedInfluences(S.transcoderId);
    assertAggregatesMatch(afterDelete, await recomputedInfluences(S.transcoderId));
    assert.ok(
      !afterDelete.some((p) => p.a === qualifiedFeatureId(S.transcoderId, 2, 3) && p.b.endsWith("/3_0")),
      "pairs only graph b had are gone",
    );
    assert.equal(await graphCount(1, 5), 1);
    assert.equal(await graphCount(3, 0), 0);
    const c = await scopeCounts(S);
    assert.equal(c.graphs, 1);
    assert.equal(c.graphNodes, a2.nodes.length);

    await deleteGraph(a2.graph.id);
    assert.equal((await storedInfluences(S.transcoderId)).length, 0);
    assert.equal((await scopeCounts(S)).graphNodes, 0);
  });

  test("a batch of graphs in one transaction: same aggregates as one at a time; unchanged and replaced graphs mixed in", async () => {
    const a = smallGraph(S, "a", FEATS_A, 0);
    const b = smallGraph(S, "b", FEATS_B, 1);
    const rs = await writeGraphs([a, b]);
    assert.deepEqual(
      rs.map((r) => r.status),
      ["created", "created"],
    );
    const stored = await storedInfluences(S.transcoderId);
    assertAggregatesMatch(stored, await recomputedInfluences(S.transcoderId));
    const both = stored.find(
      (p) => p.a === qualifiedFeatureId(S.transcoderId, 0, 1) && p.b === qualifiedFeatureId(S.transcoderId, 1, 5),
    );
    assert.equal(both?.graphs, 2, "a pair in both graphs of one batch counts two graphs");
    assert.equal(both?.count, 3);
    const counts = await scopeCounts(S);
    assert.equal(counts.ofs, [...a.nodes, ...b.nodes].filter((n) => n.kind === "feature").length);
    const gc = await readTx((tx) =>
      tx.one("MATCH (f:Feature {id: $id}) RETURN f.graphCount AS c", { id: qualifiedFeatureId(S.transcoderId, 1, 5) }),
    );
    assert.equal(gc.c, 2, "graphCount counts each graph of the batch once");

    // b unchanged, a replaced by different content, in one batch.
    const a2 = smallGraph(S, "a", FEATS_A, 5);
    assert.deepEqual(
      (await writeGraphs([a2, b])).map((r) => r.status),
      ["replaced", "unchanged"],
    );
    assert.deepEqual(await scopeCounts(S), counts);
    assertAggregatesMatch(await storedInfluences(S.transcoderId), await recomputedInfluences(S.transcoderId));
    await assert.rejects(writeGraphs([b, b]), /appears twice in one write batch/);

    await deleteGraph(a2.graph.id);
    await deleteGraph(b.graph.id);
    assert.equal((await storedInfluences(S.transcoderId)).length, 0);
  });

  test("graph validation: unknown transcoder, bad feature ids and bad edges are refused", async () => {
    const g = smallGraph(S, "bad", FEATS_A, 0);
    await assert.rejects(
      writeGraph({ ...g, graph: { ...g.graph, transcoderId: `${S.transcoderId}-nope` } }),
      /transcoder .* is not in the atlas|needs featureId/,
    );
    const badNode = structuredClone(g);
    badNode.nodes[0]!.featureId = qualifiedFeatureId(S.transcoderId, 3, 3);
    await assert.rejects(writeGraph(badNode), /feature node 0_1_1 needs featureId/);
    const badEdge = structuredClone(g);
    badEdge.edges.push({ source: 0, target: 999, weight: 1 });
    await assert.rejects(writeGraph(badEdge), /refers to a node index outside/);
    assert.equal((await scopeCounts(S)).graphs, 0, "nothing half-written");
  });

  test("labels: one current label per feature, denormalized for typo-tolerant full-text search", async () => {
    const f1 = qualifiedFeatureId(S.transcoderId, 2, 7);
    const f2 = qualifiedFeatureId(S.transcoderId, 2, 8);
    await upsertLabels([
      { featureId: f1, text: "numbers after a hyphen", source: "autointerp", explainer: "m1", score: 0.4 },
      {
        featureId: f1,
        text: "years greater than the start year",
        description: "fires on the century of a date range",
        source: "autointerp",
        explainer: "m2",
        score: 0.8,
      },
      { featureId: f2, text: "closing parenthesis", source: "human" },
    ]);
    const search = (q: string) =>
      readTx((tx) =>
        tx.rows<{ id: string }>(
          `CALL db.index.fulltext.queryNodes('featureSearch', $q) YIELD node, score
           WHERE node.transcoderId = $t RETURN node.id AS id ORDER BY score DESC`,
          { q, t: S.transcoderId },
        ),
      );
    assert.deepEqual(
      (await search("greater")).map((r) => r.id),
      [f1],
    );
    assert.deepEqual(
      (await search("greatr~ yaers~")).map((r) => r.id),
      [f1],
      "fuzzy terms find a misspelled query",
    );
    assert.deepEqual(
      (await search("centuyr~")).map((r) => r.id),
      [f1],
      "the description is searched too",
    );
    assert.deepEqual(
      (await search("hyphen")).map((r) => r.id),
      [],
      "a non-current label is not on the feature",
    );
    assert.deepEqual(
      (await search("parenthesis")).map((r) => r.id),
      [f2],
    );
    const labels = await readTx((tx) =>
      tx.rows<{ text: string; current: boolean }>(
        "MATCH (l:Label)-[:DESCRIBES]->(:Feature {id: $f}) RETURN l.text AS text, l.current AS current ORDER BY text",
        { f: f1 },
      ),
    );
    assert.deepEqual(labels, [
      { text: "numbers after a hyphen", current: false },
      { text: "years greater than the start year", current: true },
    ]);
    // The label history is searchable too.
    const hist = await readTx((tx) =>
      tx.rows<{ id: string }>(
        "CALL db.index.fulltext.queryNodes('labelSearch', 'hyphn~') YIELD node WHERE node.featureId = $f RETURN node.featureId AS id",
        { f: f1 },
      ),
    );
    assert.equal(hist.length, 1);
    // Re-upserting the same labels changes nothing.
    const n = (await scopeCounts(S)).labels;
    await upsertLabels([{ featureId: f2, text: "closing parenthesis", source: "human" }]);
    assert.equal((await scopeCounts(S)).labels, n);
    await assert.rejects(
      upsertLabels([{ featureId: qualifiedFeatureId(S.transcoderId, 9, 9), text: "x", source: "human" }]),
      /label for unknown feature/,
    );
  });
  test("deleteTranscoder removes that transcoder's graphs, labels, features and node, and nothing of another", async () => {
    const D = scope("delete");
    await upsertScope(D, 4);
    await ensureTranscoderFeatures(D.transcoderId);
    await writeGraph(
      smallGraph(
        D,
        "d",
        [
          [0, 1, 1],
          [1, 2, 2],
          [2, 3, 2],
        ],
        3,
      ),
    );
    await upsertLabels([{ featureId: qualifiedFeatureId(D.transcoderId, 1, 2), text: "x", source: "human" }]);
    const before = await scopeCounts(S);
    const d = await scopeCounts(D);
    assert.ok(d.features === 16 && d.graphs === 1 && d.graphNodes! > 0 && d.influences! > 0 && d.labels === 1);
    assert.equal(await deleteTranscoder(D.transcoderId), true);
    assert.ok(
      Object.values(await scopeCounts(D)).every((n) => n === 0),
      JSON.stringify(await scopeCounts(D)),
    );
    const left = await readTx((tx) =>
      tx.one<{ t: number; m: number }>(
        "CALL () { MATCH (t:Transcoder {id: $t}) RETURN count(t) AS t } CALL () { MATCH (m:Model {id: $m}) RETURN count(m) AS m } RETURN t, m",
        { t: D.transcoderId, m: D.modelId },
      ),
    );
    assert.deepEqual(left, { t: 0, m: 1 }, "the transcoder goes, the model stays");
    assert.deepEqual(await scopeCounts(S), before);
    assert.equal(await deleteTranscoder(D.transcoderId), false);
    await cleanupScope(D);
  });
});
