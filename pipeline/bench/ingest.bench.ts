// Atlas ingest benchmark on synthetic GPT-2-Small-scale data (12 layers × 49,152 features =
// 589,824 features; 1,000 graphs × 10,000 pruned edges = 10M edges), through the same code as
// `atlas ingest`: feature stubs, FeatureStats upserts, one transaction per graph with its
// incremental INFLUENCES aggregates. The floor, measured in the same run on the same server, is the
// plain `UNWIND … MATCH (a {id}) MATCH (b {id}) CREATE (a)-[:R]->(b)` relationship rate
// (stack-notes X11 measured ≈ 15K/s with it).
//
//   NEO4J_URI=bolt://127.0.0.1:7692 npm run bench:ingest [-- --scale 0.1 --concurrency 2 --keep]
import { parseArgs } from "node:util";
import {
  closeDriver,
  deleteGraph,
  ensureTranscoderFeatures,
  getConfig,
  int,
  newGraphWriteTimings,
  readTx,
  upsertFeatures,
  upsertModels,
  upsertTranscoders,
  withSession,
  writeGraph,
  writeTx,
} from "@circuit-atlas/db";
import { featureRowFromStats, graphInputFromJson } from "../src/ingest/sources.ts";
import { syntheticFeatureStats, syntheticGraph } from "../src/ingest/synthetic.ts";

const { values: a } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    graphs: { type: "string" },
    "edges-per-graph": { type: "string", default: "10000" },
    "feature-nodes": { type: "string", default: "600" },
    concurrency: { type: "string", default: "1" },
    "feature-batch": { type: "string", default: "2000" },
    "skip-stats": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});
const scale = Number(a.scale);
const L = 12;
const F = Math.max(16, Math.round(49152 * scale));
const G = a.graphs ? Number(a.graphs) : Math.max(2, Math.round(1000 * scale));
const E = Number(a["edges-per-graph"]);
const concurrency = Number(a.concurrency);
const T = "bench-gpt2s-clt";
const M = "bench-gpt2s";

const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
const secs = (t0: number) => (performance.now() - t0) / 1000;

async function wipe(): Promise<void> {
  // Auto-commit batches: the bench set is too large for one transaction.
  await withSession(async (s) => {
    for (const q of [
      "MATCH (n:GraphNode) WHERE n.graphId STARTS WITH $t CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
      "MATCH (n:Graph {transcoderId: $t}) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS",
      "MATCH (:Feature {transcoderId: $t})-[r]-() CALL { WITH r DELETE r } IN TRANSACTIONS OF 20000 ROWS",
      "MATCH (n:Feature {transcoderId: $t}) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS",
      "MATCH (n:BenchFloor) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS",
      "MATCH (n:Transcoder {id: $t}) DETACH DELETE n",
      "MATCH (n:Model {id: $m}) DETACH DELETE n",
    ]) {
      await s.run(q, { t: T, m: M });
    }
  });
}

/** The floor: X11's MATCH/MATCH/CREATE relationship rate on `n` relationships between 100K nodes. */
async function floor(n: number): Promise<number> {
  await withSession((s) =>
    s.run("CREATE CONSTRAINT bench_floor_id IF NOT EXISTS FOR (n:BenchFloor) REQUIRE n.id IS UNIQUE"),
  );
  const N = 100_000;
  for (let i = 0; i < N; i += 20_000) {
    await writeTx((tx) =>
      tx.run("UNWIND range($a, $b) AS i CREATE (:BenchFloor {id: 'f' + toString(i)})", {
        a: int(i),
        b: int(i + 19_999),
      }),
    );
  }
  let seed = 1;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const t0 = performance.now();
  for (let i = 0; i < n; i += 20_000) {
    const rows = Array.from({ length: Math.min(20_000, n - i) }, () => ({
      a: `f${Math.floor(rand() * N)}`,
      b: `f${Math.floor(rand() * N)}`,
      w: rand(),
    }));
    await writeTx((tx) =>
      tx.run(
        "UNWIND $rows AS r MATCH (a:BenchFloor {id: r.a}) MATCH (b:BenchFloor {id: r.b}) CREATE (a)-[:R {w: r.w}]->(b)",
        { rows },
      ),
    );
  }
  const rate = n / secs(t0);
  await withSession(async (s) => {
    await s.run("MATCH (n:BenchFloor) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS");
    await s.run("DROP CONSTRAINT bench_floor_id IF EXISTS");
  });
  return rate;
}

async function main(): Promise<void> {
  const cfg = getConfig();
  console.log(
    `bench:ingest on ${cfg.uri}: ${L} layers × ${fmt(F)} features = ${fmt(L * F)} features; ` +
      `${fmt(G)} graphs × ${fmt(E)} edges = ${fmt(G * E)} edges; concurrency ${concurrency}`,
  );
  await wipe();
  const floorRate = await floor(200_000);
  console.log(`floor (UNWIND MATCH/MATCH CREATE, 200K rels, 20K per tx): ${fmt(floorRate)} rels/s`);

  const tAll = performance.now();
  await upsertModels([{ id: M, name: "gpt2 (bench)", nLayers: L, dModel: 768 }]);
  await upsertTranscoders([
    {
      id: T,
      modelId: M,
      kind: "clt",
      nLayers: L,
      dModel: 768,
      nFeatures: F,
      featureInputHook: "hook_resid_mid",
      featureOutputHook: "hook_mlp_out",
    },
  ]);
  let t0 = performance.now();
  const stubs = await ensureTranscoderFeatures(T);
  const stubSec = secs(t0);
  console.log(`feature nodes: ${fmt(stubs)} in ${stubSec.toFixed(1)} s = ${fmt(stubs / stubSec)} features/s`);

  if (!a["skip-stats"]) {
    t0 = performance.now();
    const batch = Number(a["feature-batch"]);
    let done = 0;
    for (let l = 0; l < L; l++) {
      for (let i0 = 0; i0 < F; i0 += batch) {
        const rows = [];
        for (let i = i0; i < Math.min(F, i0 + batch); i++)
          rows.push(featureRowFromStats(T, syntheticFeatureStats(l, i)));
        done += await upsertFeatures(rows, { batchSize: rows.length });
      }
      process.stderr.write(`  stats: layer ${l + 1}/${L}, ${fmt(done / secs(t0))} features/s\n`);
    }
    const s = secs(t0);
    console.log(
      `feature statistics: ${fmt(done)} in ${s.toFixed(1)} s = ${fmt(done / s)} features/s (generation included)`,
    );
  }

  const o = {
    scan: T,
    nLayers: L,
    featuresPerLayer: F,
    positions: 16,
    featureNodes: Number(a["feature-nodes"]),
    edges: E,
    seed: 0,
  };
  t0 = performance.now();
  let edges = 0;
  let next = 0;
  let genSec = 0;
  const timings = newGraphWriteTimings();
  const worker = async () => {
    while (next < G) {
      const k = next++;
      const tg = performance.now();
      const input = graphInputFromJson(syntheticGraph(o, k), { extras: { contentHash: `bench-${k}` } }).input;
      genSec += secs(tg);
      const r = await writeGraph(input, { timings });
      edges += r.edges;
      if ((k + 1) % Math.max(1, Math.round(G / 20)) === 0) {
        process.stderr.write(`  graphs: ${k + 1}/${G}, ${fmt(edges / secs(t0))} edges/s\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const gSec = secs(t0);
  const counts = await readTx((tx) =>
    tx.one<{ influences: number; nodes: number }>(
      `CALL { MATCH (:Feature {transcoderId: $t})-[r:INFLUENCES]->() RETURN count(r) AS influences }
       CALL { MATCH (g:Graph {transcoderId: $t}) RETURN sum(g.nNodes) AS nodes }
       RETURN influences, nodes`,
      { t: T },
    ),
  );
  console.log(
    `graphs: ${fmt(G)} graphs, ${fmt(counts.nodes)} graph nodes, ${fmt(edges)} edges in ${gSec.toFixed(1)} s = ` +
      `${fmt(edges / gSec)} edges/s (synthetic generation in the loop: ${genSec.toFixed(1)} s); ` +
      `${fmt(counts.influences)} INFLUENCES aggregates`,
  );
  console.log(
    `graph write phases (s): ${Object.entries(timings)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`)
      .join(", ")}`,
  );
  const total = secs(tAll);
  console.log(`total ingest: ${total.toFixed(1)} s (${(total / 60).toFixed(2)} min)`);
  console.log(`edges/s ÷ floor rels/s = ${(edges / gSec / floorRate).toFixed(2)}`);

  t0 = performance.now();
  await deleteGraph(`${T}-synthetic-0`);
  console.log(`delete one graph with its aggregate contribution: ${(secs(t0) * 1000).toFixed(0)} ms`);
  if (!a.keep) await wipe();
  await closeDriver();
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await closeDriver();
  process.exit(1);
});
