// Starting and stopping the real stack for browser tests: free ports, child servers that are
// waited for and always stopped (with their whole process group), logs kept under .test-results/.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const resultsDir = join(repoRoot, ".test-results");

/** A port the OS considers free right now (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

export interface Server {
  name: string;
  url: string;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** Polled until it answers HTTP (any status below 500 counts as up). */
  readyUrl: string;
  /** For a GraphQL endpoint: POST this query instead of GET. */
  readyGraphQL?: string;
  timeoutMs?: number;
}

export async function startServer(o: StartOptions): Promise<Server> {
  const logDir = join(resultsDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${o.name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(o.cmd, o.args, {
    cwd: o.cwd ?? repoRoot,
    env: { ...process.env, ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so stop() ends npm and the server it started
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  let exited: string | null = null;
  child.on("exit", (code, sig) => {
    exited = `exit ${code ?? sig}`;
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((ok) => child.once("exit", () => ok()));
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {}
    }, 10_000);
    await gone;
    clearTimeout(t);
  };
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${o.name} stopped before it answered (${exited}); see ${logFile}`);
    try {
      const res = o.readyGraphQL
        ? await fetch(o.readyUrl, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ query: o.readyGraphQL }),
            signal: AbortSignal.timeout(5000),
          })
        : await fetch(o.readyUrl, { signal: AbortSignal.timeout(5000) });
      if (res.status < 500) return { name: o.name, url: o.readyUrl, child, logFile, stop };
    } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
  await stop();
  throw new Error(
    `${o.name} did not answer at ${o.readyUrl} within ${(o.timeoutMs ?? 120_000) / 1000} s; see ${logFile}`,
  );
}

/** The GraphQL API (`npm run api`) on a free loopback port; `url` is its /graphql endpoint. */
export async function startApi(name = "api"): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/graphql`;
  return startServer({
    name,
    cmd: "npm",
    args: ["run", "--silent", "api", "-w", "@circuit-atlas/api"],
    // A generous query timeout: the test machine may be shared and slow; latency is bench:api's business.
    env: { PORT: String(port), HOST: "127.0.0.1", ATLAS_API_TIMEOUT_MS: "60000" },
    readyUrl: url,
    readyGraphQL: "{ __typename }",
  });
}
