#!/usr/bin/env node
// Runs one workspace's tests with node:test (TypeScript through tsx). Prints the spec report and
// writes a TAP copy to <repo>/.test-results/<workspace>.tap, which scripts/test.mjs sums up.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cwd = process.cwd();
const pkg = JSON.parse(readFileSync(join(cwd, "package.json"), "utf8"));
const filter = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith(".test.ts") || name.endsWith(".test.tsx")) out.push(p);
  }
  return out;
}

let files = [...findTests(join(cwd, "test")), ...findTests(join(cwd, "src"))].sort();
if (filter.length) files = files.filter((f) => filter.some((s) => f.includes(s)));
if (files.length === 0) {
  // A workspace without tests yet is skipped (and counts nothing); a filter that matches no file is
  // a mistake worth an error.
  if (filter.length) {
    console.error(`${pkg.name}: no test file matches ${filter.join(", ")}`);
    process.exit(1);
  }
  console.log(`${pkg.name}: no tests yet, skipped`);
  process.exit(0);
}
const resultsDir = join(root, ".test-results");
mkdirSync(resultsDir, { recursive: true });
const tap = join(resultsDir, `${pkg.name.replace(/[@/]/g, "_")}.tap`);
const args = [
  "--import",
  "tsx",
  "--test",
  "--test-concurrency=1",
  "--test-reporter=spec",
  "--test-reporter-destination=stdout",
  "--test-reporter=tap",
  `--test-reporter-destination=${tap}`,
  ...files.map((f) => relative(cwd, f)),
];
const r = spawnSync(process.execPath, args, { stdio: "inherit", env: process.env });
process.exit(r.status ?? 1);
