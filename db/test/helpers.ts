// Shared by the db tests: they run against the real server on NEO4J_URI (root `npm test` starts it).
import { loadConfig } from "../src/config.ts";
import { writeTx } from "../src/driver.ts";
import { ping } from "../src/server/local.ts";

/** Tags every node a test run creates (`testRun` property, id prefix) so runs never touch other data. */
export const RUN = `test-${process.pid}-${Date.now().toString(36)}`;

/** Fails with a clear message when Bolt does not answer, instead of a driver stack trace per test. */
export async function requireServer(): Promise<void> {
  const config = loadConfig();
  const r = await ping(config);
  if (!r.ok) {
    throw new Error(
      `Neo4j is not reachable at ${config.uri} (${r.reason}): start it with \`npm run db:up\` (root \`npm test\` does this itself)`,
    );
  }
}

export async function cleanupRun(): Promise<void> {
  await writeTx((tx) => tx.run("MATCH (n) WHERE n.testRun = $run DETACH DELETE n", { run: RUN }));
}
