// The local server's management: CLI status exit codes, setup errors, and a restart that proves the
// data lives in a real on-disk database behind Bolt.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../src/config.ts";
import { closeDriver, readTx, writeTx } from "../src/driver.ts";
import { down, status, up } from "../src/server/commands.ts";
import { findJava, paths, ping, portInUse, runningPid, ServerError, serverSettings } from "../src/server/local.ts";
import { int } from "../src/values.ts";
import { cleanupRun, RUN, requireServer } from "./helpers.ts";

const dbDir = join(dirname(fileURLToPath(import.meta.url)), "..");

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: dbDir,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
}

/** A plain TCP listener that accepts and ignores whatever it is sent (not Bolt). */
function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.resume().on("error", () => {}));
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === "object" && addr ? addr.port : 0 });
    });
  });
}

describe("db:status and setup errors", () => {
  before(requireServer);

  test("db:status exits 0 when Bolt answers and 1 when nothing listens", async () => {
    const upRun = cli(["status"]);
    assert.equal(upRun.status, 0, upRun.stderr);
    assert.match(upRun.stdout, /^up: bolt:\/\/.*Neo4j\/5\.26/);
    const { server, port } = await listen(); // reserve a port, then free it so nothing listens there
    await new Promise((r) => server.close(r));
    const downRun = cli(["status"], { NEO4J_URI: `bolt://127.0.0.1:${port}` });
    assert.equal(downRun.status, 1);
    assert.match(downRun.stdout, new RegExp(`^down: bolt://127\\.0\\.0\\.1:${port} .*ECONNREFUSED`));
  });

  test("a port held by a non-Bolt process is detected and is not 'up'", async () => {
    const { server, port } = await listen();
    try {
      assert.equal(await portInUse("127.0.0.1", port), true);
      const s = await status({ config: loadConfig({ NEO4J_URI: `bolt://127.0.0.1:${port}` }), timeoutMs: 500 });
      assert.equal(s.up, false);
      assert.match(s.detail, /no Bolt handshake/);
    } finally {
      await new Promise((r) => server.close(r));
    }
    assert.equal(await portInUse("127.0.0.1", port), false);
  });

  test("Java and config problems are single clear errors", () => {
    assert.throws(
      () => findJava(serverSettings({ ATLAS_JAVA_HOME: "/nonexistent/jdk" })),
      (e: unknown) =>
        e instanceof ServerError && /ATLAS_JAVA_HOME=\/nonexistent\/jdk has no working bin\/java/.test(e.message),
    );
    assert.throws(() => serverSettings({ ATLAS_NEO4J_HEAP: "lots" }), /ATLAS_NEO4J_HEAP: must look like 512m or 1g/);
    const java = findJava(serverSettings({}));
    assert.ok([17, 21].includes(java.major));
    const bad = cli(["frobnicate"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^atlas: error: unknown command frobnicate/);
  });
});

describe("the database is real: data survives a server restart", () => {
  const config = loadConfig();
  before(requireServer);
  after(async () => {
    if (config.local && !(await ping(config)).ok) await up(); // never leave the server down for later suites
    await cleanupRun();
    await closeDriver();
  });

  test("write through Bolt, db:down, db:up, read the same data back", { timeout: 240_000 }, async (t) => {
    if (!config.local) {
      t.skip(`NEO4J_URI=${config.uri} is an external server: this test only restarts the local one`);
      return;
    }
    const pidBefore = runningPid();
    assert.ok(pidBefore !== null, `the server on ${config.uri} is not this checkout's (no live ${paths.pidFile})`);
    const ids = Array.from({ length: 50 }, (_, i) => `${RUN}-persist-${i}`);
    await writeTx((tx) =>
      tx.run(
        `UNWIND range(0, size($ids) - 1) AS i
         CREATE (:Model {id: $ids[i], ordinal: i, weight: toFloat(i) / 7.0, testRun: $run})`,
        { ids, run: RUN },
      ),
    );

    const stopped = await down();
    assert.equal(stopped, "stopped", "clean shutdown on SIGTERM");
    assert.equal(runningPid(), null);
    assert.equal(existsSync(paths.pidFile), false, "the launcher removes its pid file");
    assert.equal((await ping(config)).ok, false, "Bolt must be gone after db:down");
    assert.equal(await down(), "not-running", "db:down twice is harmless");

    const started = await up();
    assert.equal(started.how, "started");
    assert.notEqual(started.pid, pidBefore, "a new JVM");
    assert.deepEqual(started.migrations.applied, [], "already migrated: nothing to apply after restart");
    const again = await up();
    assert.equal(again.how, "running", "db:up twice is harmless");
    assert.equal(again.pid, started.pid);

    const rows = await readTx((tx) =>
      tx.rows(
        "MATCH (m:Model) WHERE m.testRun = $run RETURN m.id AS id, m.ordinal AS ordinal, m.weight AS weight ORDER BY m.ordinal",
        {
          run: RUN,
        },
      ),
    );
    assert.equal(rows.length, ids.length);
    rows.forEach((r, i) => {
      assert.equal(r.id, ids[i]);
      assert.equal(r.ordinal, i);
      assert.equal(r.weight, i / 7);
    });
    // and the server accepts writes again
    const c = await writeTx((tx) => tx.run("MATCH (m:Model {id: $id}) SET m.ordinal = $o", { id: ids[0], o: int(-1) }));
    assert.equal(c.propertiesSet, 1);
  });
});
