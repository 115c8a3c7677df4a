// db:up / db:down / db:reset / db:status: the code paths behind the npm scripts (and the restart test).
import { rmSync } from "node:fs";
import { type DbConfig, loadConfig } from "../config.ts";
import { closeDriver, withSession } from "../driver.ts";
import { type MigrateResult, migrate, migrateImported } from "../migrate.ts";
import {
  findJava,
  paths,
  ping,
  portInUse,
  provision,
  provisionProblem,
  runImporter,
  runningPid,
  ServerError,
  type ServerSettings,
  type StopOutcome,
  serverPort,
  serverSettings,
  spawnServer,
  stopServer,
  waitForBolt,
  withUpLock,
} from "./local.ts";

export type Log = (msg: string) => void;
const quiet: Log = () => {};

export interface UpResult {
  uri: string;
  local: boolean;
  /** The local server's pid (null for an external server). */
  pid: number | null;
  /** "started" = this call started it; "running" = it was already up; "external" = NEO4J_URI is not local. */
  how: "started" | "running" | "external";
  /** Maven build time when this call provisioned, else null. */
  provisionMs: number | null;
  /** Spawn → Bolt answering, when this call started the server. */
  startMs: number | null;
  agent: string;
  migrations: MigrateResult;
}

/**
 * Makes sure Neo4j answers on NEO4J_URI and is migrated. A local URI starts this checkout's server
 * (building it first if needed); an external one is only waited for. Running it twice is harmless.
 */
export async function up(
  opts: { log?: Log; migrator?: (opts: { log: Log }) => Promise<MigrateResult> } = {},
): Promise<UpResult> {
  const log = opts.log ?? quiet;
  const config = loadConfig();
  const settings = serverSettings();
  const timeoutMs = settings.ATLAS_DB_START_TIMEOUT * 1000;
  let server: ServerState;
  if (config.local) {
    server = await withUpLock(timeoutMs, () => upLocal(config, settings, timeoutMs, log));
  } else {
    log(`NEO4J_URI=${config.uri} is not local: waiting for it (nothing to provision)`);
    const agent = await waitForBolt(config, { timeoutMs });
    server = { how: "external", pid: null, provisionMs: null, startMs: null, agent };
  }
  const { how, pid, provisionMs, startMs, agent } = server;
  const migrations = await (opts.migrator ?? migrate)({ log });
  if (migrations.unknown.length > 0) {
    log(`warning: the database has migrations with no file here: ${migrations.unknown.join(", ")}`);
  }
  log(
    `Neo4j is up: ${config.uri} (${agent}); migrations: ${migrations.applied.length} applied, ${migrations.alreadyApplied.length} already applied`,
  );
  return { uri: config.uri, local: config.local, pid, how, provisionMs, startMs, agent, migrations };
}

/** `importLocalStore`'s phases (ms): the stop, the importer run, and after `startMs` the migrations. */
export interface ImportResult extends UpResult {
  stopMs: number;
  importMs: number;
  migrateMs: number;
  /** The importer's own stages as it reports them ("Node import", "Relationship import", …), in ms. */
  importStages: Record<string, number>;
}

/** "1m 53s 573ms" (the importer's duration format) → ms; null when `text` is not one. */
export function parseImporterDuration(text: string): number | null {
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  const parts = text.trim().split(/\s+/);
  let ms = 0;
  for (const p of parts) {
    const m = /^(\d+)(h|ms|m|s)$/.exec(p);
    if (!m) return null;
    ms += Number(m[1]) * unit[m[2]!]!;
  }
  return parts.length > 0 ? ms : null;
}

type ServerState = Pick<UpResult, "how" | "pid" | "provisionMs" | "startMs" | "agent">;

async function upLocal(config: DbConfig, settings: ServerSettings, timeoutMs: number, log: Log): Promise<ServerState> {
  const running = runningPid();
  if (running !== null) {
    const port = serverPort(running);
    if (port !== null && port !== config.port) {
      throw new ServerError(
        `this checkout's Neo4j is already running on port ${port} (pid ${running}), not ${config.port}: run npm run db:down first to move it`,
      );
    }
    log(`Neo4j already running (pid ${running}), waiting for Bolt on ${config.uri}`);
    const agent = await waitForBolt(config, { timeoutMs, pid: running, logFile: paths.log });
    return { how: "running", pid: running, provisionMs: null, startMs: null, agent };
  }
  if (await portInUse(config.host === "localhost" ? "127.0.0.1" : config.host, config.port)) {
    const bolt = await ping(config);
    throw new ServerError(
      `port ${config.port} on ${config.host} is already in use by another process` +
        `${bolt.ok ? ` (a Bolt server, ${bolt.agent}, but not this checkout's: no live ${paths.pidFile})` : ""}: ` +
        "stop it, or point NEO4J_URI at a free port (e.g. bolt://127.0.0.1:7688)",
    );
  }
  const java = findJava(settings);
  let provisionMs: number | null = null;
  const problem = provisionProblem();
  if (problem) {
    log(`Neo4j launcher: ${problem}`);
    provisionMs = await provision(java, log);
  }
  log(
    `starting Neo4j (Java ${java.major}, heap ${settings.ATLAS_NEO4J_HEAP}, pagecache ${settings.ATLAS_NEO4J_PAGECACHE}); log: ${paths.log}`,
  );
  const t0 = Date.now();
  const pid = spawnServer(java, config, settings);
  let agent: string;
  try {
    agent = await waitForBolt(config, { timeoutMs, pid, logFile: paths.log });
  } catch (err) {
    // don't leave a half-started JVM behind a failed db:up
    await stopServer(5000, pid).catch(() => {});
    throw err;
  }
  const startMs = Date.now() - t0;
  log(`Bolt ready after ${(startMs / 1000).toFixed(1)} s (pid ${pid})`);
  return { how: "started", pid, provisionMs, startMs, agent };
}

/** Stops this checkout's server (SIGTERM, then SIGKILL after ATLAS_DB_STOP_TIMEOUT). Harmless when it is not running. */
export async function down(opts: { log?: Log } = {}): Promise<StopOutcome> {
  const log = opts.log ?? quiet;
  const config = loadConfig();
  await closeDriver();
  if (!config.local) {
    log(`NEO4J_URI=${config.uri} is not local: nothing to stop`);
    return "not-running";
  }
  const pid = runningPid();
  if (pid === null) {
    log("Neo4j is not running");
    return "not-running";
  }
  log(`stopping Neo4j (pid ${pid})`);
  const t0 = Date.now();
  const outcome = await stopServer(serverSettings().ATLAS_DB_STOP_TIMEOUT * 1000);
  log(
    outcome === "killed"
      ? "Neo4j did not stop in time and was killed (it recovers on next start)"
      : `stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  return outcome;
}

/**
 * Local: stop, delete .neo4j/data (every database, schema included), start and migrate again.
 * External servers are never wiped unless `force` is set; then all nodes are deleted in batches and the
 * migrations re-run (constraints and indexes stay).
 */
export async function reset(opts: { log?: Log; force?: boolean } = {}): Promise<UpResult> {
  const log = opts.log ?? quiet;
  const config = loadConfig();
  if (!config.local) {
    if (!opts.force) {
      throw new ServerError(
        `NEO4J_URI=${config.uri} is not local; refusing to wipe it (run \`npm run db:reset -- --force\` to delete all its nodes)`,
      );
    }
    log(`deleting all nodes on ${config.uri}`);
    await withSession((s) =>
      s.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").then(() => undefined),
    );
    return up({ log });
  }
  await down({ log });
  log(`deleting ${paths.data}`);
  rmSync(paths.data, { recursive: true, force: true });
  return up({ log });
}

export interface StatusResult {
  up: boolean;
  uri: string;
  local: boolean;
  pid: number | null;
  detail: string;
}

/** Whether Bolt answers on NEO4J_URI (exit code of db:status). */
export async function status(opts: { config?: DbConfig; timeoutMs?: number } = {}): Promise<StatusResult> {
  const config = opts.config ?? loadConfig();
  const pid = config.local ? runningPid() : null;
  const r = await ping(config, opts.timeoutMs);
  const port = pid !== null ? serverPort(pid) : null;
  const owner = !config.local
    ? "external"
    : pid === null
      ? "no local server of this checkout"
      : port !== null && port !== config.port
        ? `this checkout's server runs on port ${port}, pid ${pid}`
        : `local server, pid ${pid}`;
  return {
    up: r.ok,
    uri: config.uri,
    local: config.local,
    pid,
    detail: r.ok ? `${r.agent}, ${owner}` : `${owner}; ${r.reason}`,
  };
}

/**
 * Offline import into the local server's database: stop the server, run `neo4j-admin database
 * import full` with `args` (the caller checked that the database holds nothing to lose), start it
 * again and create the migrations' final schema at once (`migrateImported`; `dataWrittenByImport`
 * names the migrations' data statements whose result the import already holds). Refuses an
 * external NEO4J_URI.
 */
export async function importLocalStore(
  args: string[],
  opts: { log?: Log; dataWrittenByImport?: string[] } = {},
): Promise<ImportResult> {
  const log = opts.log ?? quiet;
  const config = loadConfig();
  if (!config.local) {
    throw new ServerError(
      `NEO4J_URI=${config.uri} is not the local managed server: an offline import cannot reach its store`,
    );
  }
  const settings = serverSettings();
  const java = findJava(settings);
  const problem = provisionProblem();
  if (problem) throw new ServerError(`the local Neo4j is not provisioned (${problem}): run npm run db:up first`);
  let stopMs = 0;
  let importMs = 0;
  const importStages: Record<string, number> = {};
  const importLog = (line: string) => {
    const m = /^\s*(.+?) COMPLETED in (.+)$/.exec(line);
    const ms = m ? parseImporterDuration(m[2]!) : null;
    if (m && ms !== null) importStages[m[1]!] = ms;
    log(line);
  };
  await withUpLock(settings.ATLAS_DB_START_TIMEOUT * 1000, async () => {
    const t0 = performance.now();
    await down({ log });
    const t1 = performance.now();
    log(`importing into ${paths.data} (database ${config.database})`);
    await runImporter(java, settings, config.database, args, importLog);
    stopMs = t1 - t0;
    importMs = performance.now() - t1;
  });
  const t2 = performance.now();
  const started = await up({
    log,
    migrator: (o) => migrateImported({ ...o, dataWrittenByImport: opts.dataWrittenByImport ?? [] }),
  });
  const upMs = performance.now() - t2;
  return { ...started, stopMs, importMs, migrateMs: upMs - (started.startMs ?? 0), importStages };
}
