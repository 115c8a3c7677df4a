// The local Neo4j, in pieces: settings and paths, Java/Maven discovery, the Maven build, the server
// process, the Bolt check, and the lock that keeps two `db:up`s from both starting a JVM.
import { mkdirSync } from "node:fs";
import { withLock } from "@circuit-atlas/util";
import { paths } from "./settings.ts";

export { boltHandshake, type PingResult, ping, waitForBolt } from "./bolt.ts";
export { findJava, findMaven, type JavaInfo } from "./java.ts";
export {
  portInUse,
  runImporter,
  runningPid,
  type StopOutcome,
  serverPort,
  sleep,
  spawnServer,
  stopServer,
} from "./process.ts";
export { provision, provisionProblem } from "./provision.ts";
export { paths, REPO_ROOT, ServerError, type ServerSettings, serverSettings } from "./settings.ts";

/**
 * Runs `fn` holding `.neo4j/up.lock`, so two `db:up`s started at once (say, two `npm test`s in the same
 * checkout) do not both spawn a JVM. A lock whose owner process is gone is taken over.
 */
export async function withUpLock<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  mkdirSync(paths.home, { recursive: true });
  return withLock(paths.home, { lockPath: paths.lockFile, what: "db:up", waitMs: timeoutMs, label: paths.home }, fn);
}
