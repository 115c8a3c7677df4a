// The shipped demo CLT under another transcoder id, for tests that build and ingest a real demo run
// (pipeline/test/ingest.test.ts, tests/src/demo-atlas.ts): a transcoder's id is its run directory's
// name, so a per-run copy keeps each run's atlas apart from every other in the same database.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const assets = fileURLToPath(new URL("../../assets", import.meta.url));

/** Copies assets/demo-clt to `dir/<transcoderId>` (config pointing at assets/demo-model); returns the new CLT dir. */
export function copyDemoClt(dir: string, transcoderId: string): string {
  const cltDir = join(dir, transcoderId);
  mkdirSync(cltDir, { recursive: true });
  for (const f of ["clt.safetensors", "eval.json"]) copyFileSync(join(assets, "demo-clt", f), join(cltDir, f));
  const cfg = JSON.parse(readFileSync(join(assets, "demo-clt", "config.json"), "utf8")) as Record<string, unknown>;
  cfg.model = join(assets, "demo-model");
  delete cfg.modelAbsolute;
  writeFileSync(join(cltDir, "config.json"), JSON.stringify(cfg));
  return cltDir;
}
