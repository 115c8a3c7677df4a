import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cleanStaleTemps, publishUnit, recoverUnit, tempPath, writeFileAtomic } from "../src/index.ts";

test("an atomic write replaces the file and leaves no temp; chunks are concatenated", () => {
  const dir = mkdtempSync(join(tmpdir(), "atomic-"));
  const p = join(dir, "sub", "a.bin");
  writeFileAtomic(p, "old");
  writeFileAtomic(p, ["ab", new Uint8Array([99, 100]), "é"]);
  assert.equal(readFileSync(p, "utf8"), "abcdé");
  assert.deepEqual(readdirSync(join(dir, "sub")), ["a.bin"]);
});

test("temps of dead writers are cleaned, a live writer's are kept", () => {
  const dir = mkdtempSync(join(tmpdir(), "atomic-"));
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
  const deadTemp = join(dir, `.x.json.tmp-${dead}-0123abcd`);
  writeFileSync(deadTemp, "half");
  const mine = tempPath(join(dir, "x.json"));
  writeFileSync(mine, "in progress");
  writeFileSync(join(dir, "x.json.tmp"), "a user's file");
  assert.deepEqual(cleanStaleTemps(dir), [deadTemp]);
  assert.equal(existsSync(mine), true);
  assert.equal(existsSync(join(dir, "x.json.tmp")), true);
});

test("a unit is published whole; an interrupted publish is rolled forward by the next reader", () => {
  const dir = mkdtempSync(join(tmpdir(), "unit-"));
  const main = join(dir, "g.json");
  const side = join(dir, "g.graph.safetensors");
  publishUnit([
    { path: main, data: "json 1" },
    { path: side, data: "side 1" },
  ]);
  assert.equal(readFileSync(main, "utf8"), "json 1");
  assert.equal(readFileSync(side, "utf8"), "side 1");
  // Simulate a kill right after the side file's rename: journal present, main still old.
  const tmpMain = tempPath(main);
  writeFileSync(tmpMain, "json 2");
  writeFileSync(side, "side 2");
  writeFileSync(
    join(dir, ".g.json.publish"),
    JSON.stringify({
      version: 1,
      renames: [
        [tempPath(side), side],
        [tmpMain, main],
      ],
    }),
  );
  assert.equal(recoverUnit(main, [side]), true);
  assert.equal(readFileSync(main, "utf8"), "json 2");
  assert.equal(readFileSync(side, "utf8"), "side 2");
  assert.deepEqual(readdirSync(dir).sort(), ["g.graph.safetensors", "g.json"]);
});
