// The demo atlas the cross-package tests run on, made by the pipeline's own CLI on the shipped demo
// model and demo CLT: held-out demo text → feature statistics → heuristic labels, two traced
// greater-than graphs with ablation validations, a reduced greater-than study, then `atlas ingest`
// into the Neo4j at NEO4J_URI.
//
// Building the run takes minutes, so it is done once and shared: the files go to
// .test-results/demo-atlas/ (root `npm test` empties .test-results/ first, so every full run builds
// afresh; the key below also notices retrained demo assets), and the ingested atlas is reused by
// every test file of the run when the database already holds it complete. The transcoder id is
// unique to each build, and a new build first removes the atlases of earlier builds, so a dev
// database keeps at most one.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deleteTranscoder, readTx } from "@circuit-atlas/db";
import { copyDemoClt, type IngestSummary } from "../../pipeline/src/ingest/index.ts";
import { repoRoot, resultsDir } from "./stack.ts";

const atlasBin = join(repoRoot, "pipeline", "bin", "atlas.mjs");
const assets = join(repoRoot, "pipeline", "assets");
const cacheDir = join(resultsDir, "demo-atlas");
/** Every transcoder id of a demo build starts with this, so earlier builds can be found and removed. */
const ID_PREFIX = "e2e-demo-";

export const GREATER_THAN_PROMPT = "The war lasted from the year 1711 to 17";
const PROMPTS = [GREATER_THAN_PROMPT, "The war lasted from the year 1538 to 15"];

export interface DemoAtlas {
  key: string;
  transcoderId: string;
  graphIds: string[];
  /** The CLT run directory (config, features/, labels/) and the run directory (graph JSONs, study/). */
  cltDir: string;
  runDir: string;
  /** Graph JSON file of each graph id (circuit-tracer schema, as written by `atlas trace`). */
  graphFiles: Record<string, string>;
  /** Wall time of each build step, seconds (of the build that made the cached files). */
  steps: Record<string, number>;
  /** What `atlas ingest` printed (its JSON summary). */
  ingest: IngestSummary;
}

function atlas(args: string[], step: string, steps: Record<string, number>): string {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [atlasBin, ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    env: process.env,
    timeout: 15 * 60_000,
  });
  steps[step] = Number(((performance.now() - t0) / 1000).toFixed(1));
  if (r.status !== 0)
    throw new Error(`atlas ${args[0]} failed (exit ${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Content hash of the demo model and demo CLT: a retrained asset means a new build. */
function assetsKey(): string {
  const h = createHash("sha256");
  for (const sub of ["demo-model", "demo-clt"]) {
    for (const f of readdirSync(join(assets, sub)).sort()) {
      h.update(`${sub}/${f}\0`);
      h.update(readFileSync(join(assets, sub, f)));
    }
  }
  return h.digest("hex").slice(0, 12);
}

function buildFiles(dir: string, tag: string, steps: Record<string, number>): Omit<DemoAtlas, "ingest" | "key"> {
  const transcoderId = `${tag}-clt`;
  const cltDir = copyDemoClt(dir, transcoderId);
  const runDir = join(dir, "run");
  mkdirSync(runDir, { recursive: true });

  const corpus = join(dir, "corpus");
  atlas(["corpus", "demo", "--out", corpus, "--split", "heldout", "--tokens", "40000"], "corpus", steps);
  atlas(
    ["features", "--clt", cltDir, "--corpus", join(corpus, "heldout.jsonl"), "--tokens", "30000", "--quiet"],
    "features",
    steps,
  );
  const graphIds = [`${tag}-war1711`, `${tag}-war1538`];
  const graphFiles: Record<string, string> = {};
  graphIds.forEach((slug, i) => {
    graphFiles[slug] = join(runDir, `${slug}.json`);
    atlas(
      [
        ...["trace", "--clt", cltDir, "--prompt", PROMPTS[i]!, "--out", graphFiles[slug]!, "--slug", slug],
        ...["--validate", "6", "--quiet"],
      ],
      `trace ${slug}`,
      steps,
    );
  });
  const study = join(runDir, "study");
  atlas(
    [
      ...["study", "greater-than", "--clt", cltDir, "--out", study, "--prompts", "98", "--graphs", "4"],
      ...["--heatmap-per-yy", "1", "--top", "16", "--svg-features", "0", "--quiet"],
    ],
    "study",
    steps,
  );
  atlas(
    ["label", "--clt", cltDir, "--offline", "--study", join(study, "greater-than.json"), "--quiet"],
    "label",
    steps,
  );
  return { transcoderId, graphIds, cltDir, runDir, graphFiles, steps };
}

async function ingested(d: DemoAtlas): Promise<boolean> {
  const c = await readTx((tx) =>
    tx.one<{ features: number; graphs: number; studies: number }>(
      `CALL () { MATCH (f:Feature {transcoderId: $t}) RETURN count(f) AS features }
       CALL () { MATCH (g:Graph {transcoderId: $t}) RETURN count(g) AS graphs }
       CALL () { MATCH (s:Study {transcoderId: $t}) RETURN count(s) AS studies }
       RETURN features, graphs, studies`,
      { t: d.transcoderId },
    ),
  );
  return c.features >= d.ingest.features && c.graphs === d.graphIds.length && c.studies === d.ingest.studies;
}

/** Transcoder ids of demo builds in the database. */
async function demoTranscoders(): Promise<string[]> {
  const rows = await readTx((tx) =>
    tx.rows<{ id: string }>("MATCH (t:Transcoder) WHERE t.id STARTS WITH $p RETURN t.id AS id", { p: ID_PREFIX }),
  );
  return rows.map((r) => r.id);
}

/**
 * The demo atlas, in the database at NEO4J_URI: built (files, then `atlas ingest`) when there is no
 * build for the current demo assets, re-ingested when the database lacks it, else reused as is.
 */
export async function demoAtlas(): Promise<DemoAtlas> {
  const key = assetsKey();
  const marker = join(cacheDir, "demo-atlas.json");
  let d: DemoAtlas | null = existsSync(marker) ? (JSON.parse(readFileSync(marker, "utf8")) as DemoAtlas) : null;
  if (d && d.key !== key) d = null;
  if (!d) {
    for (const t of await demoTranscoders()) await deleteTranscoder(t);
    rmSync(cacheDir, { recursive: true, force: true });
    const building = `${cacheDir}.building`;
    rmSync(building, { recursive: true, force: true });
    const tag = `${ID_PREFIX}${process.pid}${Date.now().toString(36)}`;
    const steps: Record<string, number> = {};
    const files = buildFiles(building, tag, steps);
    const summary = JSON.parse(atlas(["ingest", files.runDir, "--clt", files.cltDir, "--quiet"], "ingest", steps));
    // Paths point into the finished directory; the rename makes the build appear whole or not at all.
    const moved = (p: string) => p.replace(building, cacheDir);
    d = {
      ...files,
      key,
      cltDir: moved(files.cltDir),
      runDir: moved(files.runDir),
      graphFiles: Object.fromEntries(Object.entries(files.graphFiles).map(([k, v]) => [k, moved(v)])),
      ingest: summary as IngestSummary,
    };
    renameSync(building, cacheDir);
    writeFileSync(marker, `${JSON.stringify(d, null, 2)}\n`);
    return d;
  }
  if (!(await ingested(d))) {
    const steps: Record<string, number> = {};
    atlas(["ingest", d.runDir, "--clt", d.cltDir, "--quiet"], "ingest", steps);
    d.steps = { ...d.steps, reingest: steps.ingest! };
  }
  return d;
}
