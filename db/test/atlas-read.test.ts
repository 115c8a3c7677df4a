// The read side (src/atlas/read.ts) against the real Neo4j: batched reads answer per id in the order
// asked, and the feature→feature edges equal the store's independent Cypher recomputation from the
// per-graph ATTRIBUTES edges. (Every read is also exercised through the API in apps/api/test.)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  featureEdges,
  featuresByIds,
  graphsOfFeatures,
  incomingAbsWeight,
  luceneQuery,
  qualifiedFeatureId,
  writeGraph,
} from "../src/atlas/index.ts";
import { closeDriver } from "../src/driver.ts";
import { cleanupScope, recomputedInfluences, scope, smallGraph, upsertScope } from "./atlas-helpers.ts";
import { requireServer } from "./helpers.ts";

const S = scope("read");
const f = (l: number, i: number) => qualifiedFeatureId(S.transcoderId, l, i);

before(async () => {
  await requireServer();
  await upsertScope(S, 8);
  await writeGraph(
    smallGraph(
      S,
      "a",
      [
        [0, 1, 1],
        [1, 2, 2],
        [2, 3, 2],
        [2, 3, 1],
        [3, 4, 2],
      ],
      0,
    ),
  );
  await writeGraph(
    smallGraph(
      S,
      "b",
      [
        [0, 1, 1],
        [2, 3, 2],
        [3, 4, 2],
      ],
      1,
    ),
  );
});

after(async () => {
  await cleanupScope(S);
  await closeDriver();
});

test("luceneQuery keeps only words: no Lucene syntax survives", () => {
  assert.equal(luceneQuery("year"), "year^2 year~1");
  assert.equal(luceneQuery("Années 17"), "années^2 années~1 17^2");
  assert.equal(
    luceneQuery('title:"x" AND (y OR z)* ~ ^ \\ / [a TO b] {c} !d -e +f &&'),
    luceneQuery("title x AND y OR z a TO b c d e f"),
  );
  assert.equal(luceneQuery("extraordinarily"), "extraordinarily^2 extraordinarily~2");
  assert.equal(luceneQuery("  ¿¡ *** "), "");
  assert.ok(luceneQuery("a ".repeat(100)).split(" ").length <= 2);
});

test("featuresByIds: one row per id asked, in order, null for unknown ids", async () => {
  const rows = await featuresByIds([f(2, 3), "nope", f(0, 1), f(2, 3)]);
  assert.deepEqual(
    rows.map((r) => r?.id ?? null),
    [f(2, 3), null, f(0, 1), f(2, 3)],
  );
  assert.equal(rows[0]!.graphCount, 2);
});

test("featureEdges (aggregate) equal the recomputation from per-graph edges, strongest first", async () => {
  const agg = await recomputedInfluences(S.transcoderId);
  const ids = [f(0, 1), f(1, 2), f(2, 3), f(3, 4)];
  const [down, up] = await Promise.all([
    featureEdges(ids, { direction: "downstream", limit: 100 }),
    featureEdges(ids, { direction: "upstream", limit: 100 }),
  ]);
  ids.forEach((id, k) => {
    const want = agg.filter((e) => e.a === id).sort((x, y) => Math.abs(y.weightSum) - Math.abs(x.weightSum));
    assert.deepEqual(
      down[k]!.map((e) => e.otherId),
      want.map((e) => e.b),
    );
    down[k]!.forEach((e, i) => {
      assert.ok(Math.abs(e.weight - want[i]!.weightSum) < 1e-9);
      assert.equal(e.count, want[i]!.count);
      assert.equal(e.graphs, want[i]!.graphs);
    });
    assert.deepEqual(
      up[k]!.map((e) => e.otherId).sort(),
      agg
        .filter((e) => e.b === id)
        .map((e) => e.a)
        .sort(),
    );
  });
  const top1 = await featureEdges([f(0, 1)], { direction: "downstream", limit: 1, minWeight: 0 });
  assert.equal(top1[0]!.length, 1);
  const totals = await incomingAbsWeight([f(3, 4)], null);
  const want = agg.filter((e) => e.b === f(3, 4)).reduce((s, e) => s + Math.abs(e.weightSum), 0);
  assert.ok(Math.abs(totals.get(f(3, 4))! - want) < 1e-9);
});

test("graphsOfFeatures: the graphs containing each feature", async () => {
  const [a, b] = await graphsOfFeatures([f(1, 2), f(2, 3)], 10);
  assert.deepEqual(
    a!.map((g) => g.id),
    [`${S.graphPrefix}-a`],
  );
  assert.deepEqual(b!.map((g) => g.id).sort(), [`${S.graphPrefix}-a`, `${S.graphPrefix}-b`]);
});
