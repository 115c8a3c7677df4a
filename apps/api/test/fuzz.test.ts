// Fuzz: ≥ 2,000 generated requests (random strings full of Cypher/Lucene/GraphQL metacharacters in
// every argument, variables of every JSON type, mangled documents, raw bodies, mutations with
// wrong keys) against the real API and Neo4j. Asserts: never a 5xx, every error typed (no
// INTERNAL_SERVER_ERROR), and the database unchanged (fingerprint of all nodes, relationships and labels).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "@circuit-atlas/util";
import type { ApiServer } from "../src/index.ts";
import { withSeededApi } from "./helpers.ts";
import { fid, fingerprint, RUN, T } from "./seed.ts";

const N = Number(process.env.ATLAS_FUZZ_N ?? 2000);
let api: ApiServer;

withSeededApi((a) => {
  api = a;
});

const rng = new Rng(20261130);
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;

const META = [
  "'",
  '"',
  "\\",
  "/",
  "//",
  "/*",
  "*/",
  "`",
  "(",
  ")",
  "{",
  "}",
  "[",
  "]",
  ":",
  "~",
  "^",
  "*",
  "?",
  "!",
  "&&",
  "||",
  "+",
  "-",
  "$",
  ";",
  ",",
  "%",
  "\u0000",
  "\n",
  "\t",
  "\u202e",
  "𝔂𝓮𝓪𝓻",
  "年",
  "AND",
  "OR",
  "NOT",
  "TO",
  "MATCH (n) DETACH DELETE n",
  "}) DETACH DELETE f //",
  "' OR 1=1 --",
  "CALL db.clearQueryCaches()",
  "CREATE (:Feature {id: 'x'})",
  "${x}",
  "$ids",
  "__proto__",
  "constructor",
  "year~",
  "year^99",
  '"year"',
  "ye?r",
  "*:*",
  "label:year",
  "[0 TO 9]",
  "{!lucene}",
  "%00",
  "../../etc/passwd",
  "<script>",
  "null",
  "true",
  "1e309",
  "-0",
  "NaN",
];
const WORDS = [
  "year",
  "war",
  "after",
  "even",
  "quotation",
  "years",
  "promotes",
  "decade",
  T,
  fid(1, 3),
  `${RUN}-g0`,
  "1_3",
  "greater-than",
];

function str(): string {
  const n = rng.int(6);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    s += r < 0.45 ? pick(META) : r < 0.8 ? pick(WORDS) : String.fromCharCode(32 + rng.int(95));
    if (rng.next() < 0.5) s += " ";
  }
  if (rng.next() < 0.03) s = s.repeat(200);
  return s;
}

function anyValue(depth = 0): unknown {
  const r = rng.next();
  if (r < 0.3) return str();
  if (r < 0.45) return pick([0, 1, -1, 2, 5, 100, 101, 1e6, -1e9, 2 ** 31, 2 ** 53, 0.5, 1.5, -0.0001, 1e-300]);
  if (r < 0.55) return null;
  if (r < 0.62) return rng.next() < 0.5;
  if (r < 0.7 && depth < 2) return Array.from({ length: rng.int(4) }, () => anyValue(depth + 1));
  if (r < 0.75 && depth < 2) return { a: anyValue(depth + 1), $where: str() };
  return pick(WORDS);
}

/** A value that is usually of the right type, sometimes not. */
const maybe = (good: () => unknown) => (rng.next() < 0.8 ? good() : anyValue());
const smallInt = () => pick([0, 1, 2, 3, 5, 10, 50, 100, -1, 101, 1000]);
const unitish = () => pick([0.1, 0.5, 0.8, 1, 0, -0.5, 2, 1e-9]);
const idish = () => (rng.next() < 0.4 ? pick(WORDS) : str());

const TEMPLATES: { q: string; vars: () => Record<string, unknown> }[] = [
  {
    q: `query($q: String!, $l: Int, $t: ID, $s: String, $n: Int, $a: String) { searchFeatures(query: $q, layer: $l, transcoder: $t, labelSource: $s, first: $n, after: $a) { totalCount edges { cursor score feature { id label { text } } } pageInfo { hasNextPage endCursor } } }`,
    vars: () => ({
      q: maybe(str),
      l: maybe(() => (rng.next() < 0.5 ? null : smallInt())),
      t: maybe(() => (rng.next() < 0.5 ? null : idish())),
      s: maybe(() => (rng.next() < 0.5 ? null : str())),
      n: maybe(smallInt),
      a: maybe(() => (rng.next() < 0.7 ? null : str())),
    }),
  },
  {
    q: `query($id: ID!, $g: ID, $m: Float, $n: Int) { feature(id: $id) { id label { text scores { name value } provenance } labelHistory { text } histogram { counts } topExamples(first: $n) { tokens activations } quantileExamples { lower } topLogits { token } bottomLogits { token } heatmap { rows } upstream(graphId: $g, minWeight: $m, first: $n) { feature { id } weight } downstream(graphId: $g, minWeight: $m) { weight } virtualNeighbors { weight } graphs { id } causalEffects { predicted } } }`,
    vars: () => ({
      id: maybe(idish),
      g: maybe(() => (rng.next() < 0.5 ? null : idish())),
      m: maybe(() => (rng.next() < 0.5 ? null : unitish())),
      n: maybe(smallInt),
    }),
  },
  {
    q: `query($id: ID!, $a: Float, $b: Float) { graph(id: $id, nodeThreshold: $a, edgeThreshold: $b) { id nodeCount edgeCount nodes { id kind feature { id } } edges { source target weight } json } }`,
    vars: () => ({ id: maybe(() => pick([`${RUN}-g0`, `${RUN}-g1`, str()])), a: maybe(unitish), b: maybe(unitish) }),
  },
  {
    q: `query($f: ID!, $d: Direction, $k: Int, $m: Float, $g: ID, $n: Int) { circuit(featureId: $f, direction: $d, depth: $k, minWeight: $m, graphId: $g, first: $n) { nodes { id depth } edges { source target weight } } }`,
    vars: () => ({
      f: maybe(idish),
      d: maybe(() => pick(["UPSTREAM", "DOWNSTREAM", "BOTH", "SIDEWAYS", "upstream"])),
      k: maybe(() => pick([0, 1, 2, 3, 4, 5, -1])),
      m: maybe(unitish),
      g: maybe(() => (rng.next() < 0.6 ? null : idish())),
      n: maybe(smallInt),
    }),
  },
  {
    q: `query($a: ID!, $b: ID!, $h: Int, $g: ID, $n: Int) { paths(from: $a, to: $b, maxHops: $h, graphId: $g, first: $n) { score sign hops nodes { id } } }`,
    vars: () => ({
      a: maybe(idish),
      b: maybe(idish),
      h: maybe(() => pick([0, 1, 2, 3, 5, 6, -2])),
      g: maybe(() => (rng.next() < 0.6 ? null : idish())),
      n: maybe(smallInt),
    }),
  },
  {
    q: `query($n: String!, $t: ID, $k: Int) { study(name: $n, transcoder: $t) { name features(first: $k) { rank heatmap { rows } } } }`,
    vars: () => ({
      n: maybe(() => pick(["greater-than", str()])),
      t: maybe(() => (rng.next() < 0.5 ? null : idish())),
      k: maybe(smallInt),
    }),
  },
  { q: `query($id: ID!) { job(id: $id) { id status } }`, vars: () => ({ id: maybe(idish) }) },
  {
    q: `query($ids: [ID!]!) { features(ids: $ids) { id } }`,
    vars: () => ({ ids: maybe(() => Array.from({ length: rng.int(5) }, idish)) }),
  },
  {
    q: `query($n: Int, $a: String, $t: ID) { graphs(first: $n, after: $a, transcoder: $t) { totalCount edges { cursor node { id } } } }`,
    vars: () => ({
      n: maybe(smallInt),
      a: maybe(() => (rng.next() < 0.6 ? null : str())),
      t: maybe(() => (rng.next() < 0.5 ? null : idish())),
    }),
  },
  {
    q: `mutation($f: ID!, $t: String!, $n: String) { setLabel(featureId: $f, text: $t, note: $n) { id } }`,
    vars: () => ({ f: maybe(idish), t: maybe(str), n: maybe(str) }),
  },
  { q: `mutation($p: String!) { traceGraph(prompt: $p) { id } }`, vars: () => ({ p: maybe(str) }) },
];

/** Random edits of a valid document: cut, insert metacharacters, duplicate a slice. */
function mangle(doc: string): string {
  let s = doc;
  const edits = 1 + rng.int(4);
  for (let i = 0; i < edits; i++) {
    const at = rng.int(s.length + 1);
    const r = rng.next();
    if (r < 0.35) s = s.slice(0, at) + s.slice(at + 1 + rng.int(10));
    else if (r < 0.7) s = s.slice(0, at) + pick(META) + s.slice(at);
    else s = s.slice(0, at) + s.slice(at, at + rng.int(40)).repeat(2) + s.slice(at);
  }
  return s;
}

interface Sent {
  body: string;
  headers: Record<string, string>;
}

function request(): Sent {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const r = rng.next();
  // Mutations are sent without a key or with a wrong one: they must change nothing.
  if (rng.next() < 0.3) headers["x-api-key"] = str().replace(/[^\x20-\x7e]/g, "") || "wrong";
  if (r < 0.06)
    return { body: pick(["", "{", "[]", "null", "123", '{"query": 5}', '{"query": null}', str()]), headers };
  if (r < 0.1) return { body: JSON.stringify([{ query: "{ atlas { graphCount } }" }]), headers };
  const t = pick(TEMPLATES);
  const query = r < 0.3 ? mangle(t.q) : t.q;
  return { body: JSON.stringify({ query, variables: rng.next() < 0.05 ? anyValue() : t.vars() }), headers };
}

const ALLOWED = new Set([
  "BAD_USER_INPUT",
  "NOT_FOUND",
  "UNAUTHENTICATED",
  "QUERY_TOO_COMPLEX",
  "TIMEOUT",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "OPERATION_RESOLUTION_FAILURE",
]);

test(`fuzz: ${N} generated requests → no 5xx, only typed errors, no data change`, async () => {
  const before = await fingerprint();
  const sent = Array.from({ length: N }, request);
  const statuses = new Map<number, number>();
  const codes = new Map<string, number>();
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < sent.length; i = next++) {
      const s = sent[i]!;
      const res = await fetch(api.url, { method: "POST", headers: s.headers, body: s.body });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = await res.text();
      if (res.status >= 500) failures.push(`${res.status} for ${s.body.slice(0, 300)} → ${text.slice(0, 300)}`);
      let body: { errors?: { extensions?: { code?: string } }[] } | null = null;
      try {
        body = JSON.parse(text);
      } catch {
        failures.push(`not JSON (${res.status}) for ${s.body.slice(0, 200)}: ${text.slice(0, 200)}`);
        continue;
      }
      for (const e of body?.errors ?? []) {
        const code = e.extensions?.code ?? "(none)";
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (!ALLOWED.has(code)) failures.push(`${code} for ${s.body.slice(0, 300)} → ${text.slice(0, 400)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const afterFp = await fingerprint();
  console.log(
    `fuzz: statuses ${JSON.stringify(Object.fromEntries(statuses))}, codes ${JSON.stringify(Object.fromEntries(codes))}`,
  );
  assert.deepEqual(failures.slice(0, 5), []);
  assert.equal(
    [...statuses.values()].reduce((a, b) => a + b, 0),
    N,
  );
  assert.ok((statuses.get(200) ?? 0) > N / 4, "a good share of requests were valid and answered");
  assert.deepEqual(afterFp, before, "the fuzz run changed the database");
});
