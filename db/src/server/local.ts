// The local Neo4j: build the launcher with Maven (first run only), start the JVM detached, find it
// again through its pid file, stop it. Everything lives in <repo>/.neo4j (data, logs, pid file) and
// db/neo4j/target (jars); both are gitignored.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { DbConfig } from "../config.ts";
import { createDriver } from "../driver.ts";
import { DbError } from "../errors.ts";

/** Setup problems (Java/Maven missing, port taken, server not up in time): the message says what to do. */
export class ServerError extends DbError {}

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, "..", "..", "..");
const NEO4J_DIR = join(REPO_ROOT, "db", "neo4j");
const TARGET = join(NEO4J_DIR, "target");
// ATLAS_NEO4J_HOME moves the whole local server (data, logs, pid file) elsewhere, e.g. a second,
// throw-away server for tests that must stop and restart one.
const HOME = process.env.ATLAS_NEO4J_HOME ? resolve(process.env.ATLAS_NEO4J_HOME) : join(REPO_ROOT, ".neo4j");

export const paths = {
  home: HOME,
  data: join(HOME, "data"),
  logs: join(HOME, "logs"),
  log: join(HOME, "logs", "neo4j.log"),
  provisionLog: join(HOME, "logs", "provision.log"),
  pidFile: join(HOME, "neo4j.pid"),
  lockFile: join(HOME, "up.lock"),
  pom: join(NEO4J_DIR, "pom.xml"),
  launcherSource: join(NEO4J_DIR, "src", "main", "java", "atlas", "Launch.java"),
  target: TARGET,
  jar: join(TARGET, "atlas-neo4j.jar"),
  lib: join(TARGET, "lib"),
  plugins: join(TARGET, "plugins"),
  stamp: join(TARGET, ".atlas-provisioned"),
};

const size = z.string().regex(/^\d+[kmg]$/i, "must look like 512m or 1g");
const seconds = z.coerce.number().positive();
const blank = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const ServerEnv = z.object({
  ATLAS_NEO4J_HEAP: z.preprocess(blank, size.default("1g")),
  ATLAS_NEO4J_PAGECACHE: z.preprocess(blank, size.default("512m")),
  ATLAS_NEO4J_TX_MAX: z.preprocess(blank, size.default("512m")),
  ATLAS_DB_START_TIMEOUT: z.preprocess(blank, seconds.default(120)),
  ATLAS_DB_STOP_TIMEOUT: z.preprocess(blank, seconds.default(30)),
  ATLAS_JAVA_HOME: z.preprocess(blank, z.string().optional()),
});
export type ServerSettings = z.infer<typeof ServerEnv>;

export function serverSettings(env: NodeJS.ProcessEnv = process.env): ServerSettings {
  const r = ServerEnv.safeParse(env);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ServerError(`invalid ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return r.data;
}

// ---------------------------------------------------------------------------------------------
// Java and Maven

export interface JavaInfo {
  java: string;
  home: string;
  major: number;
}

/** Neo4j 5.26 LTS supports Java 17 and 21 only. */
const SUPPORTED_JAVA = [17, 21];

function javaMajor(javaBin: string): number | null {
  const r = spawnSync(javaBin, ["-version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return null;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${r.stderr}${r.stdout}`);
  if (!m) return null;
  const major = Number(m[1]);
  return major === 1 ? Number(m[2]) : major;
}

function onPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

/** Picks a Java 17/21: ATLAS_JAVA_HOME, then JAVA_HOME, then `java` on PATH, then /usr/lib/jvm/*. */
export function findJava(settings: ServerSettings = serverSettings()): JavaInfo {
  const explicit = settings.ATLAS_JAVA_HOME;
  const candidates: string[] = [];
  if (explicit) candidates.push(join(explicit, "bin", "java"));
  else {
    if (process.env.JAVA_HOME) candidates.push(join(process.env.JAVA_HOME, "bin", "java"));
    const p = onPath("java");
    if (p) candidates.push(p);
    try {
      const jvms = readdirSync("/usr/lib/jvm").sort((a, b) => rank(a) - rank(b));
      for (const d of jvms) candidates.push(join("/usr/lib/jvm", d, "bin", "java"));
    } catch {
      // no system JVM folder
    }
  }
  const found: string[] = [];
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    const major = javaMajor(c);
    if (major === null) continue;
    const real = realpathSync(c);
    if (SUPPORTED_JAVA.includes(major)) return { java: real, home: dirname(dirname(real)), major };
    found.push(`Java ${major} at ${real}`);
  }
  if (found.length === 0) {
    throw new ServerError(
      explicit
        ? `ATLAS_JAVA_HOME=${explicit} has no working bin/java`
        : "Java not found: the local Neo4j 5.26 needs a JDK 17 or 21 (apt-get install openjdk-17-jdk-headless, or set JAVA_HOME)",
    );
  }
  throw new ServerError(
    `Neo4j 5.26 needs Java 17 or 21, found only ${found.join(", ")}: install openjdk-17-jdk-headless or set ATLAS_JAVA_HOME`,
  );
}

// Prefer 17 (the project's CI JDK), then 21, then the rest (which are rejected anyway).
function rank(dir: string): number {
  if (/(^|-)17(\.|-|$)|1\.17/.test(dir)) return 0;
  if (/(^|-)21(\.|-|$)/.test(dir)) return 1;
  return 2;
}

export function findMaven(): string {
  const mvn = onPath("mvn");
  if (!mvn) {
    throw new ServerError(
      "Maven (mvn) not found on PATH: it builds the local Neo4j from Maven Central on first start (apt-get install maven)",
    );
  }
  return mvn;
}

// ---------------------------------------------------------------------------------------------
// Provisioning (Maven build of db/neo4j)

function sourceStamp(): string {
  const h = createHash("sha256");
  h.update(readFileSync(paths.pom));
  h.update(readFileSync(paths.launcherSource));
  return h.digest("hex");
}

/** Null when the launcher and its jars are built from the current pom/Launch.java; else why not. */
export function provisionProblem(): string | null {
  if (!existsSync(paths.stamp)) return "not built yet";
  if (readFileSync(paths.stamp, "utf8").trim() !== sourceStamp()) return "pom.xml or Launch.java changed";
  if (!existsSync(paths.jar)) return "launcher jar missing";
  if (!existsSync(paths.plugins) || !readdirSync(paths.plugins).some((f) => f.startsWith("apoc-core"))) {
    return "APOC plugin missing";
  }
  if (!existsSync(paths.lib) || !readdirSync(paths.lib).some((f) => /^neo4j-bolt-\d/.test(f))) return "jars missing";
  return null;
}

/** Builds the launcher and copies Neo4j + APOC from Maven Central (or ~/.m2) into db/neo4j/target. */
export async function provision(java: JavaInfo, log: (msg: string) => void): Promise<number> {
  const mvn = findMaven();
  if (!existsSync(join(java.home, "bin", "javac"))) {
    throw new ServerError(
      `building the Neo4j launcher needs a JDK (javac), but ${java.home} is a JRE: apt-get install openjdk-17-jdk-headless`,
    );
  }
  mkdirSync(paths.logs, { recursive: true });
  log(`provisioning Neo4j (Maven build of db/neo4j; downloads ~170 MB on first run), log: ${paths.provisionLog}`);
  const t0 = Date.now();
  const out = openSync(paths.provisionLog, "w");
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolvePromise, reject) => {
      // retryHandler: Maven 3.8's HTTP transport gives up on the first dropped connection otherwise
      const args = ["-B", "-ntp", "-Dmaven.wagon.http.retryHandler.count=3", "-f", paths.pom, "clean", "package"];
      const child = spawn(mvn, args, {
        cwd: NEO4J_DIR,
        stdio: ["ignore", out, out],
        env: { ...process.env, JAVA_HOME: java.home },
      });
      child.on("error", reject);
      child.on("exit", (c) => resolvePromise(c));
    });
  } finally {
    closeSync(out);
  }
  if (code !== 0) {
    const text = readFileSync(paths.provisionLog, "utf8");
    const firstError = text.split("\n").find((l) => l.startsWith("[ERROR]")) ?? text.trim().split("\n").pop() ?? "";
    throw new ServerError(
      `Maven build of the Neo4j launcher failed (exit ${code}): ${firstError.trim()} (full log: ${paths.provisionLog})`,
    );
  }
  writeAtomic(paths.stamp, `${sourceStamp()}\n`);
  const ms = Date.now() - t0;
  log(`provisioned in ${(ms / 1000).toFixed(1)} s`);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Process

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

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
    "--id-type=string",
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

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return !alive(pid);
}

// ---------------------------------------------------------------------------------------------
// Bolt

export type PingResult = { ok: true; agent: string } | { ok: false; reason: string };

/**
 * Bolt's opening handshake on a plain socket: true when the peer answers with a protocol version.
 * The driver alone can wait forever on a port whose listener accepts but never speaks Bolt.
 */
export function boltHandshake(host: string, port: number, timeoutMs: number): Promise<PingResult> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const done = (r: PingResult) => {
      socket.destroy();
      resolvePromise(r);
    };
    socket.setTimeout(timeoutMs, () =>
      done({ ok: false, reason: `no Bolt handshake from ${host}:${port} in ${timeoutMs} ms` }),
    );
    socket.once("error", (e: NodeJS.ErrnoException) =>
      done({ ok: false, reason: `${e.code ?? "error"}: ${e.message}` }),
    );
    socket.once("connect", () => {
      // magic 0x6060B017, then four proposals [_, range, minor, major]: 5.0–5.8, 4.4, 4.0–4.3, 3.0
      socket.write(Buffer.from([0x60, 0x60, 0xb0, 0x17, 0, 8, 8, 5, 0, 0, 4, 4, 0, 3, 3, 4, 0, 0, 0, 3]));
    });
    let got = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 4) return;
      const [, , minor, major] = got;
      done(major ? { ok: true, agent: `Bolt ${major}.${minor}` } : { ok: false, reason: "no common Bolt version" });
    });
    socket.once("end", () =>
      done({ ok: false, reason: `${host}:${port} closed the connection without a Bolt handshake` }),
    );
  });
}

/** Bolt handshake (plain-text schemes), then `RETURN 1` in the configured database, all within ~timeoutMs. */
export async function ping(config: DbConfig, timeoutMs = 3000): Promise<PingResult> {
  if (!/\+s/.test(config.uri)) {
    const hs = await boltHandshake(config.host, config.port, timeoutMs);
    if (!hs.ok) return hs;
  }
  const driver = createDriver(config, {
    connectionTimeout: timeoutMs,
    connectionAcquisitionTimeout: timeoutMs,
    maxTransactionRetryTime: 0,
    maxConnectionPoolSize: 1,
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<PingResult>((r) => {
    timer = setTimeout(
      () => r({ ok: false, reason: `no answer to RETURN 1 within ${timeoutMs} ms` }),
      timeoutMs + 1000,
    );
  });
  const query = (async (): Promise<PingResult> => {
    const session = driver.session({ database: config.database });
    try {
      const r = await session.run("RETURN 1 AS one");
      return { ok: true, agent: r.summary.server.agent ?? "Neo4j" };
    } finally {
      await session.close().catch(() => {});
    }
  })().catch((e: unknown): PingResult => {
    const err = e as { code?: string; message?: string };
    // The driver's connection errors carry a long generic preamble; the cause after it is what matters.
    const msg = String(err.message ?? e);
    const cause = /Caused by: (.*)$/s.exec(msg)?.[1] ?? msg;
    return { ok: false, reason: err.code ? `${err.code}: ${cause.trim()}` : cause.trim() };
  });
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
    // not awaited when the query hung: closing destroys its socket either way
    void driver.close().catch(() => {});
  }
}

/** Polls Bolt until it answers. With `pid`, fails early (with the log's last error) if that process dies. */
export async function waitForBolt(
  config: DbConfig,
  opts: { timeoutMs: number; pid?: number; logFile?: string },
): Promise<string> {
  const end = Date.now() + opts.timeoutMs;
  let last = "";
  for (;;) {
    const r = await ping(config, 2000);
    if (r.ok) return r.agent;
    last = r.reason;
    if (opts.pid !== undefined && !alive(opts.pid)) {
      const why = opts.logFile ? lastErrorLine(opts.logFile) : "";
      throw new ServerError(
        `Neo4j exited during startup${why ? `: ${why}` : ""}${opts.logFile ? ` (log: ${opts.logFile})` : ""}`,
      );
    }
    if (Date.now() >= end) {
      const s = Math.round(opts.timeoutMs / 1000);
      throw new ServerError(
        `Neo4j did not answer on ${config.uri} within ${s} s (last error: ${last})` +
          (opts.logFile ? `; see ${opts.logFile}` : "") +
          " (raise ATLAS_DB_START_TIMEOUT if the machine is just slow)",
      );
    }
    await sleep(500);
  }
}

/** The launcher's own error line from the latest start in the log, else Neo4j's last ERROR/exception line. */
function lastErrorLine(file: string): string {
  try {
    const all = readFileSync(file, "utf8").trimEnd().split("\n");
    const startIdx = all.findLastIndex((l) => l.includes("atlas-neo4j: starting"));
    const lines = all.slice(Math.max(0, startIdx));
    const pick =
      lines.findLast((l) => l.includes("atlas-neo4j: error:")) ??
      lines.findLast((l) => /\bERROR\b|Exception|Error:/.test(l)) ??
      lines.at(-1) ??
      "";
    return pick.trim().slice(0, 400);
  } catch {
    return "";
  }
}

/**
 * Runs `fn` holding `.neo4j/up.lock`, so two `db:up`s started at once (say, two `npm test`s in the same
 * checkout) do not both spawn a JVM. A lock whose owner process is gone is taken over.
 */
export async function withUpLock<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  mkdirSync(paths.home, { recursive: true });
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      writeFileSync(paths.lockFile, `${process.pid}\n`, { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(paths.lockFile, "utf8").trim());
      } catch {
        continue; // released between our attempts
      }
      if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
        rmSync(paths.lockFile, { force: true });
        continue;
      }
      if (Date.now() >= end) {
        throw new ServerError(`another db:up (pid ${owner}) holds ${paths.lockFile}; wait for it or remove the file`);
      }
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(paths.lockFile, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------

function rotate(file: string, maxBytes: number): void {
  try {
    if (statSync(file).size > maxBytes) renameSync(file, `${file}.1`);
  } catch {
    // no log yet
  }
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
