// `atlas ingest` against the real Neo4j (NEO4J_URI): a real run of the shipped demo model + demo
// CLT (two traced graphs with validations, a small greater-than study, feature statistics and
// labels in the features module's formats), virtual weights checked against an independent
// computation, idempotency, an interrupted ingest completed by a rerun, aggregates recomputed by
// independent Cypher, full-text search over labels, and deletion.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  closeDriver,
  createDriver,
  deleteGraph,
  deleteTranscoder,
  getDriver,
  loadConfig,
  loadMigrations,
  ping,
  readTx,
  toPlain,
} from "@circuit-atlas/db";
import { loadCltDir } from "../src/attribution/index.ts";
import {
  FEATURE_STATS_FORMAT,
  featureLayerFile,
  type LabelRecord,
  LabelRecordSchema,
} from "../src/features/formats.ts";
import { readCircuitTracerJson, writeCircuitTracerJson } from "../src/graph/index.ts";
import { copyDemoClt } from "../src/ingest/index.ts";
import { syntheticFeatureStats, syntheticGraph } from "../src/ingest/synthetic.ts";

type Driver = ReturnType<typeof createDriver>;

const root = mkdtempSync(join(tmpdir(), "ingest-"));
const bin = join(import.meta.dirname, "..", "bin", "atlas.mjs");
const TAG = `t${process.pid}${Date.now().toString(36)}`;
const T = `${TAG}-clt`; // the transcoder id = the copied CLT dir's name
const cltDir = join(root, T);
const runDir = join(root, "run");

function atlas(args: string[], timeout = 300_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout, env: process.env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

type Counts = Record<
  "features" | "graphs" | "graphNodes" | "attributes" | "influences" | "virtual" | "labels" | "studied",
  number
>;

async function counts(t: string): Promise<Counts> {
  return readTx((tx) =>
    tx.one<Counts>(
      `CALL { MATCH (n:Feature {transcoderId: $t}) RETURN count(n) AS features }
       CALL { MATCH (n:Graph {transcoderId: $t}) RETURN count(n) AS graphs }
       CALL { MATCH (:Graph {transcoderId: $t})-[:HAS_NODE]->(n) RETURN count(n) AS graphNodes }
       CALL { MATCH (:Graph {transcoderId: $t})-[:HAS_NODE]->()-[r:ATTRIBUTES]->() RETURN count(r) AS attributes }
       CALL { MATCH (:Feature {transcoderId: $t})-[r:INFLUENCES]->() RETURN count(r) AS influences }
       CALL { MATCH (:Feature {transcoderId: $t})-[r:VIRTUAL]->() RETURN count(r) AS virtual }
       CALL { MATCH (:Feature {transcoderId: $t})<-[r:DESCRIBES]-() RETURN count(r) AS labels }
       CALL { MATCH (:Study {transcoderId: $t})-[r:STUDIED]->() RETURN count(r) AS studied }
       RETURN features, graphs, graphNodes, attributes, influences, virtual, labels, studied`,
      { t },
    ),
  );
}

/** Stored INFLUENCES vs the same sums recomputed from the per-graph edges: mismatches as strings. */
async function aggregateMismatches(t: string): Promise<string[]> {
  const rows = await readTx((tx) =>
    tx.rows<{
      a: string;
      b: string;
      s: number | null;
      rs: number | null;
      c: number | null;
      rc: number | null;
      g: number | null;
      rg: number | null;
    }>(
      `CALL {
         MATCH (a:Feature {transcoderId: $t})-[r:INFLUENCES]->(b:Feature)
         RETURN a.id AS a, b.id AS b, r.weightSum AS s, r.count AS c, r.graphs AS g, null AS rs, null AS rc, null AS rg
         UNION ALL
         MATCH (gr:Graph {transcoderId: $t})-[:HAS_NODE]->(x)-[e:ATTRIBUTES]->(y), (x)-[:OF]->(a:Feature), (y)-[:OF]->(b:Feature)
         RETURN a.id AS a, b.id AS b, null AS s, null AS c, null AS g,
                sum(e.weight) AS rs, count(e) AS rc, count(DISTINCT gr) AS rg
       }
       WITH a, b, max(s) AS s, max(c) AS c, max(g) AS g, max(rs) AS rs, max(rc) AS rc, max(rg) AS rg
       WHERE s IS NULL OR rs IS NULL OR c <> rc OR g <> rg OR abs(s - rs) > 1e-9
       RETURN a, b, s, rs, c, rc, g, rg LIMIT 5`,
      { t },
    ),
  );
  return rows.map((r) => JSON.stringify(r));
}

/** Every node and relationship of transcoder `t`'s scope, with each property's stored Cypher type. */
/**
 * A store's schema and migration records: every constraint and index (ids and population progress
 * aside, which depend on creation order) and each applied migration's id, name and checksum.
 */
async function schemaSnapshot(driver: Driver): Promise<Record<string, unknown[]>> {
  const session = driver.session({ database: loadConfig().database });
  const rows = async (q: string) => (await session.run(q)).records.map((r) => r.toObject());
  try {
    return {
      constraints: await rows(
        "SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties, ownedIndex, propertyType, options, createStatement RETURN * ORDER BY name",
      ),
      indexes: await rows(
        "SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, properties, indexProvider, owningConstraint, options, state RETURN * ORDER BY name",
      ),
      migrations: await rows(
        "MATCH (m:Migration) RETURN m.id AS id, m.name AS name, m.checksum AS checksum ORDER BY id",
      ),
    };
  } finally {
    await session.close();
  }
}

async function snapshot(driver: Driver, t: string): Promise<{ nodes: unknown[]; rels: unknown[] }> {
  const scopeNodes = `CALL {
      MATCH (n:Transcoder {id: $t}) RETURN n
      UNION MATCH (:Transcoder {id: $t})-[:FOR_MODEL]->(n) RETURN n
      UNION MATCH (n:Feature {transcoderId: $t}) RETURN n
      UNION MATCH (n:Label)-[:DESCRIBES]->(:Feature {transcoderId: $t}) RETURN n
      UNION MATCH (n:Graph {transcoderId: $t}) RETURN n
      UNION MATCH (:Graph {transcoderId: $t})-[:HAS_NODE]->(n) RETURN n
      UNION MATCH (n:Study {transcoderId: $t}) RETURN n
    }`;
  // Ingest times differ by construction.
  const volatile = ["ingestedAt"];
  const props = (x: string) => `[k IN keys(${x}) WHERE NOT k IN $volatile | [k, valueType(${x}[k]), ${x}[k]]]`;
  const session = driver.session({ database: loadConfig().database });
  try {
    const nodes = await session.run(
      `${scopeNodes} RETURN labels(n) AS labels, n.id AS id, ${props("n")} AS props ORDER BY id`,
      { t, volatile },
    );
    const rels = await session.run(
      `${scopeNodes} WITH n MATCH (n)-[r]->(m)
       RETURN type(r) AS type, n.id AS a, m.id AS b, ${props("r")} AS props`,
      { t, volatile },
    );
    // Floats to 12 significant digits: avg() sums in relationship-chain order, which differs between
    // stores built differently (last-ulp differences); property types are still compared exactly.
    const round = (v: unknown): unknown =>
      typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(12)) : Array.isArray(v) ? v.map(round) : v;
    const sortProps = (p: unknown) =>
      (p as [string, string, unknown][])
        .map(([k, t, v]) => [k, t, round(v)])
        .sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1));
    return {
      nodes: nodes.records.map((r) => {
        const o = toPlain(r.toObject()) as { props: unknown };
        return { ...o, props: sortProps(o.props) };
      }),
      rels: rels.records
        .map((r) => {
          const o = toPlain(r.toObject()) as { props: unknown };
          return JSON.stringify({ ...o, props: sortProps(o.props) });
        })
        .sort(),
    };
  } finally {
    await session.close();
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

function labelRecord(
  layer: number,
  featureIndex: number,
  label: string,
  source: LabelRecord["source"],
  at: string,
): LabelRecord {
  return LabelRecordSchema.parse({
    version: 1,
    id: `lbl-${layer}-${featureIndex}-${source}-${at.slice(11, 19).replace(/:/g, "")}`,
    transcoder: T,
    featureId: `${layer}_${featureIndex}`,
    layer,
    featureIndex,
    source,
    label,
    description: `fires on ${label}`,
    confidence: source === "llm" ? 0.7 : null,
    scores:
      source === "llm"
        ? [
            {
              type: "detection",
              value: 0.8,
              ci95: [0.7, 0.9],
              positives: 10,
              negatives: 10,
              truePositives: 8,
              trueNegatives: 8,
              unjudged: 0,
              scorerModel: "scorer",
              promptVersion: "v1",
              exampleIds: ["0:1"],
            },
          ]
        : [],
    provenance: {
      explainer: {
        model: source === "llm" ? "explainer" : "heuristic",
        endpoint: null,
        promptVersion: "v1",
        temperature: null,
      },
      scorer: null,
      stats: { finishedAt: at, tokensSeen: 1000 },
      examplesShown: ["0:1"],
      seed: 0,
      usage: { calls: 1, promptTokens: 10, completionTokens: 5, costUsd: null },
      cacheKey: null,
      rule: source === "heuristic" ? "tokens" : null,
      startedAt: at,
      finishedAt: at,
    },
    createdAt: at,
    supersedes: null,
  });
}

describe("atlas ingest against the real Neo4j", () => {
  before(async () => {
    const r = await ping(loadConfig());
    if (!r.ok) throw new Error(`Neo4j is not reachable (${r.reason}): start it with \`npm run db:up\``);
    // A copy of the demo CLT under a per-run name, so the transcoder id is this test's own.
    copyDemoClt(root, T);
    // Feature statistics for layer 0 and 1 (all 512 features each) and labels, in the features module's formats.
    mkdirSync(join(cltDir, "features"));
    const layers = [0, 1].map((layer) => {
      const lines = Array.from({ length: 512 }, (_, i) =>
        JSON.stringify(syntheticFeatureStats(layer, i, { window: 6 })),
      );
      writeFileSync(join(cltDir, "features", featureLayerFile(layer)), gzipSync(`${lines.join("\n")}\n`));
      return { layer, file: featureLayerFile(layer), features: 512, live: 512 };
    });
    const now = new Date().toISOString();
    writeFileSync(
      join(cltDir, "features", "manifest.json"),
      JSON.stringify({
        format: FEATURE_STATS_FORMAT,
        version: 1,
        transcoder: { id: T, nLayers: 4, nFeatures: 512, dModel: 128 },
        model: { dir: null, name: null },
        corpus: { path: "x", tokensRequested: 1000, nCtx: 64, seed: 0 },
        tokensSeen: 1000,
        contexts: 10,
        params: {
          topK: 5,
          nQuantiles: 2,
          perQuantile: 2,
          nNegatives: 0,
          windowBefore: 3,
          windowAfter: 2,
          histogramBins: 32,
          logitsK: 10,
          seed: 0,
        },
        layers,
        stateBytesPerFeature: 100,
        startedAt: now,
        finishedAt: now,
        elapsedSec: 1,
        complete: true,
      }),
    );
    mkdirSync(join(cltDir, "labels"));
    const labels = [
      labelRecord(1, 7, "four digit years", "heuristic", "2026-01-01T00:00:00.000Z"),
      labelRecord(1, 7, "century of a date range", "llm", "2026-01-02T00:00:00.000Z"),
      labelRecord(0, 3, "opening parenthesis", "heuristic", "2026-01-01T00:00:00.000Z"),
    ];
    writeFileSync(join(cltDir, "labels", "labels.jsonl"), `${labels.map((l) => JSON.stringify(l)).join("\n")}\n`);
    // Two real graphs (with ablation validations) and a small study, made by the pipeline.
    for (const [slug, prompt] of [
      [`${TAG}-war`, "The war lasted from the year 1711 to 17"],
      [`${TAG}-deal`, "The war lasted from the year 1652 to 16"],
    ]) {
      const r = atlas([
        "trace",
        "--clt",
        cltDir,
        "--prompt",
        prompt!,
        "--out",
        join(runDir, `${slug}.json`),
        "--slug",
        slug!,
        "--validate",
        "4",
        "--quiet",
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const s = atlas([
      "study",
      "greater-than",
      "--clt",
      cltDir,
      "--out",
      join(runDir, "study"),
      "--prompts",
      "98",
      "--graphs",
      "2",
      "--heatmap-per-yy",
      "1",
      "--top",
      "6",
      "--svg-features",
      "0",
      "--quiet",
    ]);
    assert.equal(s.code, 0, s.stderr);
  });
  after(async () => {
    await deleteTranscoder(T);
    await deleteTranscoder(`${TAG}-syn`);
    await closeDriver();
    rmSync(root, { recursive: true, force: true });
  });

  test("a real demo run: transcoder, features, labels, graphs, validations, study, virtual weights", async () => {
    const r = atlas(["ingest", runDir, "--clt", cltDir, "--virtual-top-k", "3", "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.transcoderId, T);
    assert.equal(summary.graphs.created, 2);
    assert.equal(summary.features, 1024);
    assert.equal(summary.labels, 3);

    const c = await counts(T);
    const war = readCircuitTracerJson(join(runDir, `${TAG}-war.json`));
    const deal = readCircuitTracerJson(join(runDir, `${TAG}-deal.json`));
    assert.equal(c.features, 4 * 512);
    assert.equal(c.graphs, 2);
    assert.equal(c.graphNodes, war.nodes.length + deal.nodes.length);
    assert.equal(c.attributes, war.links.length + deal.links.length);
    assert.equal(c.labels, 3);
    assert.equal(c.studied, 6);
    assert.ok(c.influences > 0);
    assert.deepEqual(await aggregateMismatches(T), []);

    // Graph properties straight from the JSON.
    const g = await readTx((tx) =>
      tx.one(
        `MATCH (g:Graph {id: $id}) RETURN g.prompt AS prompt, g.tokens AS tokens, g.replacementScore AS rs,
                g.validationSpearmanLive AS sl, g.sideFileSha256 AS sha, g.targetLogits AS tl`,
        { id: `${TAG}-war` },
      ),
    );
    assert.equal(g.prompt, "The war lasted from the year 1711 to 17");
    assert.deepEqual(g.tokens, war.metadata.prompt_tokens);
    assert.equal(
      g.rs,
      (war.metadata as unknown as { atlas: { scores: { unpruned: { replacement: number } } } }).atlas.scores.unpruned
        .replacement,
    );
    assert.match(String(g.sha), /^[0-9a-f]{64}$/);
    const v = JSON.parse(readFileSync(join(runDir, `${TAG}-war.validation.json`), "utf8"));
    assert.equal(g.sl, v.live.spearman);
    const top = JSON.parse(String(g.tl))[0];
    assert.match(top.token, /^\d\d$/, "the target logit token comes from the side file");

    // Causal evidence: the validated nodes carry predicted/measured effects; the feature summary is their mean.
    const ids = new Set(war.nodes.map((n) => n.node_id));
    const entries = (v.live.entries as { nodeId: string; predicted: number; measured: number }[]).filter((e) =>
      ids.has(e.nodeId),
    );
    assert.ok(entries.length > 0);
    const e = entries[0]!;
    const node = await readTx((tx) =>
      tx.one(
        `MATCH (n:GraphNode {id: $id})-[:OF]->(f:Feature)
         RETURN n.ablationPredicted AS p, n.ablationMeasuredLive AS ml, n.ablationMeasuredFrozen AS mf, f.id AS fid`,
        { id: `${TAG}-war/${e.nodeId}` },
      ),
    );
    assert.equal(node.p, e.predicted);
    assert.equal(node.ml, e.measured);
    assert.equal(node.mf, v.frozen.entries.find((x: { nodeId: string }) => x.nodeId === e.nodeId).measured);
    const mine: number[] = [];
    for (const slug of [`${TAG}-war`, `${TAG}-deal`]) {
      const vv = JSON.parse(readFileSync(join(runDir, `${slug}.validation.json`), "utf8"));
      const gj = readCircuitTracerJson(join(runDir, `${slug}.json`));
      const present = new Set(gj.nodes.map((n) => n.node_id));
      for (const x of vv.live.entries) {
        const [l, i] = x.nodeId.split("_");
        if (present.has(x.nodeId) && `${T}/${l}_${i}` === node.fid) mine.push(x.measured);
      }
    }
    const f = await readTx((tx) =>
      tx.one<{ c: number; m: number }>(
        "MATCH (f:Feature {id: $id}) RETURN f.ablationCount AS c, f.ablationMeasuredLiveMean AS m",
        {
          id: node.fid,
        },
      ),
    );
    assert.equal(f.c, mine.length);
    assert.ok(Math.abs(f.m - mine.reduce((s, x) => s + x, 0) / mine.length) < 1e-12);

    // Feature statistics: typed columns plus compact JSON.
    const st = syntheticFeatureStats(1, 7, { window: 6 });
    const fs = await readTx((tx) =>
      tx.one(
        "MATCH (f:Feature {id: $id}) RETURN f.density AS d, f.examples AS ex, f.topLogits AS tl, f.label AS label",
        {
          id: `${T}/1_7`,
        },
      ),
    );
    assert.equal(fs.d, st.density);
    const ex = JSON.parse(String(fs.ex));
    assert.equal(ex.top.length, st.topExamples.length);
    assert.deepEqual(
      ex.top[0].acts,
      st.topExamples[0]!.acts.flatMap((x, i) => (x !== 0 ? [[i, x]] : [])),
    );
    assert.deepEqual(JSON.parse(String(fs.tl)), st.logits.top);
    assert.equal(fs.label, "century of a date range", "the LLM label is current over the heuristic one");

    // Study: heatmap rows with data, stored compactly.
    const study = JSON.parse(readFileSync(join(runDir, "study", "greater-than.json"), "utf8"));
    const sf = study.features[0];
    const st0 = await readTx((tx) =>
      tx.one(
        "MATCH (:Study {id: $id})-[s:STUDIED {rank: 0}]->(f:Feature) RETURN f.id AS f, s.heatmapRows AS rows, s.heatmap AS h",
        { id: `${T}/greater-than` },
      ),
    );
    assert.equal(st0.f, `${T}/${sf.layer}_${sf.featureIndex}`);
    const rows = (sf.heatmap as (number[] | null)[]).flatMap((row, yy) => (row ? [yy] : []));
    assert.deepEqual(st0.rows, rows);
    assert.deepEqual(
      st0.h,
      rows.flatMap((yy) => sf.heatmap[yy]),
    );

    // Virtual weights: one stored edge against a float64 recomputation from the weights.
    const { clt } = loadCltDir(cltDir);
    const vw = await readTx((tx) =>
      tx.rows<{ s: string; t: string; w: number }>(
        "MATCH (a:Feature {transcoderId: $t})-[v:VIRTUAL]->(b:Feature) RETURN a.id AS s, b.id AS t, v.weight AS w ORDER BY abs(v.weight) DESC LIMIT 3",
        { t: T },
      ),
    );
    assert.ok(vw.length > 0);
    for (const x of vw) {
      const [ls, is] = x.s.split("/")[1]!.split("_").map(Number) as [number, number];
      const [lt, it] = x.t.split("/")[1]!.split("_").map(Number) as [number, number];
      assert.ok(ls < lt);
      const d = clt.shape.dModel;
      const span = clt.shape.nLayers - ls;
      let w = 0;
      for (let c = 0; c < d; c++) {
        let dec = 0;
        for (let j = ls; j < lt; j++) dec += clt.wDec[ls]![(is * span + (j - ls)) * d + c]!;
        w += dec * clt.wEnc[lt]![it * d + c]!;
      }
      assert.ok(Math.abs(w - x.w) <= 1e-4 * Math.max(1, Math.abs(w)), `${x.s}→${x.t}: ${x.w} vs ${w}`);
    }
  });

  test("ingesting the same run again changes nothing", async () => {
    const before = await counts(T);
    const r = atlas(["ingest", runDir, "--clt", cltDir, "--virtual-top-k", "3", "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).graphs.unchanged, 2);
    assert.deepEqual(await counts(T), before);
    assert.deepEqual(await aggregateMismatches(T), []);
  });

  test("--bulk into an empty local server builds exactly the graph the Bolt ingest built", async (t) => {
    if (!loadConfig().local) {
      t.skip("NEO4J_URI is external: the bulk route only serves the local managed server");
      return;
    }
    // A second, throw-away local server (own home and port): the bulk route stops and restarts it.
    const port = await freePort();
    const env = {
      ...process.env,
      ATLAS_NEO4J_HOME: join(root, "bulk-neo4j"),
      NEO4J_URI: `bolt://127.0.0.1:${port}`,
      ATLAS_NEO4J_HEAP: "512m",
      ATLAS_NEO4J_PAGECACHE: "256m",
      // a fresh store's first start is slow on a busy machine
      ATLAS_DB_START_TIMEOUT: "600",
    };
    const repo = join(import.meta.dirname, "..", "..");
    const db = (cmd: string) =>
      spawnSync(process.execPath, ["--import", "tsx", join(repo, "db", "src", "cli", "main.ts"), cmd], {
        cwd: repo,
        env,
        encoding: "utf8",
        timeout: 600_000,
      });
    const bulkArgs = ["ingest", runDir, "--clt", cltDir, "--virtual-top-k", "3", "--bulk", "--quiet"];
    let driver: Driver | undefined;
    try {
      const up = db("up");
      assert.equal(up.status, 0, up.stderr);
      const r = spawnSync(process.execPath, [bin, ...bulkArgs], { encoding: "utf8", timeout: 900_000, env });
      assert.equal(r.status, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      assert.equal(s.graphs.created, 2);
      assert.equal(s.features, 1024);
      assert.ok(s.bulk.relationships > 0);

      driver = createDriver(loadConfig(env));
      const bolt = await snapshot(getDriver(), T);
      const bulk = await snapshot(driver, T);
      assert.ok(bolt.nodes.length > 4 * 512 && bolt.rels.length > 1000);
      assert.equal(bulk.nodes.length, bolt.nodes.length, "same nodes");
      assert.deepEqual(bulk.nodes, bolt.nodes, "same nodes, properties and property types");
      assert.equal(bulk.rels.length, bolt.rels.length, "same relationships");
      assert.deepEqual(bulk.rels, bolt.rels, "same relationships, properties and property types");

      // The bulk schema step (the migrations' final schema at once) leaves exactly the constraints,
      // indexes and migration records that migrating over Bolt one statement at a time does.
      const boltSchema = await schemaSnapshot(getDriver());
      const bulkSchema = await schemaSnapshot(driver);
      assert.ok(boltSchema.indexes!.some((i) => (i as { name: string }).name === "influences_key"));
      assert.ok(!boltSchema.indexes!.some((i) => (i as { name: string }).name === "featureLabels"));
      assert.equal(boltSchema.migrations!.length, loadMigrations().length);
      assert.deepEqual(bulkSchema.constraints, boltSchema.constraints, "same constraints");
      assert.deepEqual(bulkSchema.indexes, boltSchema.indexes, "same indexes, all ONLINE");
      assert.deepEqual(bulkSchema.migrations, boltSchema.migrations, "same migration records and checksums");
      assert.ok(bulkSchema.indexes!.every((i) => (i as { state: string }).state === "ONLINE"));
      // and the ordinary migrator finds nothing to do on it
      const again = db("up");
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stderr + again.stdout, new RegExp(`0 applied, ${loadMigrations().length} already applied`));

      // The store now holds atlas data: a second --bulk is refused with one sentence.
      const second = spawnSync(process.execPath, [bin, ...bulkArgs], { encoding: "utf8", timeout: 300_000, env });
      assert.notEqual(second.status, 0);
      assert.match(second.stderr, /bulk import needs an empty database/);
    } finally {
      await driver?.close();
      db("down");
    }
    // Against a server that is not the local managed one it refuses before touching anything.
    const ext = spawnSync(process.execPath, [bin, ...bulkArgs], {
      encoding: "utf8",
      timeout: 120_000,
      env: { ...env, NEO4J_URI: "bolt://atlas-db.invalid:7687" },
    });
    assert.notEqual(ext.status, 0);
    assert.match(ext.stderr, /is another server: ingest without --bulk/);
  });

  test("full-text search over labels finds the feature, typos included", async () => {
    const search = (q: string) =>
      readTx((tx) =>
        tx.rows<{ id: string }>(
          "CALL db.index.fulltext.queryNodes('featureSearch', $q) YIELD node WHERE node.transcoderId = $t RETURN node.id AS id",
          { q, t: T },
        ),
      );
    assert.deepEqual(await search("centruy~ date"), [{ id: `${T}/1_7` }]);
    assert.deepEqual(await search("parenthesis"), [{ id: `${T}/0_3` }]);
    assert.deepEqual(await search("four digit years"), [], "the heuristic label of 1_7 is history, not current");
  });

  test("labels export back to JSONL, one stored label per line", async () => {
    const out = join(root, "labels-backup.jsonl");
    const r = atlas(["export-labels", "--out", out, "--transcoder", T]);
    assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    const current = lines
      .filter((l) => l.current)
      .map((l) => l.text)
      .sort();
    assert.deepEqual(current, ["century of a date range", "opening parenthesis"]);
    const llm = lines.find((l) => l.text === "century of a date range");
    assert.equal(llm.featureId, `${T}/1_7`);
    assert.equal(llm.score, 0.8);
    assert.equal(JSON.parse(llm.provenance).explainer.model, "explainer");
  });

  test("deleting a graph keeps the aggregates consistent", async () => {
    const before = await counts(T);
    assert.equal(await deleteGraph(`${TAG}-deal`), true);
    const c = await counts(T);
    assert.equal(c.graphs, before.graphs - 1);
    assert.deepEqual(await aggregateMismatches(T), []);
    const gc = await readTx((tx) =>
      tx.one(
        `MATCH (f:Feature {transcoderId: $t}) WHERE coalesce(f.graphCount, 0) > 0
         OPTIONAL MATCH (f)<-[:OF]-(n:GraphNode)
         WITH f, count(DISTINCT n.graphId) AS real WHERE real <> f.graphCount RETURN count(f) AS bad`,
        { t: T },
      ),
    );
    assert.equal(gc.bad, 0);
  });

  test("an interrupted ingest is completed by a rerun without duplicates", async () => {
    const t = `${TAG}-syn`;
    const dir = join(root, "syn");
    const synClt = join(root, t);
    mkdirSync(synClt, { recursive: true });
    for (const f of ["config.json", "clt.safetensors"]) copyFileSync(join(cltDir, f), join(synClt, f));
    const o = { scan: t, nLayers: 4, featuresPerLayer: 512, positions: 8, featureNodes: 80, edges: 1500, seed: 3 };
    const files: string[] = [];
    for (let k = 0; k < 16; k++) {
      const p = join(dir, `g${k}.json`);
      writeCircuitTracerJson(p, syntheticGraph(o, k));
      files.push(p);
    }
    const links = files.reduce((s, f) => s + readCircuitTracerJson(f).links.length, 0);
    // Kill the first ingest as soon as some graphs are committed (two graphs per transaction).
    const ingestArgs = ["ingest", dir, "--clt", synClt, "--edges-per-tx", "3000", "--graphs", ...files, "--quiet"];
    const child = spawn(process.execPath, [bin, ...ingestArgs], {
      env: process.env,
      stdio: "ignore",
    });
    const exited = new Promise<void>((res) => child.on("exit", () => res()));
    let seen = 0;
    for (let i = 0; i < 600 && seen === 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      seen = (await counts(t)).graphs;
    }
    child.kill("SIGKILL");
    await exited;
    const partial = await counts(t);
    assert.ok(
      partial.graphs >= 1 && partial.graphs < files.length,
      `killed after ${partial.graphs} of ${files.length} graphs`,
    );
    assert.deepEqual(await aggregateMismatches(t), [], "every committed graph is complete");

    const r = atlas(ingestArgs);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.graphs.unchanged, partial.graphs);
    assert.equal(s.graphs.created, files.length - partial.graphs);
    const c = await counts(t);
    assert.equal(c.graphs, files.length);
    assert.equal(c.attributes, links);
    assert.deepEqual(await aggregateMismatches(t), []);
  });

  test("bad input: one clear sentence and a non-zero exit", () => {
    const r = atlas(["ingest", join(root, "nope"), "--quiet"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /RUN_DIR .*nope is not a directory/);
    const bad = join(root, "bad");
    mkdirSync(bad);
    writeFileSync(join(bad, "g.json"), "{not json");
    const r2 = atlas(["ingest", bad, "--clt", cltDir, "--graphs", join(bad, "g.json"), "--quiet"]);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /g\.json is not valid JSON/);
  });
});
