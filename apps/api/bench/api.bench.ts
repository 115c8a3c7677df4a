// `npm run bench:api`: latency and throughput of the GraphQL API under load (autocannon, 50
// concurrent connections) for search, the feature page, a 2-hop circuit and a graph read, on the
// store's synthetic atlas (pipeline/src/ingest/synthetic.ts, the bench:ingest data: feature
// statistics and circuit-tracer graphs of GPT-2-Small shape) written through the same ingest code
// (featureRowFromStats, graphInputFromJson, db write functions), plus a synthetic label per feature. The floor,
// measured in the same run through the same HTTP + Apollo stack, is `{ __typename }` (no database):
// each operation's p95 is also printed as a ratio to it. Results go to apps/api/bench/results.json.
//
//   NEO4J_URI=bolt://127.0.0.1:7693 npm run bench:api [-- --layers 12 --features 2048 --graphs 40 --requests 300]
//
// Default size: 12 layers × 2,048 features (24,576 features, 1/24 of GPT-2 Small's 12 × 49,152),
// 40 graphs × 300 feature nodes × ~2,400 pruned edges; `--features 49152 --graphs 1000` is the full
// GPT-2-Small scale (seeding it takes long on a shared 2-core machine).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  closeDriver,
  getConfig,
  qualifiedFeatureId,
  readTx,
  upsertFeatures,
  upsertLabels,
  upsertModels,
  upsertTranscoders,
  writeGraph,
} from "@circuit-atlas/db";
import { Rng, summarizeSamples } from "@circuit-atlas/util";
import autocannon from "autocannon";
import { featureRowFromStats, graphInputFromJson } from "../../../pipeline/src/ingest/sources.ts";
import { syntheticAtlasRows, syntheticFeatureStats, syntheticGraph } from "../../../pipeline/src/ingest/synthetic.ts";

const here = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
  options: {
    layers: { type: "string", default: "12" },
    features: { type: "string", default: "2048" },
    graphs: { type: "string", default: "40" },
    "feature-nodes": { type: "string", default: "300" },
    "edges-per-graph": { type: "string", default: "2400" },
    requests: { type: "string", default: "300" },
    connections: { type: "string", default: "50" },
    out: { type: "string", default: join(here, "results.json") },
  },
});
const L = Number(a.layers);
const F = Number(a.features);
const G = Number(a.graphs);
const FN = Number(a["feature-nodes"]);
const E = Number(a["edges-per-graph"]);
/** Requests per operation: a fixed amount, so every request's latency is recorded (none cut off at a deadline). */
const amount = Number(a.requests);
const connections = Number(a.connections);
const T = `bench-api-${L}x${F}`;
const M = "bench-api-model";
const fid = (l: number, i: number) => qualifiedFeatureId(T, l, i);

const WORDS = (
  "year years date century decade war battle number digit comparison greater later earlier month day time " +
  "token quote name city country verb noun plural past future money price count list code bracket comma " +
  "question answer negation parity even odd round multiple large small range start end"
).split(" ");

/**
 * Deterministic label of a feature in the style of the heuristic labeler: its characteristic tokens
 * (the synthetic statistics' own pseudo-words " w{n}", 5,000 of them) and one topic word, so a query
 * word matches a realistic fraction of the atlas (a few hundred features), not half of it.
 */
function labelOf(l: number, i: number): string {
  const r = new Rng(l * 1_000_003 + i);
  const toks = Array.from({ length: 3 }, (_, k) => `w${(i + (1 + r.int(15)) * 17 * (k + 1)) % 5000}`);
  return `tokens ${toks.join(" ")} ${WORDS[r.int(WORDS.length)]}`;
}

const labelRow = (l: number, i: number) => ({
  featureId: fid(l, i),
  text: labelOf(l, i),
  description: `Synthetic feature ${l}_${i}.`,
  source: "heuristic",
  createdAt: "2026-11-30T00:00:00.000Z",
});

/** The store's synthetic atlas (bench:ingest): Zipf-popular features, so graphs share features. */
const ATLAS = syntheticAtlasRows({
  modelId: M,
  modelName: "bench model",
  transcoderId: T,
  nLayers: L,
  dModel: 768,
  featuresPerLayer: F,
  featureNodes: FN,
  edges: E,
});

async function writeLabels(): Promise<void> {
  for (let l = 0; l < L; l++) {
    await upsertLabels(
      Array.from({ length: F }, (_, i) => labelRow(l, i)),
      { batchSize: 2048 },
    );
    process.stderr.write(
      `\rseed: labels ${((l + 1) * F).toLocaleString("en-US")}/${(L * F).toLocaleString("en-US")}   `,
    );
  }
}

async function seed(): Promise<{ seconds: number; reused: boolean }> {
  const t0 = performance.now();
  const have = await readTx((tx) =>
    tx.one<{ f: number; g: number }>(
      "CALL () { MATCH (f:Feature {transcoderId: $t}) RETURN count(f) AS f } CALL () { MATCH (g:Graph {transcoderId: $t}) RETURN count(g) AS g } RETURN f, g",
      { t: T },
    ),
  );
  const labeled = await readTx((tx) =>
    tx.one<{ n: number }>(
      "MATCH (f:Feature {transcoderId: $t}) WHERE f.label STARTS WITH 'tokens ' RETURN count(f) AS n",
      { t: T },
    ),
  );
  if (have.f === L * F && have.g >= G && labeled.n === L * F) return { seconds: 0, reused: true };
  if (have.f === L * F && have.g >= G) {
    await writeLabels();
    return { seconds: (performance.now() - t0) / 1000, reused: false };
  }
  await upsertModels([ATLAS.model]);
  await upsertTranscoders([ATLAS.transcoder]);
  const batch = 2000;
  for (let l = 0; l < L; l++) {
    for (let i0 = 0; i0 < F; i0 += batch) {
      const idx = Array.from({ length: Math.min(batch, F - i0) }, (_, k) => i0 + k);
      await upsertFeatures(idx.map((i) => featureRowFromStats(T, syntheticFeatureStats(l, i))));
      await upsertLabels(idx.map((i) => labelRow(l, i)));
    }
    process.stderr.write(
      `\rseed: features ${((l + 1) * F).toLocaleString("en-US")}/${(L * F).toLocaleString("en-US")}   `,
    );
  }
  await writeLabels();
  for (let k = have.g; k < G; k++) {
    await writeGraph(
      graphInputFromJson(syntheticGraph(ATLAS.graphs, k), { extras: { contentHash: `${T}-${k}` } }).input,
    );
    process.stderr.write(`\rseed: graphs ${k + 1}/${G}            `);
  }
  process.stderr.write("\n");
  return { seconds: (performance.now() - t0) / 1000, reused: false };
}

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "../src/main.ts")], {
      // A generous query budget: the bench measures latency, a timed-out request would only hide it.
      env: {
        ...process.env,
        PORT: "0",
        NODE_ENV: "production",
        ATLAS_API_INTROSPECTION: "0",
        ATLAS_API_TIMEOUT_MS: "60000",
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.stdout!.on("data", (b: Buffer) => {
      const m = /(http:\/\/\S+\/graphql)/.exec(b.toString());
      if (m) ok({ child, url: m[1]! });
    });
    child.on("exit", (code) => fail(new Error(`api exited with ${code}`)));
  });
}

interface Op {
  name: string;
  query: string;
  variables: () => Record<string, unknown>;
}

const rng = new Rng(1);
/** Features that occur in graphs (filled before the load runs), so pages have neighbours. */
let inGraphs: string[] = [];
const popular = () => inGraphs[rng.int(inGraphs.length)]!;
const OPS: Op[] = [
  { name: "floor: { __typename }", query: "{ __typename }", variables: () => ({}) },
  {
    name: "searchFeatures (20 hits)",
    query: `query($q: String!) { searchFeatures(query: $q, first: 20) { totalCount edges { cursor score feature { id layer density label { text source } } } pageInfo { hasNextPage endCursor } } }`,
    variables: () => ({
      q: rng.next() < 0.5 ? `w${rng.int(5000)}` : `${WORDS[rng.int(WORDS.length)]} w${rng.int(5000)}`,
    }),
  },
  {
    name: "feature page",
    query: `query($id: ID!) { feature(id: $id) { id layer index density maxActivation label { text source scores { name value } }
      histogram { binEdges counts } topExamples(first: 10) { tokens activations } quantileExamples { lower upper examples { tokens activations } }
      topLogits { token value } bottomLogits { token value }
      upstream(first: 10) { feature { id label { text } } weight } downstream(first: 10) { feature { id label { text } } weight }
      graphs(first: 10) { id prompt } } }`,
    variables: () => ({ id: popular() }),
  },
  {
    name: "circuit (2 hops, 10/node)",
    query: `query($id: ID!) { circuit(featureId: $id, depth: 2, first: 10) { nodes { id depth feature { label { text } } } edges { source target weight } } }`,
    variables: () => ({ id: popular() }),
  },
  {
    name: `graph read (${FN} feature nodes)`,
    query: `query($id: ID!) { graph(id: $id) { id prompt tokens nodes { id kind layer position activation influence feature { id label { text } } } edges { source target weight } replacementScore completenessScore } }`,
    variables: () => ({ id: `${T}-synthetic-${rng.int(G)}` }),
  },
];

async function check(url: string, op: Op): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: op.query, variables: op.variables() }),
  });
  const body = (await res.json()) as { errors?: unknown[] };
  if (res.status !== 200 || body.errors) throw new Error(`${op.name}: ${res.status} ${JSON.stringify(body.errors)}`);
}

async function load(url: string, op: Op) {
  const bodies = Array.from({ length: 200 }, () => JSON.stringify({ query: op.query, variables: op.variables() }));
  let k = 0;
  const latencies: number[] = [];
  const r = await new Promise<autocannon.Result>((ok, fail) => {
    const inst = autocannon(
      {
        url,
        connections,
        amount,
        // Slow answers under load count as latency, not as dropped requests.
        timeout: 60,
        requests: [
          {
            method: "POST",
            headers: { "content-type": "application/json" },
            setupRequest: (req) => ({ ...req, body: bodies[k++ % bodies.length]! }),
          },
        ],
      },
      (err, result) => (err ? fail(err) : ok(result)),
    );
    // Every response time, so p95 is exact (autocannon's summary has p90 and p97.5 but no p95).
    inst.on("response", (_client, _status, _bytes, ms) => latencies.push(ms));
  });
  const lat = summarizeSamples(latencies);
  const round = (x: number) => Number(x.toFixed(1));
  return {
    operation: op.name,
    p50: round(lat.p50),
    p95: round(lat.p95),
    p99: round(lat.p99),
    mean: round(lat.mean),
    rps: round(r.requests.total / r.duration),
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

async function main() {
  const cfg = getConfig();
  console.log(
    `bench:api on ${cfg.uri}: ${L} layers × ${F.toLocaleString("en-US")} features, ${G} graphs × ${FN} feature nodes / ~${E} edges`,
  );
  const s = await seed();
  console.log(s.reused ? "seed: reused the atlas from a previous run" : `seed: ${s.seconds.toFixed(0)} s`);
  inGraphs = (
    await readTx((tx) =>
      tx.rows<{ id: string }>(
        "MATCH (f:Feature {transcoderId: $t}) WHERE f.graphCount > 0 RETURN f.id AS id ORDER BY f.id",
        { t: T },
      ),
    )
  ).map((r) => r.id);
  console.log(`features in graphs: ${inGraphs.length.toLocaleString("en-US")}`);
  await closeDriver();
  const { child, url } = await startServer();
  try {
    for (const op of OPS) await check(url, op);
    const results = [];
    for (const op of OPS) {
      const r = await load(url, op);
      results.push(r);
      console.error(`${op.name}: p95 ${r.p95} ms, ${r.rps.toFixed(0)} req/s`);
    }
    const floor = results[0]!;
    const rows = results.map((r) => ({ ...r, p95VsFloor: Number((r.p95 / Math.max(floor.p95, 1)).toFixed(1)) }));
    console.log(`\n${connections} connections, ${amount} requests per operation\n`);
    console.log("| operation | p50 ms | p95 ms | p99 ms | req/s | p95 / floor p95 | non-2xx | errors |");
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const r of rows) {
      console.log(
        `| ${r.operation} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.rps.toFixed(0)} | ${r.p95VsFloor}× | ${r.non2xx} | ${r.errors} |`,
      );
    }
    mkdirSync(dirname(a.out!), { recursive: true });
    writeFileSync(
      a.out!,
      `${JSON.stringify({ date: new Date().toISOString(), neo4j: cfg.uri, atlas: { layers: L, featuresPerLayer: F, features: L * F, graphs: G, featureNodesPerGraph: FN, edgesPerGraph: E }, connections, requestsPerOperation: amount, results: rows }, null, 2)}\n`,
    );
    console.log(`\nwritten: ${a.out}`);
  } finally {
    child.kill("SIGTERM");
  }
}

await main();
