#!/usr/bin/env node
// `npm test`: installs what is missing, starts Neo4j if needed, then lint + type-check + every
// workspace's tests through turbo, and prints one closing line with the test count.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, run } from "./lib.mjs";
import { setup } from "./setup.mjs";

process.env.TURBO_TELEMETRY_DISABLED = "1";
process.env.NEXT_TELEMETRY_DISABLED = "1";
if (!setup().ok) process.exit(1);

const passthrough = process.argv.slice(2);
run("npx", ["biome", "check", "."]);

const dbStarted = startDbIfNeeded();
let status = 0;
try {
  rmSync(join(repoRoot, ".test-results"), { recursive: true, force: true });
  const turbo = spawnSync(
    "npx",
    ["turbo", "run", "typecheck", "test", "--concurrency=1", "--output-logs=full", ...passthrough],
    {
      cwd: repoRoot,
      stdio: "inherit",
      env: process.env,
    },
  );
  status = turbo.status ?? 1;
} finally {
  if (dbStarted && !process.env.ATLAS_KEEP_DB)
    spawnSync("npm", ["run", "db:down"], { cwd: repoRoot, stdio: "inherit" });
}

let pass = 0;
let fail = 0;
let skipped = 0;
const dir = join(repoRoot, ".test-results");
if (existsSync(dir)) {
  // Only the TAP copies: browser tests also keep screenshots, logs and the demo atlas here.
  for (const f of readdirSync(dir).filter((name) => name.endsWith(".tap"))) {
    const text = readFileSync(join(dir, f), "utf8");
    const grab = (k) => sumTag(text, k);
    pass += grab("pass");
    fail += grab("fail");
    skipped += grab("skipped") + grab("todo");
  }
}
console.log(`\ntests: ${pass} passed, ${fail} failed${skipped ? `, ${skipped} skipped` : ""}`);
if (pass === 0) status = status || 1;
process.exit(status || (fail > 0 ? 1 : 0));

function sumTag(text, key) {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^# ${key} (\\d+)$`, "gm"))) n += Number(m[1]);
  return n;
}

function startDbIfNeeded() {
  const probe = spawnSync("npm", ["run", "--silent", "db:status"], { cwd: repoRoot, encoding: "utf8" });
  if (probe.status === 0) return false;
  run("npm", ["run", "db:up"]);
  return true;
}
