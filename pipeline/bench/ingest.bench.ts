// Atlas ingest benchmark on synthetic GPT-2-Small-scale data (12 layers × 49,152 features =
// 589,824 features; 1,000 graphs × 10,000 pruned edges = 10M edges), through the same code as
// `atlas ingest`: feature stubs, FeatureStats upserts, one transaction per graph with its
// incremental INFLUENCES aggregates. The floor, measured in the same run on the same server, is the
// plain `UNWIND … MATCH (a {id}) MATCH (b {id}) CREATE (a)-[:R]->(b)` relationship rate
// (stack-notes X11 measured ≈ 15K/s with it).
//
// `--bulk` measures the first load through the offline importer instead (`atlas ingest --bulk`: CSV,
// `neo4j-admin database import full`, restart, the migrations' schema at once); it needs the local
// managed server with no atlas data in it, and resets that server's store afterwards (unless --keep).
// The npm script runs node with --max-semi-space-size=64 (a larger young generation: ≈ 15% less CPU
// in the encoder, whose short-lived strings and row objects otherwise keep the scavenger busy).
//
//   NEO4J_URI=bolt://127.0.0.1:7692 npm run bench:ingest [-- --scale 0.1 --concurrency 2 --edges-per-tx 50000 --keep]
//   NEO4J_URI=bolt://127.0.0.1:7692 npm run bench:ingest -- --bulk [--scale 1]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  assertBulkTarget,
  BulkImport,
  closeDriver,
  deleteGraph,
  ensureTranscoderFeatures,
  type GraphInput,
  getConfig,
  int,
  newGraphWriteTimings,
  readTx,
  reset,
  serverSettings,
  upsertFeatures,
  upsertModels,
  upsertTranscoders,
  withSession,
  writeGraphs,
  writeTx,
} from "@circuit-atlas/db";
import { featureRowFromStats, graphInputFromJson } from "../src/ingest/sources.ts";
import { syntheticAtlasRows, syntheticFeatureStats, syntheticGraph } from "../src/ingest/synthetic.ts";

const { values: a } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    graphs: { type: "string" },
    "edges-per-graph": { type: "string", default: "10000" },
    "feature-nodes": { type: "string", default: "600" },
    concurrency: { type: "string", default: "1" },
    "edges-per-tx": { type: "string", default: "50000" },
    "feature-batch": { type: "string", default: "2000" },
    "skip-stats": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    bulk: { type: "boolean", default: false },
    "bulk-dir": { type: "string" },
    "floor-rels": { type: "string", default: "200000" },
  },
});
const scale = Number(a.scale);
const L = 12;
const F = Math.max(16, Math.round(49152 * scale));
const G = a.graphs ? Number(a.graphs) : Math.max(2, Math.round(1000 * scale));
const E = Number(a["edges-per-graph"]);
const concurrency = Number(a.concurrency);
const edgesPerTx = Number(a["edges-per-tx"]);
const T = "bench-gpt2s-clt";
const M = "bench-gpt2s";

const {
  model: MODEL,
  transcoder: TRANSCODER,
  graphs: SYNTHETIC,
} = syntheticAtlasRows({
  modelId: M,
  modelName: "gpt2 (bench)",
  transcoderId: T,
  nLayers: L,
  dModel: 768,
  featuresPerLayer: F,
  featureNodes: Number(a["feature-nodes"]),
  edges: E,
});

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
      `${fmt(G)} graphs × ${fmt(E)} edges = ${fmt(G * E)} edges; concurrency ${concurrency}, ~${fmt(edgesPerTx)} edges per tx`,
  );
  await wipe();
  const floorRels = Number(a["floor-rels"]);
  const floorRate = await floor(floorRels);
  console.log(`floor (UNWIND MATCH/MATCH CREATE, ${fmt(floorRels)} rels, 20K per tx): ${fmt(floorRate)} rels/s`);

  if (a.bulk) {
    await bulkBench(floorRate);
    return;
  }
  const tAll = performance.now();
  await upsertModels([MODEL]);
  await upsertTranscoders([TRANSCODER]);
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

  const o = SYNTHETIC;
  t0 = performance.now();
  let edges = 0;
  let next = 0;
  let genSec = 0;
  const timings = newGraphWriteTimings();
  let lastReport = 0;
  const worker = async () => {
    while (next < G) {
      // Whole graphs per transaction up to about `edgesPerTx` edges, as `atlas ingest` does.
      const batch: GraphInput[] = [];
      let batchEdges = 0;
      const tg = performance.now();
      while (next < G && (batch.length === 0 || batchEdges < edgesPerTx)) {
        const k = next++;
        const input = graphInputFromJson(syntheticGraph(o, k), { extras: { contentHash: `bench-${k}` } }).input;
        batch.push(input);
        batchEdges += input.edges.length;
      }
      genSec += secs(tg);
      for (const r of await writeGraphs(batch, { timings })) edges += r.edges;
      const done = next;
      if (done - lastReport >= Math.max(1, Math.round(G / 20)) || done === G) {
        lastReport = done;
        process.stderr.write(`  graphs: ${done}/${G}, ${fmt(edges / secs(t0))} edges/s\n`);
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

/**
 * The first load through the offline importer (`atlas ingest --bulk`): the same synthetic rows as
 * CSV, the import into the local server's store, restart and migrations (constraints, indexes,
 * full-text). The server must be the local managed one and hold no atlas data.
 */
async function bulkBench(floorRate: number): Promise<void> {
  await assertBulkTarget();
  const dir = a["bulk-dir"] ?? mkdtempSync(join(tmpdir(), "atlas-bulk-bench-"));
  const tAll = performance.now();
  const bulk = new BulkImport(dir);
  bulk.addModel(MODEL);
  bulk.addTranscoder(TRANSCODER);
  const o = SYNTHETIC;
  let t0 = performance.now();
  let edges = 0;
  let nodes = 0;
  // The synthetic graphs stand in for graph files; making them is not ingest work, so it is timed
  // apart and left out of the ingest times (the JSON → GraphInput conversion stays in).
  let genSec = 0;
  for (let k = 0; k < G; k++) {
    const tg = performance.now();
    const json = syntheticGraph(o, k);
    genSec += secs(tg);
    const r = bulk.addGraph(graphInputFromJson(json, { extras: { contentHash: `bench-${k}` } }).input);
    edges += r.edges;
    nodes += r.nodes;
    if ((k + 1) % Math.max(1, Math.round(G / 10)) === 0) {
      process.stderr.write(`  graphs → CSV: ${k + 1}/${G}, ${fmt(edges / (secs(t0) - genSec))} edges/s\n`);
    }
  }
  const gSec = secs(t0) - genSec;
  console.log(
    `graphs → CSV: ${fmt(G)} graphs, ${fmt(nodes)} nodes, ${fmt(edges)} edges in ${gSec.toFixed(1)} s = ` +
      `${fmt(edges / gSec)} edges/s (synthetic generation, not counted: ${genSec.toFixed(1)} s)`,
  );
  t0 = performance.now();
  let features = 0;
  if (!a["skip-stats"]) {
    for (let l = 0; l < L; l++) {
      const rows = [];
      for (let i = 0; i < F; i++) rows.push(featureRowFromStats(T, syntheticFeatureStats(l, i)));
      bulk.addFeatures(rows);
      features += rows.length;
    }
    const fSec = secs(t0);
    console.log(
      `feature statistics → CSV (generation included): ${fmt(features)} in ${fSec.toFixed(1)} s = ${fmt(features / fSec)} features/s`,
    );
  }
  const r = await bulk.run({ log: (m) => process.stderr.write(`  ${m}\n`) });
  const total = secs(tAll) - genSec;
  const wait = r.stopSeconds + r.startSeconds + r.migrateSeconds;
  console.log(
    `bulk import: ${fmt(r.nodes)} nodes, ${fmt(r.relationships)} relationships (${fmt(r.influences)} INFLUENCES); ` +
      `phases (s): CSV ${(r.csvSeconds - genSec).toFixed(1)}, server stop ${r.stopSeconds.toFixed(1)}, ` +
      `offline import ${r.importSeconds.toFixed(1)} (${fmt(r.relationships / r.importSeconds)} rels/s, ` +
      `${fmt(edges / r.importSeconds)} edges/s), server start ${r.startSeconds.toFixed(1)}, ` +
      `schema (the migrations' constraints and indexes at once) ${r.migrateSeconds.toFixed(1)}, ablation summaries ${r.finishSeconds.toFixed(1)}; ` +
      `stop + start + migrations ${wait.toFixed(1)}`,
  );
  const stages = Object.entries(r.importStages)
    .map(([k, v]) => `${k.toLowerCase()} ${v.toFixed(1)}`)
    .join(", ");
  console.log(`offline import stages (s): ${stages}`);
  const mem = serverSettings();
  console.log(
    `memory: server heap ${mem.ATLAS_NEO4J_HEAP}, page cache ${mem.ATLAS_NEO4J_PAGECACHE}, tx max ${mem.ATLAS_NEO4J_TX_MAX}; ` +
      `importer heap ${mem.ATLAS_NEO4J_HEAP}, off-heap ≤ 2 × page cache`,
  );
  console.log(
    `total: ${total.toFixed(1)} s (${(total / 60).toFixed(2)} min) = ${fmt(edges / total)} edges/s, ` +
      `${fmt((L * F) / total)} features/s end to end`,
  );
  console.log(`edges/s ÷ floor rels/s = ${(edges / total / floorRate).toFixed(2)}`);
  const counts = await readTx((tx) =>
    tx.one<{ influences: number; edges: number }>(
      `CALL { MATCH ()-[r:INFLUENCES]->() RETURN count(r) AS influences }
       CALL { MATCH ()-[r:ATTRIBUTES]->() RETURN count(r) AS edges }
       RETURN influences, edges`,
    ),
  );
  console.log(`stored: ${fmt(counts.edges)} ATTRIBUTES, ${fmt(counts.influences)} INFLUENCES`);
  t0 = performance.now();
  await deleteGraph(`${T}-synthetic-0`);
  console.log(`delete one graph with its aggregate contribution (Bolt): ${(secs(t0) * 1000).toFixed(0)} ms`);
  if (!a["bulk-dir"]) rmSync(dir, { recursive: true, force: true });
  // The database held no atlas data before (assertBulkTarget), so emptying the local store again is
  // a reset (seconds), not a Bolt delete of 16M relationships (many minutes).
  if (!a.keep) await reset({ log: (m) => process.stderr.write(`  ${m}\n`) });
  await closeDriver();
}

main().catch(async (err) => {
  console.error(err instanceof Error ? err.message : err);
  await closeDriver();
  process.exit(1);
});
