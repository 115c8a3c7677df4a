// The SDL is a public contract: these tests fail when a field or operation that clients rely on
// (issue #13's list) is renamed or removed, and when the generated types are stale.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { generate } from "@graphql-codegen/cli";
import { buildSchema, parse, validate } from "graphql";
import config from "../codegen.ts";
import { schemaPath, typeDefs } from "../src/index.ts";

const schema = buildSchema(typeDefs);

function errorsOf(doc: string): string[] {
  return validate(schema, parse(doc)).map((e) => e.message);
}

test("the contract's operations and fields validate against the SDL", () => {
  const doc = `
    query Search($q: String!, $layer: Int, $t: ID, $first: Int, $after: String) {
      searchFeatures(query: $q, layer: $layer, transcoder: $t, first: $first, after: $after) {
        totalCount edges { cursor score feature { id } } pageInfo { hasNextPage endCursor }
      }
    }
    query F($id: ID!, $g: ID) {
      feature(id: $id) {
        id layer index label { text source scores { name value } provenance } labelHistory { text }
        density histogram { binEdges counts } maxActivation
        topExamples { tokens activations } quantileExamples { lower upper examples { tokens activations } }
        topLogits { token value } bottomLogits { token value } heatmap { rows columns values }
        upstream { feature { id } weight } downstream { feature { id } weight }
        a: upstream(first: 3, graphId: $g, minWeight: 0.1) { feature { id } weight }
        b: downstream(first: 3, graphId: $g, minWeight: 0.1) { feature { id } weight }
        virtualNeighbors { feature { id } weight } graphs { id }
        causalEffects { graphId predicted measuredLive measuredFrozen }
      }
    }
    query Gs($first: Int, $after: String) {
      graphs(first: $first, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
    }
    query G($id: ID!, $n: Float, $e: Float) {
      graph(id: $id, nodeThreshold: $n, edgeThreshold: $e) {
        id prompt tokens nodes { id kind layer position activation influence feature { id } }
        edges { source target weight } replacementScore completenessScore json
      }
    }
    query C($f: ID!, $g: ID) {
      circuit(featureId: $f, direction: UPSTREAM, depth: 2, minWeight: 0.0, graphId: $g, first: 5) {
        nodes { id } edges { source target weight }
      }
    }
    query P($a: ID!, $b: ID!, $g: ID) {
      paths(from: $a, to: $b, maxHops: 3, graphId: $g, first: 5) { score nodes { id } edges { source target weight } }
    }
    query S { study(name: "greater-than") { name original { probabilityDifference } features { rank feature { id } heatmap { values } } } }
    query J($id: ID!) { job(id: $id) { id status graphId error } }
    mutation L($f: ID!, $t: String!, $n: String) { setLabel(featureId: $f, text: $t, note: $n) { id text source provenance } }
    mutation T($p: String!) { traceGraph(prompt: $p) { id status } }
  `;
  assert.deepEqual(errorsOf(doc), []);
});

test("Direction is an enum of UPSTREAM, DOWNSTREAM, BOTH", () => {
  assert.deepEqual(errorsOf(`{ circuit(featureId: "x", direction: SIDEWAYS) { nodes { id } } }`).length, 1);
  const dir = schema.getType("Direction");
  assert.ok(dir && "getValues" in dir);
  assert.deepEqual(
    (dir as import("graphql").GraphQLEnumType).getValues().map((v) => v.name),
    ["UPSTREAM", "DOWNSTREAM", "BOTH"],
  );
});

test("every argument of upstream/downstream is optional, queries need no arguments beyond ids", () => {
  const feature = schema.getType("Feature") as import("graphql").GraphQLObjectType;
  for (const name of ["upstream", "downstream"]) {
    const args = feature.getFields()[name]!.args;
    assert.deepEqual(args.map((a) => a.name).sort(), ["first", "graphId", "minWeight"]);
    for (const a of args) assert.ok(!String(a.type).endsWith("!"), `${name}(${a.name}) must be optional`);
  }
});

test("schemaPath points at the SDL file", () => {
  assert.equal(readFileSync(schemaPath, "utf8"), typeDefs);
});

test("src/generated/types.ts is what graphql-codegen generates from schema.graphql", async () => {
  const cwd = process.cwd();
  process.chdir(new URL("..", import.meta.url).pathname);
  try {
    const files = await generate({ ...config, silent: true }, false);
    const out = files.find((f: { filename: string }) => f.filename.endsWith("src/generated/types.ts"));
    assert.ok(out, "codegen produced src/generated/types.ts");
    const committed = readFileSync(new URL("../src/generated/types.ts", import.meta.url), "utf8");
    assert.equal(committed, out.content, "stale: run `npm run codegen -w @circuit-atlas/graph-schema`");
  } finally {
    process.chdir(cwd);
  }
});
