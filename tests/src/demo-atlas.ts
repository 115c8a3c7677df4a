// Builds a small real atlas for the browser tests with the pipeline's own CLI, on the shipped demo
// model and demo CLT: held-out demo text → feature statistics → heuristic labels, two traced
// greater-than graphs with ablation validations, a reduced greater-than study, then `atlas ingest`
// into the Neo4j at NEO4J_URI. The transcoder gets a per-run id so parallel or leftover data never
// collides, and `removeAtlas` deletes exactly what this run wrote.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeTx } from "@circuit-atlas/db";
import { repoRoot } from "./stack.ts";

const atlasBin = join(repoRoot, "pipeline", "bin", "atlas.mjs");
const assets = join(repoRoot, "pipeline", "assets");

export const GREATER_THAN_PROMPT = "The war lasted from the year 1711 to 17";

export interface DemoAtlas {
  transcoderId: string;
  graphIds: string[];
  /** Wall time of each build step, seconds. */
  steps: Record<string, number>;
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

export function buildDemoAtlas(workDir: string, tag: string): DemoAtlas {
  const steps: Record<string, number> = {};
  const transcoderId = `${tag}-clt`;
  const cltDir = join(workDir, transcoderId);
  const runDir = join(workDir, "run");
  mkdirSync(cltDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  // The demo CLT under this run's name (the directory name is the transcoder id).
  for (const f of ["clt.safetensors", "eval.json"]) copyFileSync(join(assets, "demo-clt", f), join(cltDir, f));
  const cfg = JSON.parse(readFileSync(join(assets, "demo-clt", "config.json"), "utf8")) as Record<string, unknown>;
  cfg.model = join(assets, "demo-model");
  writeFileSync(join(cltDir, "config.json"), JSON.stringify(cfg));

  const corpus = join(workDir, "corpus");
  atlas(["corpus", "demo", "--out", corpus, "--split", "heldout", "--tokens", "40000"], "corpus", steps);
  atlas(
    ["features", "--clt", cltDir, "--corpus", join(corpus, "heldout.jsonl"), "--tokens", "30000", "--quiet"],
    "features",
    steps,
  );
  const graphIds = [`${tag}-war1711`, `${tag}-war1538`];
  const prompts = [GREATER_THAN_PROMPT, "The war lasted from the year 1538 to 15"];
  graphIds.forEach((slug, i) => {
    atlas(
      [
        "trace",
        "--clt",
        cltDir,
        "--prompt",
        prompts[i]!,
        "--out",
        join(runDir, `${slug}.json`),
        "--slug",
        slug,
        "--validate",
        "6",
        "--quiet",
      ],
      `trace ${slug}`,
      steps,
    );
  });
  const study = join(runDir, "study");
  atlas(
    [
      "study",
      "greater-than",
      "--clt",
      cltDir,
      "--out",
      study,
      "--prompts",
      "98",
      "--graphs",
      "4",
      "--heatmap-per-yy",
      "1",
      "--top",
      "16",
      "--svg-features",
      "0",
      "--quiet",
    ],
    "study",
    steps,
  );
  atlas(
    ["label", "--clt", cltDir, "--offline", "--study", join(study, "greater-than.json"), "--quiet"],
    "label",
    steps,
  );
  atlas(["ingest", runDir, "--clt", cltDir, "--quiet"], "ingest", steps);
  return { transcoderId, graphIds, steps };
}

/** Deletes everything of one transcoder from the atlas (graphs and their nodes, labels, features, studies). */
export async function removeAtlas(transcoderId: string): Promise<void> {
  const t = transcoderId;
  await writeTx(async (tx) => {
    await tx.run("MATCH (:Graph {transcoderId: $t})-[:HAS_NODE]->(n) DETACH DELETE n", { t });
    await tx.run("MATCH (n:Graph {transcoderId: $t}) DETACH DELETE n", { t });
    await tx.run("MATCH (l:Label)-[:DESCRIBES]->(:Feature {transcoderId: $t}) DETACH DELETE l", { t });
    await tx.run("MATCH (n:Feature {transcoderId: $t}) DETACH DELETE n", { t });
    await tx.run("MATCH (n:Study {transcoderId: $t}) DETACH DELETE n", { t });
    await tx.run("MATCH (n:Transcoder {id: $t}) DETACH DELETE n", { t });
  });
}
