// Limits, typed errors, CSRF prevention, introspection, GraphiQL and the API-key-protected
// mutations, against the real API over HTTP and the real Neo4j.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatError } from "../src/errors.ts";
import type { ApiServer, Job } from "../src/index.ts";
import { API_KEY, codes, data, gql, type Json, startApi, withSeededApi } from "./helpers.ts";
import { fid, fingerprint, LABELS, RUN, T } from "./seed.ts";

let api: ApiServer;
const runs: string[] = [];
let failNext = false;

withSeededApi(
  (a) => {
    api = a;
  },
  {
    // The pipeline runner is replaced by one that records the prompt and "builds" an existing graph.
    jobRunner: async (job: Job, log) => {
      runs.push(job.prompt);
      log("tracing");
      await new Promise((r) => setTimeout(r, 30));
      if (failNext) throw new Error("trace failed: model not found");
      return `${RUN}-g0`;
    },
  },
);

const nested = (depth: number) => {
  let sel = "id";
  for (let i = 0; i < depth; i++) sel = `upstream(first: 1) { feature { ${sel} } }`;
  return `{ feature(id: "${fid(3, 1)}") { ${sel} } }`;
};

describe("limits", () => {
  test("deep nesting → QUERY_TOO_COMPLEX (400) before anything runs", async () => {
    const r = await gql(api, nested(8));
    assert.equal(r.status, 400);
    assert.deepEqual(codes(r), ["QUERY_TOO_COMPLEX"]);
    assert.match(r.body.errors![0]!.message, /levels deep; the limit is 10/);
    // Within the limit it runs.
    assert.ok((await data(api, nested(3))).feature);
  });

  test("cost scales with `first`: a wide fan-out is QUERY_TOO_COMPLEX, a narrow one runs", async () => {
    const wide = `{ searchFeatures(query: "year", first: 100) { edges { feature {
      upstream(first: 100) { feature { downstream(first: 100) { feature { id } } } } } } } }`;
    const r = await gql(api, wide);
    assert.equal(r.status, 400);
    assert.deepEqual(codes(r), ["QUERY_TOO_COMPLEX"]);
    assert.ok(((r.body.errors![0]!.extensions as Json).cost as number) > 10_000);
    const narrow = wide.replaceAll("100", "3");
    assert.ok((await data(api, narrow)).searchFeatures);
  });

  test("fragments and aliases count too", async () => {
    const q = `fragment U on Feature { a: upstream(first: 100) { feature { b: upstream(first: 100) { feature { id } } } } }
      { x: feature(id: "${fid(3, 1)}") { ...U } y: feature(id: "${fid(3, 1)}") { ...U } }`;
    assert.deepEqual(codes(await gql(api, q)), ["QUERY_TOO_COMPLEX"]);
  });

  test("page sizes above the maximum are BAD_USER_INPUT naming the argument", async () => {
    const r = await gql(api, `{ feature(id: "${fid(1, 3)}") { topExamples(first: 100000) { tokens } } }`);
    assert.equal(r.status, 400);
    assert.deepEqual(codes(r), ["BAD_USER_INPUT"]);
    assert.equal(r.body.errors![0]!.extensions!.argument, "first");
  });

  test("the query timeout ends slow work with TIMEOUT", async () => {
    const slow = await startApi({ config: { timeoutMs: 100 } });
    try {
      const q = `{ a: circuit(featureId: "${fid(2, 5)}", depth: 4, first: 50) { nodes { id } }
        b: paths(from: "${fid(0, 1)}", to: "${fid(3, 1)}", maxHops: 5) { score }
        c: searchFeatures(query: "year after war even quotation", first: 100) { totalCount } }`;
      // Many tries: on a fast machine a request can finish within 100 ms.
      let timedOut = false;
      for (let i = 0; i < 30 && !timedOut; i++) {
        const r = await gql(slow, q);
        assert.ok(r.status < 500);
        timedOut = codes(r).includes("TIMEOUT");
      }
      assert.ok(timedOut, "no request hit the 100 ms budget");
    } finally {
      await slow.close();
    }
  });
});

describe("malformed requests", () => {
  test("syntax errors, unknown fields, wrong variable types: 400 with typed codes", async () => {
    let r = await gql(api, "{ feature(id: ");
    assert.equal(r.status, 400);
    assert.deepEqual(codes(r), ["GRAPHQL_PARSE_FAILED"]);
    r = await gql(api, '{ feature(id: "x") { nope } }');
    assert.equal(r.status, 400);
    assert.deepEqual(codes(r), ["GRAPHQL_VALIDATION_FAILED"]);
    r = await gql(api, 'query($n: Int) { searchFeatures(query: "x", first: $n) { totalCount } }', { n: "ten" });
    assert.equal(r.status, 400);
    assert.deepEqual(codes(r), ["BAD_USER_INPUT"]);
    r = await gql(api, '{ circuit(featureId: "x", direction: SIDEWAYS) { nodes { id } } }');
    assert.deepEqual(codes(r), ["GRAPHQL_VALIDATION_FAILED"]);
  });

  test("a body that is not JSON, or too large, is a 4xx with a GraphQL-shaped error", async () => {
    const bad = await fetch(api.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{ nope",
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as Json).errors[0].extensions.code, "BAD_REQUEST");
    const big = await fetch(api.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ atlas { graphCount } }`, variables: { x: "a".repeat(200_000) } }),
    });
    assert.equal(big.status, 413);
  });

  test("CSRF prevention: a simple GET without a preflight header is refused, with it allowed", async () => {
    const url = `${api.url}?query=${encodeURIComponent("{ atlas { graphCount } }")}`;
    const refused = await fetch(url);
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /CSRF|preflight/i);
    const ok = await fetch(url, { headers: { "apollo-require-preflight": "1" } });
    assert.equal(ok.status, 200);
  });
});

describe("introspection, GraphiQL and error masking", () => {
  test("introspection on by default in development, off when configured", async () => {
    const q = "{ __schema { queryType { name } } }";
    assert.equal((await data(api, q)).__schema.queryType.name, "Query");
    const closed = await startApi({ config: { introspection: false } });
    try {
      const r = await gql(closed, q);
      assert.equal(r.status, 400);
      assert.deepEqual(codes(r), ["GRAPHQL_VALIDATION_FAILED"]);
      assert.match(r.body.errors![0]!.message, /introspection/i);
    } finally {
      await closed.close();
    }
  });

  test("GraphiQL is served from npm assets (no CDN) in development, not in production", async () => {
    const page = await fetch(api.url, { headers: { accept: "text/html" } });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /graphiql\.js/);
    assert.doesNotMatch(html, /https?:\/\/(?!127\.0\.0\.1)/);
    const origin = new URL(api.url).origin;
    for (const asset of ["react.js", "react-dom.js", "graphiql.js", "graphiql.css"]) {
      const r = await fetch(`${origin}/graphiql/${asset}`);
      assert.equal(r.status, 200, asset);
      assert.ok((await r.arrayBuffer()).byteLength > 1000, asset);
    }
    const prod = await startApi({ config: { production: true, graphiql: false, introspection: false } });
    try {
      const r = await fetch(prod.url, { headers: { accept: "text/html" } });
      assert.notEqual(r.status, 200);
      assert.equal((await fetch(`${new URL(prod.url).origin}/graphiql/graphiql.js`)).status, 404);
    } finally {
      await prod.close();
    }
  });

  test("unknown errors are INTERNAL_SERVER_ERROR with the message and stack hidden in production", () => {
    const logged: unknown[] = [];
    const err = new Error("Neo4j said: secret detail at /srv/x.ts:1");
    const f = {
      message: err.message,
      path: ["feature"],
      extensions: { code: "INTERNAL_SERVER_ERROR", stacktrace: ["x"] },
    };
    const prod = formatError(true, (e) => logged.push(e))(f, err);
    assert.deepEqual(prod, {
      message: "internal server error",
      path: ["feature"],
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
    assert.equal(logged.length, 1);
    const typed = { message: "feature x not found", extensions: { code: "NOT_FOUND" } };
    assert.deepEqual(formatError(true, () => {})(typed, err), typed);
    const timeout = formatError(true, () => {})(f, new Error("Neo.ClientError.Transaction.TransactionTimedOut"));
    assert.equal(timeout.extensions?.code, "TIMEOUT");
  });
});

describe("mutations", () => {
  const SET = `mutation($f: ID!, $t: String!, $n: String) { setLabel(featureId: $f, text: $t, note: $n) {
    id text source explainer current provenance feature { id label { text source } } } }`;

  test("setLabel without a key or with a wrong key is UNAUTHENTICATED (401) and changes nothing", async () => {
    const before = await fingerprint();
    const tries: Record<string, string>[] = [{}, { "x-api-key": "wrong" }, { authorization: "Bearer wrong" }];
    for (const headers of tries) {
      const r = await gql(api, SET, { f: fid(1, 3), t: "hacked" }, headers);
      assert.equal(r.status, 401);
      assert.deepEqual(codes(r), ["UNAUTHENTICATED"]);
    }
    assert.deepEqual(await fingerprint(), before);
    const nokeys = await startApi({ config: { apiKeys: [] } });
    try {
      const r = await gql(nokeys, SET, { f: fid(1, 3), t: "x" }, { "x-api-key": API_KEY });
      assert.deepEqual(codes(r), ["UNAUTHENTICATED"]);
      assert.match(r.body.errors![0]!.message, /no API key/);
    } finally {
      await nokeys.close();
    }
  });

  test("setLabel with the key: a current human label with provenance, searchable, history kept", async () => {
    const r = await gql(
      api,
      SET,
      { f: fid(1, 3), t: "decade boundary detector", n: "checked 20 examples" },
      { "x-api-key": API_KEY },
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.errors, undefined);
    const l = r.body.data!.setLabel;
    assert.equal(l.text, "decade boundary detector");
    assert.equal(l.source, "human");
    assert.equal(l.explainer, "tester");
    assert.equal(l.current, true);
    assert.equal(l.provenance.note, "checked 20 examples");
    assert.equal(l.provenance.author, "tester");
    assert.deepEqual(l.feature, { id: fid(1, 3), label: { text: "decade boundary detector", source: "human" } });
    const hist = (await data(api, `{ feature(id: "${fid(1, 3)}") { labelHistory { text current source } } }`)).feature
      .labelHistory;
    assert.deepEqual(
      hist.map((h: Json) => [h.text, h.current]),
      [
        ["decade boundary detector", true],
        [LABELS["1_3"]!.text, false],
      ],
    );
    const s = await data(api, `{ searchFeatures(query: "decade", transcoder: "${T}") { edges { feature { id } } } }`);
    assert.deepEqual(
      s.searchFeatures.edges.map((e: Json) => e.feature.id),
      [fid(1, 3)],
    );
    // Bearer works too; bad input is typed.
    const b = await gql(api, SET, { f: fid(1, 3), t: "" }, { authorization: `Bearer ${API_KEY}` });
    assert.deepEqual(codes(b), ["BAD_USER_INPUT"]);
    const nf = await gql(api, SET, { f: `${T}/9_9`, t: "x" }, { "x-api-key": API_KEY });
    assert.deepEqual(codes(nf), ["NOT_FOUND"]);
  });

  test("traceGraph queues a pipeline job; job(id) polls it to SUCCEEDED with its graph, or FAILED with the reason", async () => {
    const T_ = `mutation($p: String!) { traceGraph(prompt: $p) { id status prompt } }`;
    const J = `query($id: ID!) { job(id: $id) { id status graphId graph { id } error log } }`;
    assert.deepEqual(codes(await gql(api, T_, { p: "The war lasted from 1711 to 17" })), ["UNAUTHENTICATED"]);
    assert.deepEqual(runs, []);
    const r = await gql(api, T_, { p: "The war lasted from 1711 to 17" }, { "x-api-key": API_KEY });
    const job = r.body.data!.traceGraph;
    assert.ok(["QUEUED", "RUNNING"].includes(job.status));
    await api.jobs.idle();
    const done = (await data(api, J, { id: job.id })).job;
    assert.deepEqual(
      [done.status, done.graphId, done.graph.id, done.error],
      ["SUCCEEDED", `${RUN}-g0`, `${RUN}-g0`, null],
    );
    assert.deepEqual(done.log, ["tracing"]);
    assert.deepEqual(runs, ["The war lasted from 1711 to 17"]);
    failNext = true;
    const f = (await gql(api, T_, { p: "x" }, { "x-api-key": API_KEY })).body.data!.traceGraph;
    await api.jobs.idle();
    const failed = (await data(api, J, { id: f.id })).job;
    assert.deepEqual([failed.status, failed.error], ["FAILED", "trace failed: model not found"]);
    assert.deepEqual(codes(await gql(api, J, { id: "no-such-job" })), ["NOT_FOUND"]);
    assert.deepEqual(codes(await gql(api, T_, { p: " " }, { "x-api-key": API_KEY })), ["BAD_USER_INPUT"]);
  });
});
