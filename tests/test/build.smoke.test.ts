// The main job end to end at smoke size: `atlas build` trains a tiny CLT on the demo model, traces two
// prompts, runs a small greater-than study, computes dashboards and offline labels, ingests into the
// real Neo4j at NEO4J_URI; the real GraphQL API then answers a label search and a graph query from
// what was built. A rerun skips every stage; changing only the prompts reruns only what reads them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { closeDriver, deleteTranscoder } from "@circuit-atlas/db";
import { freePort, repoRoot, type Server, startServer } from "../src/stack.ts";

const work = mkdtempSync(join(tmpdir(), "atlas-build-"));
const name = `smoke${process.pid}`;
const out = join(work, "run");
const configFile = join(work, "smoke.json");
const PROMPTS = ["The war lasted from the year 1711 to 17", "The pandemic lasted from the year 1732 to 17"];
const smoke = (prompts: string[]) => ({
  corpus: { demoTokens: 60_000 },
  // 128 steps of 256 tokens: past the 50-step LR warm-up, so the tiny CLT does learn.
  clt: { featuresPerLayer: 64, tokens: 32_768, batchTokens: 256, extraArgs: ["--checkpoint-every", "32"] },
  eval: { tokens: 2048 },
  features: { tokens: 4000 },
  prompts,
  trace: { validate: 2 },
  study: { prompts: 98, graphs: 2, top: 8 },
  ingest: { virtualTopK: 2 },
});
let api: Server | undefined;
after(async () => {
  await api?.stop();
  await deleteTranscoder(`${name}-clt`).catch(() => {});
  await closeDriver();
  rmSync(work, { recursive: true, force: true });
});

interface Summary {
  graphs: number;
  labels: number;
  features: { total: number };
  eval: { fvuMean: number } | null;
  study: { pdModel: number } | null;
  stages: { name: string; action: string }[];
}

function build(prompts: string[]): Summary {
  writeFileSync(configFile, JSON.stringify(smoke(prompts)));
  const r = spawnSync(
    process.execPath,
    [join(repoRoot, "pipeline", "bin", "atlas.mjs"), "build", "--config", configFile, "--out", out, "--name", name],
    { encoding: "utf8", env: process.env, timeout: 20 * 60_000 },
  );
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  return JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
}

const actions = (s: Summary) => Object.fromEntries(s.stages.map((x) => [x.name, x.action]));

async function gql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
  const res = await fetch(api!.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data!;
}

test("atlas build: raw text → CLT → graphs, study, dashboards, labels → Neo4j → GraphQL", async () => {
  const first = build(PROMPTS);
  assert.deepEqual(
    Object.values(actions(first)).filter((a) => a !== "run"),
    [],
    "a fresh build runs every stage",
  );
  assert.equal(first.features.total, 4 * 64);
  assert.equal(first.graphs, 2);
  assert.ok(first.labels > 0, "offline labels written");
  assert.ok(first.eval && first.eval.fvuMean < 1, `FVU ${first.eval?.fvuMean}`);
  assert.ok(first.study && Number.isFinite(first.study.pdModel));

  const port = await freePort();
  api = await startServer({
    name: "build-smoke-api",
    cmd: "npm",
    args: ["run", "--silent", "api"],
    env: { PORT: String(port) },
    readyUrl: `http://127.0.0.1:${port}/graphql`,
    readyGraphQL: "{ __typename }",
  });

  // Search by the rarest word of the offline labels: the feature it labels must be among the hits.
  const labels = readFileSync(join(out, `${name}-clt`, "labels", "labels.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { featureId: string; label: string });
  const wordsOf = (t: string) => [
    ...new Set(
      t
        .toLowerCase()
        .split(/[^a-z]+/)
        .filter((w) => w.length > 3),
    ),
  ];
  const freq = new Map<string, number>();
  for (const l of labels) for (const w of wordsOf(l.label)) freq.set(w, (freq.get(w) ?? 0) + 1);
  const [word, n] = [...freq].sort((x, y) => x[1] - y[1])[0]!;
  const target = labels.find((l) => wordsOf(l.label).includes(word))!;
  const search = await gql<{ searchFeatures: { totalCount: number; edges: { feature: { id: string } }[] } }>(
    "query($q: String!, $t: ID) { searchFeatures(query: $q, transcoder: $t, first: 50) { totalCount edges { feature { id } } } }",
    { q: word, t: `${name}-clt` },
  );
  assert.ok(search.searchFeatures.totalCount >= n, `search "${word}": ${search.searchFeatures.totalCount} hits`);
  const ids = search.searchFeatures.edges.map((e) => e.feature.id);
  assert.ok(ids.every((id) => id.startsWith(`${name}-clt/`)));
  assert.ok(ids.includes(`${name}-clt/${target.featureId}`), `"${word}" did not find ${target.featureId}`);

  const graphFile = join(out, "graphs", `${name}-prompt-01.json`);
  const onDisk = JSON.parse(readFileSync(graphFile, "utf8")) as { nodes: unknown[]; links: unknown[] };
  const g = await gql<{ graph: { prompt: string; nodeCount: number; edgeCount: number; tokens: string[] } }>(
    "query($id: ID!) { graph(id: $id) { prompt nodeCount edgeCount tokens } }",
    { id: `${name}-prompt-01` },
  );
  assert.equal(g.graph.prompt, PROMPTS[0]);
  assert.equal(g.graph.nodeCount, onDisk.nodes.length);
  assert.equal(g.graph.edgeCount, onDisk.links.length);
  const pandemic = await gql<{ graph: { tokens: string[] } }>("query($id: ID!) { graph(id: $id) { tokens } }", {
    id: `${name}-prompt-02`,
  });
  assert.ok(pandemic.graph.tokens.includes("<unk>"), "out-of-vocabulary words trace as <unk>");
});

test("atlas build: a rerun skips every stage; new prompts rerun only graphs and ingest", () => {
  const again = build(PROMPTS);
  assert.deepEqual(new Set(Object.values(actions(again))), new Set(["skip"]));
  const more = build([...PROMPTS, "The expedition lasted from the year 1654 to 16"]);
  const a = actions(more);
  for (const s of ["corpus", "clt", "eval", "study", "features", "labels"]) assert.equal(a[s], "skip", s);
  assert.equal(a.graphs, "run");
  assert.equal(a.ingest, "run");
  assert.equal(more.graphs, 3);
});
