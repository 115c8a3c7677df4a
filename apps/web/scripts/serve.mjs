#!/usr/bin/env node
// `npm run web`: serves the production build on PORT (default 3000), building it first when there
// is none. ATLAS_API_URL says where the GraphQL API answers (default http://127.0.0.1:4000/graphql).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };
const npm = (script) => spawnSync("npm", ["run", "--silent", script], { cwd: dir, stdio: "inherit", env });

if (!existsSync(join(dir, ".next", "BUILD_ID"))) {
  console.log("web: no production build yet; running next build (about a minute on 2 cores)…");
  const b = npm("build");
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const port = env.PORT ?? "3000";
console.log(
  `web: http://${env.WEB_HOST ?? "127.0.0.1"}:${port}/ (API: ${env.ATLAS_API_URL ?? "http://127.0.0.1:4000/graphql"})`,
);
process.exit(npm("start").status ?? 1);
