// `npm run bench:api`: latency and throughput of the GraphQL API under load (autocannon, 50
// concurrent connections) for search, the feature page, a 2-hop circuit and a graph read, on a
// synthetic atlas written through the store's write functions (db/src/atlas/write.ts). The floor,
// measured in the same run through the same HTTP + Apollo stack, is `{ __typename }` (no database):
// each operation's p95 is also printed as a ratio to it. Results go to apps/api/bench/results.json.
//
//   NEO4J_URI=bolt://127.0.0.1:7693 npm run bench:api [-- --layers 12 --features 4096 --graphs 60 --duration 10]
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
  type GraphInput,
  getConfig,
  qualifiedFeatureId,
  readTx,
  upsertFeatures,
  upsertLabels,
  upsertModels,
  upsertTranscoders,
  writeGraph,
} from "@circuit-atlas/db";
import autocannon from "autocannon";
import { Rng } from "../../../pipeline/src/data/rng.ts";

const here = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
  options: {
    layers: { type: "string", default: "12" },
    features: { type: "string", default: "2048" },
    graphs: { type: "string", default: "40" },
    "feature-nodes": { type: "string", default: "300" },
    "edges-per-graph": { type: "string", default: "2400" },
    duration: { type: "string", default: "15" },
    connections: { type: "string", default: "50" },
    out: { type: "string", default: join(here, "results.json") },
  },
});
const L = Number(a.layers);
const F = Number(a.features);
const G = Number(a.graphs);
const FN = Number(a["feature-nodes"]);
const E = Number(a["edges-per-graph"]);
const duration = Number(a.duration);
const connections = Number(a.connections);
const T = `bench-api-${L}x${F}`;
const M = "bench-api-model";
const fid = (l: number, i: number) => qualifiedFeatureId(T, l, i);

const WORDS = (
  "year years date century decade war battle number digit comparison greater later earlier month day time " +
  "token quote name city country verb noun plural past future money price count list code bracket comma " +
  "question answer negation parity even odd round multiple large small range start end"
).split(" ");

/** Deterministic label text of a feature: 3–5 words of the vocabulary. */
function labelOf(l: number, i: number): string {
  const r = new Rng(l * 1_000_003 + i);
  return Array.from({ length: 3 + r.int(3) }, () => WORDS[r.int(WORDS.length)]).join(" ");
}

function statsRow(l: number, i: number) {
  const r = new Rng(7 + l * 1_000_003 + i);
  const example = (k: number) => {
    const tokens = Array.from({ length: 24 }, (_, p) => ` ${WORDS[(i + p * 7 + k) % WORDS.length]}`);
    const acts = Array.from({ length: 4 }, (_, j) => [(k * 5 + j * 3) % 24, Number((r.next() * 5).toFixed(3))]);
    return { tokens, acts, maxActivation: Math.max(...acts.map((x) => x[1]!)) };
  };
  return {
    transcoderId: T,
    layer: l,
    featureIndex: i,
    density: r.next() * 0.01,
    maxActivation: 1 + r.next() * 10,
    histogram: JSON.stringify({
      edges: Array.from({ length: 21 }, (_, k) => k / 2),
      counts: Array.from({ length: 20 }, () => r.int(1000)),
    }),
    topLogits: JSON.stringify(
      Array.from({ length: 10 }, (_, k) => ({ tokenId: k, token: ` ${WORDS[k]}`, value: 5 - k / 3 })),
    ),
    bottomLogits: JSON.stringify(
      Array.from({ length: 10 }, (_, k) => ({ tokenId: 100 + k, token: ` ${WORDS[k + 10]}`, value: -5 + k / 3 })),
    ),
    examples: JSON.stringify({
      top: Array.from({ length: 20 }, (_, k) => example(k)),
      quantiles: Array.from({ length: 5 }, (_, q) => ({
        lower: q,
        upper: q + 1,
        examples: Array.from({ length: 5 }, (_, k) => example(q * 5 + k)),
      })),
    }),
  };
}

/** Graph k: feature popularity is skewed (squared uniform), so graphs share features. */
function graph(k: number): GraphInput {
  const r = new Rng(99 + k);
  const P = 16;
  const seen = new Set<string>();
  const nodes: GraphInput["nodes"] = [];
  while (nodes.length < FN) {
    const layer = r.int(L);
    const index = Math.floor(r.next() ** 2 * F);
    const position = 1 + r.int(P - 1);
    const nodeId = `${layer}_${index}_${position}`;
    if (seen.has(nodeId)) continue;
    seen.add(nodeId);
    nodes.push({
      nodeId,
      kind: "feature",
      layer,
      position,
      featureIndex: index,
      featureId: fid(layer, index),
      activation: r.next() * 5,
      influence: r.next(),
    });
  }
  nodes.push({
    nodeId: "E_50256_0",
    kind: "embedding",
    layer: -1,
    position: 0,
    tokenId: 50256,
    token: "<|endoftext|>",
  });
  nodes.push({
    nodeId: `${L}_17_${P - 1}`,
    kind: "logit",
    layer: L,
    position: P - 1,
    tokenId: 17,
    token: "2",
    probability: 0.3,
    isTarget: true,
  });
  const edges: GraphInput["edges"] = [];
  const pairs = new Set<string>();
  for (let tries = 0; edges.length < E && tries < E * 20; tries++) {
    const s = r.int(FN);
    const t = r.int(FN);
    if (nodes[s]!.layer >= nodes[t]!.layer || pairs.has(`${s}>${t}`)) continue;
    pairs.add(`${s}>${t}`);
    edges.push({ source: s, target: t, weight: Number((r.normal() * 0.5).toFixed(4)) });
  }
  return {
    graph: {
      id: `${T}-g${k}`,
      transcoderId: T,
      prompt: `synthetic prompt ${k}`,
      tokens: Array.from({ length: P }, (_, p) => (p === 0 ? "<|endoftext|>" : ` t${p}`)),
      inputTokens: Array.from({ length: P }, (_, p) => (p === 0 ? 50256 : p)),
      targetLogits: JSON.stringify([{ tokenId: 17, token: "2", probability: 0.3 }]),
      nodeThreshold: 0.8,
      edgeThreshold: 0.98,
      replacementScore: 0.7,
      completenessScore: 0.9,
      contentHash: `${T}-${k}-${FN}-${E}`,
    },
    nodes,
    edges,
  };
}

async function seed(): Promise<{ seconds: number; reused: boolean }> {
  const t0 = performance.now();
  const have = await readTx((tx) =>
    tx.one<{ f: number; g: number }>(
      "CALL () { MATCH (f:Feature {transcoderId: $t}) RETURN count(f) AS f } CALL () { MATCH (g:Graph {transcoderId: $t}) RETURN count(g) AS g } RETURN f, g",
      { t: T },
    ),
  );
  if (have.f === L * F && have.g >= G) return { seconds: 0, reused: true };
  await upsertModels([{ id: M, name: "bench model", nLayers: L, dModel: 768 }]);
  await upsertTranscoders([
    {
      id: T,
      modelId: M,
      kind: "clt",
      nLayers: L,
      dModel: 768,
      nFeatures: F,
      featureInputHook: "blocks.{L}.ln2.hook_normalized",
      featureOutputHook: "blocks.{L}.hook_mlp_out",
    },
  ]);
  const batch = 2000;
  for (let l = 0; l < L; l++) {
    for (let i0 = 0; i0 < F; i0 += batch) {
      const idx = Array.from({ length: Math.min(batch, F - i0) }, (_, k) => i0 + k);
      await upsertFeatures(idx.map((i) => statsRow(l, i)));
      await upsertLabels(
        idx.map((i) => ({
          featureId: fid(l, i),
          text: labelOf(l, i),
          description: `Synthetic feature ${l}_${i}.`,
          source: "heuristic",
          createdAt: "2026-11-30T00:00:00.000Z",
        })),
      );
    }
    process.stderr.write(
      `\rseed: features ${((l + 1) * F).toLocaleString("en-US")}/${(L * F).toLocaleString("en-US")}   `,
    );
  }
  for (let k = have.g; k < G; k++) {
    await writeGraph(graph(k));
    process.stderr.write(`\rseed: graphs ${k + 1}/${G}            `);
  }
  process.stderr.write("\n");
  return { seconds: (performance.now() - t0) / 1000, reused: false };
}

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "../src/main.ts")], {
      env: { ...process.env, PORT: "0", NODE_ENV: "production", ATLAS_API_INTROSPECTION: "0" },
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
const popular = () => fid(rng.int(L), Math.floor(rng.next() ** 2 * F * 0.2));
const OPS: Op[] = [
  { name: "floor: { __typename }", query: "{ __typename }", variables: () => ({}) },
  {
    name: "searchFeatures (20 hits)",
    query: `query($q: String!) { searchFeatures(query: $q, first: 20) { totalCount edges { cursor score feature { id layer density label { text source } } } pageInfo { hasNextPage endCursor } } }`,
    variables: () => ({ q: `${WORDS[rng.int(WORDS.length)]} ${WORDS[rng.int(WORDS.length)]}` }),
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
    variables: () => ({ id: `${T}-g${rng.int(G)}` }),
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

/** Exact percentile of the recorded latencies (nearest rank). */
function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
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
        duration,
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
  latencies.sort((x, y) => x - y);
  const round = (x: number) => Number(x.toFixed(1));
  return {
    operation: op.name,
    p50: round(percentile(latencies, 0.5)),
    p95: round(percentile(latencies, 0.95)),
    p99: round(percentile(latencies, 0.99)),
    mean: round(latencies.reduce((s, x) => s + x, 0) / Math.max(1, latencies.length)),
    rps: round(r.requests.total / duration),
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
    console.log(`\n${connections} connections, ${duration} s per operation\n`);
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
      `${JSON.stringify({ date: new Date().toISOString(), neo4j: cfg.uri, atlas: { layers: L, featuresPerLayer: F, features: L * F, graphs: G, featureNodesPerGraph: FN, edgesPerGraph: E }, connections, durationSeconds: duration, results: rows }, null, 2)}\n`,
    );
    console.log(`\nwritten: ${a.out}`);
  } finally {
    child.kill("SIGTERM");
  }
}

await main();
