import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { acquireLock, claimRunFolder, inRunFolder, LockedError, withLock } from "../src/index.ts";

const holder = fileURLToPath(new URL("./fixtures/hold-lock.ts", import.meta.url));

function holdInChild(target: string, ms = 0) {
  const child = spawn(process.execPath, ["--import", "tsx", holder, target, String(ms)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      if (String(d).includes("locked")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`holder exited ${code}`)));
  });
  return { child, ready };
}

test("a second taker is refused with the owner's pid; a killed owner's lock is taken over", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lock-"));
  const target = join(dir, "run");
  const { child, ready } = holdInChild(target);
  await ready;
  await assert.rejects(acquireLock(target, { what: "test" }), (err: Error) => {
    assert.ok(err instanceof LockedError);
    assert.match(err.message, new RegExp(`${target} is in use by pid ${child.pid} \\(hold-lock test, since `));
    return true;
  });
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  // No waiting for the mtime to go stale: the owner's pid is gone.
  const release = await acquireLock(target, { what: "test" });
  assert.equal(JSON.parse(readFileSync(`${target}.lock.owner.json`, "utf8")).pid, process.pid);
  release();
  assert.equal(existsSync(`${target}.lock`), false);
});

test("a taker killed while writing its owner record leaves a temp that the next taker removes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lock-"));
  const target = join(dir, "g.json");
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
  writeFileSync(join(dir, `.g.json.lock.owner.json.tmp-${dead}-0a85bfd6`), '{"pid": ');
  writeFileSync(join(dir, `.other.json.tmp-${dead}-0a85bfd6`), "not the lock's");
  const release = await acquireLock(target, { what: "test" });
  release();
  assert.deepEqual(readdirSync(dir).sort(), [`.other.json.tmp-${dead}-0a85bfd6`]);
});

test("waitMs waits for the owner to let go", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lock-"));
  const target = join(dir, "db");
  const { ready } = holdInChild(target, 600);
  await ready;
  const order: string[] = [];
  await withLock(target, { what: "test", waitMs: 20_000 }, () => {
    order.push("got it");
  });
  assert.deepEqual(order, ["got it"]);
});

test("a run folder with a result is refused unchanged; --force empties it; a failed new folder is removed", async () => {
  const root = mkdtempSync(join(tmpdir(), "runfolder-"));
  const run = join(root, "run");
  const opts = { what: "test", mode: "create" as const, results: ["out.bin"], noun: "an output" };
  const f = await claimRunFolder(run, opts);
  writeFileSync(join(run, "out.bin"), "1");
  f.release();
  await assert.rejects(
    claimRunFolder(run, opts),
    new RegExp(`${run} already holds an output \\(out.bin\\); pass --force to replace it, or choose another --out`),
  );
  const g = await claimRunFolder(run, { ...opts, force: true });
  assert.equal(existsSync(join(run, "out.bin")), false);
  g.release();
  const added = await claimRunFolder(run, { ...opts, mode: "add" });
  added.release();
  const fresh = join(root, "fresh");
  const h = await claimRunFolder(fresh, opts);
  h.release({ failed: true });
  assert.equal(existsSync(fresh), false);
  writeFileSync(join(root, "file"), "x");
  await assert.rejects(claimRunFolder(join(root, "file"), opts), /--out .*file is a file; it must name a folder/);
});

test("inRunFolder: the work's result comes back and the lock is let go; a failing run's new empty folder is removed", async () => {
  const root = mkdtempSync(join(tmpdir(), "inrunfolder-"));
  const opts = { what: "test", mode: "create" as const, results: ["out.bin"] };
  const run = join(root, "run");
  const got = await inRunFolder(run, opts, async () => {
    writeFileSync(join(run, "out.bin"), "1");
    return 42;
  });
  assert.equal(got, 42);
  // The lock was released: a second writer in "add" mode gets in at once.
  await inRunFolder(run, { ...opts, mode: "add" }, async () => {});
  const failing = join(root, "failing");
  await assert.rejects(
    inRunFolder(failing, opts, async () => {
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal(existsSync(failing), false);
  // A folder that existed before is kept when the run fails.
  await assert.rejects(
    inRunFolder(run, { ...opts, mode: "add" }, async () => {
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal(readFileSync(join(run, "out.bin"), "utf8"), "1");
});
