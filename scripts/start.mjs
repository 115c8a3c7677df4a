#!/usr/bin/env node
// `npm start`: the main job on the built-in defaults, from a fresh clone.
// 1. setup (system packages, npm deps); 2. Neo4j up + migrations (or NEO4J_URI);
// 3. `atlas build`: corpus → CLT → eval → graphs → greater-than study → dashboards → labels → Neo4j,
//    each stage skipped when up to date (runs/atlas/, `npm start -- --config FILE` for other runs);
// 4. serves the GraphQL API (API_PORT, default 4000) and the site (WEB_PORT, default 3000) in the
//    foreground until Ctrl-C, which stops both. ATLAS_NO_SERVE=1 stops after the build.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, run } from "./lib.mjs";
import { setup } from "./setup.mjs";

process.env.TURBO_TELEMETRY_DISABLED = "1";
process.env.NEXT_TELEMETRY_DISABLED = "1";
const t0 = Date.now();

if (!setup().ok) process.exit(1);
run("npm", ["run", "--silent", "db:up"]);
const serve = process.env.ATLAS_NO_SERVE !== "1";
// The site's production build does not read the atlas: it runs beside `atlas build` (whose stages
// leave a core idle much of the time) instead of after it. Its output goes to a log file.
const webBuild = serve ? buildSiteInBackground() : Promise.resolve(true);
const apiPort = process.env.API_PORT ?? "4000";
const webPort = process.env.WEB_PORT ?? "3000";
const apiUrl = `http://127.0.0.1:${apiPort}/graphql`;
const webUrl = `http://127.0.0.1:${webPort}/`;
run(process.execPath, [
  join(repoRoot, "pipeline", "bin", "atlas.mjs"),
  "build",
  ...(serve ? ["--site-url", webUrl, "--api-url", apiUrl] : []),
  ...process.argv.slice(2),
]);
if (!serve) process.exit(0);
if (!(await webBuild)) process.exit(1);
// Each server in its own process group, stopped as a group: npm does not pass a signal sent to it
// alone on to the server it runs, so a SIGINT/SIGTERM to this script (not only a terminal's Ctrl-C,
// which reaches every process) must still stop the servers.
const children = [
  spawn("npm", ["run", "--silent", "api"], {
    cwd: repoRoot,
    stdio: "inherit",
    detached: true,
    env: { ...process.env, PORT: apiPort },
  }),
  spawn("npm", ["run", "--silent", "web"], {
    cwd: repoRoot,
    stdio: "inherit",
    detached: true,
    env: { ...process.env, PORT: webPort, ATLAS_API_URL: apiUrl },
  }),
];
const signalGroups = (signal) => {
  for (const c of children) {
    try {
      process.kill(-c.pid, signal);
    } catch {} // the group is gone already
  }
};
// Whatever ends this script (an error included) ends the servers.
process.on("exit", () => signalGroups("SIGKILL"));
let stopping = false;
const stop = (code) => {
  if (stopping) return;
  stopping = true;
  signalGroups("SIGINT");
  // Give the servers a moment to close their connections; the exit handler kills what is left.
  setTimeout(() => process.exit(code), 3000).unref();
};
for (const c of children)
  c.on("exit", (code) => {
    if (stopping) return;
    console.error("start: a server stopped; stopping the other");
    stop(code || 1);
  });
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

/** Polls until the URL answers (any HTTP status below 500), or gives up after `ms`. */
async function answers(url, init, ms) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 1000))) {
    try {
      const r = await fetch(url, init);
      if (r.status < 500) return true;
    } catch {}
  }
  return false;
}
const query = { method: "POST", headers: { "content-type": "application/json" }, body: '{"query":"{__typename}"}' };
// The site's first start may include `next build` (about a minute on 2 cores).
const [api, web] = await Promise.all([answers(apiUrl, query, 120_000), answers(webUrl, undefined, 600_000)]);
if (!api || !web) {
  console.error(`start: ${!api ? `the API did not answer on ${apiUrl}` : `the site did not answer on ${webUrl}`}`);
  stop(1);
} else {
  console.log(
    `\nCircuit Atlas is serving (ready in ${Math.round((Date.now() - t0) / 1000)} s):\n  site     ${webUrl}\n  GraphQL  ${apiUrl}\nCtrl-C stops both.`,
  );
}

/** `next build` of apps/web unless a build exists; resolves false (after saying why) when it fails. */
function buildSiteInBackground() {
  const web = join(repoRoot, "apps", "web");
  if (existsSync(join(web, ".next", "BUILD_ID"))) return Promise.resolve(true);
  mkdirSync(join(repoRoot, "runs"), { recursive: true });
  const logPath = join(repoRoot, "runs", "web-build.log");
  const log = openSync(logPath, "w");
  console.log(`start: building the site in the background (log: ${logPath})`);
  const child = spawn("npm", ["run", "--silent", "build"], { cwd: web, stdio: ["ignore", log, log], env: process.env });
  // A failed `atlas build` exits start; the site's build must not outlive it.
  const stopChild = () => child.exitCode === null && child.kill();
  process.on("exit", stopChild);
  return new Promise((resolve) => {
    child.on("exit", (code) => {
      process.off("exit", stopChild);
      if (code !== 0) console.error(`start: the site's build failed (exit ${code}); see ${logPath}`);
      resolve(code === 0);
    });
  });
}
