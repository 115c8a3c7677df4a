// The default traceGraph runner: the pipeline's own CLI in a child process (argument arrays, no
// shell), `atlas trace` into the jobs folder, then `atlas ingest` of that one graph.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { transcoderRunDir } from "@circuit-atlas/db";
import type { JobRunner } from "./jobs.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const atlasBin = join(repoRoot, "pipeline/bin/atlas.mjs");

function run(args: string[], log: (line: string) => void): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [atlasBin, ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const onData = (b: Buffer) => {
      const text = b.toString("utf8");
      tail = (tail + text).slice(-2000);
      for (const line of text.split("\n")) if (line.trim()) log(line.trim());
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", fail);
    child.on("close", (code) =>
      code === 0
        ? ok()
        : fail(new Error(`atlas ${args[0]} exited with ${code}: ${tail.trim().split("\n").at(-1) ?? ""}`)),
    );
  });
}

export function pipelineRunner(jobsDir: string): JobRunner {
  const dir = resolve(repoRoot, jobsDir);
  return async (job, log) => {
    const t = await transcoderRunDir(job.transcoderId);
    if (!t)
      throw new Error(job.transcoderId ? `unknown transcoder ${job.transcoderId}` : "the atlas has no transcoder");
    if (!t.runDir) throw new Error(`transcoder ${t.id} records no run directory to trace with`);
    mkdirSync(dir, { recursive: true });
    const slug = `api-${job.id.slice(0, 8)}`;
    const out = join(dir, `${slug}.json`);
    log(`tracing with ${t.id}`);
    await run(["trace", "--clt", t.runDir, `--prompt=${job.prompt}`, "--out", out, "--slug", slug, "--quiet"], log);
    log("ingesting");
    await run(["ingest", dir, "--graphs", out, "--clt", t.runDir, "--quiet"], log);
    return slug;
  };
}
