// Where the local Neo4j lives (<repo>/.neo4j for data, logs and pid file; db/neo4j/target for the
// jars, both gitignored) and its settings from the environment.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { DbError } from "../errors.ts";

/** Setup problems (Java/Maven missing, port taken, server not up in time): the message says what to do. */
export class ServerError extends DbError {}

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, "..", "..", "..");
export const NEO4J_DIR = join(REPO_ROOT, "db", "neo4j");
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
