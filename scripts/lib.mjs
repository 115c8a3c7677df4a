// Small helpers shared by the root scripts (plain ESM: these run before dependencies exist).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
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

/**
 * Installs from the lock (npm ci, falling back to npm install) when node_modules is missing or lags
 * package-lock.json (a pull added or bumped a dependency): every non-optional package the lock names
 * must be in npm's own record of what is installed, at the locked version.
 */
export function ensureInstalled() {
  const stale = installedLagsLock();
  if (!stale) return;
  console.log(`Installing dependencies (npm ci): ${stale}`);
  const ci = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: repoRoot, stdio: "inherit" });
  if (ci.status !== 0) run("npm", ["install", "--no-audit", "--no-fund"]);
}

/** Why node_modules does not match package-lock.json, or null when it does. */
export function installedLagsLock(root = repoRoot) {
  const hidden = join(root, "node_modules", ".package-lock.json");
  if (!existsSync(hidden)) return "node_modules is missing";
  const want = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")).packages ?? {};
  const have = JSON.parse(readFileSync(hidden, "utf8")).packages ?? {};
  for (const [path, p] of Object.entries(want)) {
    // Optional packages (other platforms' binaries) are legitimately absent.
    if (!path.startsWith("node_modules/") || p.optional || p.link) continue;
    if (have[path]?.version !== p.version) return `${path.slice(13)} ${p.version} is not installed`;
  }
  return null;
}
