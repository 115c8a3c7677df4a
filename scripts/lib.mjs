// Small helpers shared by the root scripts (plain ESM: these run before dependencies exist).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: repoRoot, stdio: "inherit", env: process.env, ...opts });
  if (r.status !== 0) {
    console.error(`\n✗ ${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
  return r;
}

/** A fresh clone has no node_modules: install from the lock first (npm ci), falling back to npm install. */
export function ensureInstalled() {
  if (existsSync(join(repoRoot, "node_modules", ".package-lock.json"))) return;
  console.log("Installing dependencies (npm ci)…");
  const ci = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: repoRoot, stdio: "inherit" });
  if (ci.status !== 0) run("npm", ["install", "--no-audit", "--no-fund"]);
}
