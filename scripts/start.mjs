#!/usr/bin/env node
// `npm start`: the main job on the built-in defaults, from a fresh clone.
// 1. installs dependencies if missing; 2. provisions and starts Neo4j and applies migrations;
// 3. on the shipped demo model + demo CLT: traces Goodfire's greater-than prompt and runs the
//    greater-than study, then feature statistics and offline (heuristic) labels for every live
//    feature. Outputs go to runs/demo/ (override with ATLAS_OUT).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, run } from "./lib.mjs";
import { setup } from "./setup.mjs";

process.env.TURBO_TELEMETRY_DISABLED = "1";
process.env.NEXT_TELEMETRY_DISABLED = "1";

const out = process.env.ATLAS_OUT ?? join(repoRoot, "runs", "demo");
const clt = process.env.ATLAS_CLT ?? join(repoRoot, "pipeline", "assets", "demo-clt");
const prompt = process.env.ATLAS_PROMPT ?? "The war lasted from the year 1711 to 17";
const atlas = (args) => run(process.execPath, [join(repoRoot, "pipeline", "bin", "atlas.mjs"), ...args]);

if (!setup().ok) process.exit(1);
run("npm", ["run", "--silent", "db:up"]);

if (!existsSync(join(clt, "config.json"))) {
  console.error(`start: no CLT at ${clt} (set ATLAS_CLT to a CLT run directory)`);
  process.exit(1);
}
console.log(`\n== attribution graph: "${prompt}"`);
atlas(["trace", "--clt", clt, "--prompt", prompt, "--out", join(out, "graph.json"), "--validate", "20"]);
console.log("\n== greater-than study");
atlas(["study", "greater-than", "--clt", clt, "--out", join(out, "greater-than")]);

console.log("\n== feature dashboards and offline labels");
const heldout = join(out, "heldout-corpus");
atlas(["corpus", "demo", "--out", heldout, "--tokens", "40000", "--seed", "7", "--split", "heldout"]);
// Into the CLT dir (features/, labels/), where `atlas ingest` reads them.
atlas(["features", "--clt", clt, "--corpus", join(heldout, "heldout.jsonl"), "--tokens", "20000"]);
atlas(["label", "--clt", clt, "--offline", "--study", join(out, "greater-than", "greater-than.json")]);

console.log(`\nDone. Graph: ${join(out, "graph.json")} (open in circuit-tracer / Neuronpedia viewers)`);
console.log(`Study report: ${join(out, "greater-than", "report.md")}`);
console.log(`Feature statistics and labels: ${join(clt, "features")}, ${join(clt, "labels", "labels.jsonl")}`);
