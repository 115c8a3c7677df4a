// The server process: start the launcher JVM detached, find it again through its pid file, stop it.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { pidAlive as alive } from "@circuit-atlas/util";
import type { DbConfig } from "../config.ts";
import type { JavaInfo } from "./java.ts";
import { paths, REPO_ROOT, ServerError, type ServerSettings } from "./settings.ts";

function isOurs(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("atlas.Launch");
  } catch {
    // no /proc (not Linux): trust the pid file
    return alive(pid);
  }
}

/** The pid of this checkout's running server, or null (a stale pid file is removed). */
export function runningPid(): number | null {
  let text: string;
  try {
    text = readFileSync(paths.pidFile, "utf8");
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  if (Number.isInteger(pid) && pid > 0 && alive(pid) && isOurs(pid)) return pid;
  rmSync(paths.pidFile, { force: true });
  return null;
}

/** The Bolt port a running launcher was started with (from its command line), or null if unknown. */
export function serverPort(pid: number): number | null {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const i = args.indexOf("--port");
    const port = i >= 0 ? Number(args[i + 1]) : Number.NaN;
    return Number.isInteger(port) ? port : null;
  } catch {
    return null;
  }
}

/** True when something already listens on host:port. */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE") resolvePromise(true);
      else if (e.code === "EACCES") reject(new ServerError(`not allowed to listen on ${host}:${port} (${e.code})`));
      else reject(new ServerError(`cannot listen on ${host}:${port}: ${e.message}`));
    });
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolvePromise(false)));
  });
}

const JVM_FLAGS = [
  "-XX:+UseG1GC",
  "-XX:+ExitOnOutOfMemoryError",
  "-XX:-OmitStackTraceInFastThrow",
  "-Dfile.encoding=UTF-8",
  "-Dlog4j2.disable.jmx=true",
  "-Djdk.nio.maxCachedBufferSize=1024",
  "-Dio.netty.tryReflectionSetAccessible=true",
  // as in Neo4j's own launcher: netty and the page cache reach into these JDK internals
  "--add-opens=java.base/java.nio=ALL-UNNAMED",
  "--add-opens=java.base/java.io=ALL-UNNAMED",
  "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
];

/** Starts the launcher JVM detached (it outlives this process); returns its pid. Logs go to paths.log. */
export function spawnServer(java: JavaInfo, config: DbConfig, settings: ServerSettings): number {
  mkdirSync(paths.logs, { recursive: true });
  rotate(paths.log, 10 * 1024 * 1024);
  const host = config.host === "localhost" ? "127.0.0.1" : config.host;
  const heap = settings.ATLAS_NEO4J_HEAP;
  const classpath = [paths.jar, join(paths.lib, "*"), join(paths.plugins, "*")].join(delimiter);
  const args = [
    `-Xms${heap}`,
    `-Xmx${heap}`,
    ...JVM_FLAGS,
    "-cp",
    classpath,
    "atlas.Launch",
    "--home",
    paths.home,
    "--plugins",
    paths.plugins,
    "--host",
    host,
    "--port",
    String(config.port),
    "--pagecache",
    settings.ATLAS_NEO4J_PAGECACHE,
    "--tx-max",
    settings.ATLAS_NEO4J_TX_MAX,
  ];
  const out = openSync(paths.log, "a");
  let child: ChildProcess;
  try {
    child = spawn(java.java, args, { cwd: REPO_ROOT, detached: true, stdio: ["ignore", out, out] });
  } finally {
    closeSync(out);
  }
  child.on("error", () => {}); // reported through the readiness wait (process gone + log tail)
  child.unref();
  if (child.pid === undefined) throw new ServerError(`could not start ${java.java}`);
  return child.pid;
}

/**
 * Runs Neo4j's offline importer (`neo4j-admin database import full`, from the same jars as the
 * server) into this checkout's store; the server must be stopped. Its output goes to `log` line by
 * line. Memory: the JVM heap is ATLAS_NEO4J_HEAP, off-heap at most ATLAS_NEO4J_PAGECACHE × 2.
 */
export async function runImporter(
  java: JavaInfo,
  settings: ServerSettings,
  database: string,
  args: string[],
  log: (line: string) => void,
): Promise<void> {
  const classpath = [join(paths.lib, "*"), join(paths.plugins, "*")].join(delimiter);
  const offHeap = `${parseInt(settings.ATLAS_NEO4J_PAGECACHE, 10) * 2}${settings.ATLAS_NEO4J_PAGECACHE.slice(-1)}`;
  const all = [
    `-Xmx${settings.ATLAS_NEO4J_HEAP}`,
    ...JVM_FLAGS,
    "-cp",
    classpath,
    "org.neo4j.cli.AdminTool",
    "database",
    "import",
    "full",
    "--overwrite-destination=true",
    "--high-parallel-io=on",
    `--max-off-heap-memory=${offHeap}`,
    ...args,
    database,
  ];
  mkdirSync(join(paths.home, "conf"), { recursive: true });
  const tail: string[] = [];
  const code = await new Promise<number | null>((resolvePromise, reject) => {
    const child = spawn(java.java, all, {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NEO4J_HOME: paths.home, NEO4J_CONF: join(paths.home, "conf") },
    });
    let rest = "";
    const onData = (chunk: Buffer) => {
      const lines = (rest + chunk.toString("utf8")).split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) {
        if (!l.trim()) continue;
        tail.push(l);
        if (tail.length > 20) tail.shift();
        log(l);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("exit", (c) => resolvePromise(c));
  });
  if (code !== 0) {
    const why = tail.findLast((l) => /error|exception|invalid|failed/i.test(l)) ?? tail.at(-1) ?? "";
    throw new ServerError(`neo4j-admin database import failed (exit ${code}): ${why.trim()}`);
  }
}

export type StopOutcome = "stopped" | "killed" | "not-running";

/** SIGTERM, wait up to `timeoutMs` for a clean shutdown, then SIGKILL. Harmless when nothing runs. */
export async function stopServer(timeoutMs: number, spawnedPid?: number): Promise<StopOutcome> {
  // A JVM that was just spawned may not have written its pid file yet: the caller passes its pid.
  const pid = spawnedPid !== undefined && alive(spawnedPid) && isOurs(spawnedPid) ? spawnedPid : runningPid();
  if (pid === null) return "not-running";
  process.kill(pid, "SIGTERM");
  if (await waitForExit(pid, timeoutMs)) {
    rmSync(paths.pidFile, { force: true });
    return "stopped";
  }
  process.kill(pid, "SIGKILL");
  await waitForExit(pid, 10_000);
  rmSync(paths.pidFile, { force: true });
  return "killed";
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return !alive(pid);
}

function rotate(file: string, maxBytes: number): void {
  try {
    if (statSync(file).size > maxBytes) renameSync(file, `${file}.1`);
  } catch {
    // no log yet
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
