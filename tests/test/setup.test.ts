// scripts/setup.mjs, run as `npm start` / `npm test` / `.ci/run` run it. The system boundary (dpkg-query,
// apt-get, npm) is replaced by recording scripts first on PATH, so the test can see which commands
// setup would run without changing the machine; everything else (the checks of Java, Maven,
// Chromium, the toolchain, the nblas load check) is real.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const setupScript = join(root, "scripts", "setup.mjs");
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A bin folder whose apt-get / npm (and optionally dpkg-query) append their argv to calls.log. */
function fakeBin(opts: { openblasMissingUntilInstalled?: boolean } = {}): { bin: string; calls: () => string[] } {
  const bin = mkdtempSync(join(tmpdir(), "atlas-setup-"));
  dirs.push(bin);
  const log = join(bin, "calls.log");
  const marker = join(bin, "openblas-installed");
  const script = (name: string, body = "") =>
    writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\n${body}exit 0\n`, { mode: 0o755 });
  script("apt-get", `case "$*" in *libopenblas-dev*) touch "${marker}";; esac\n`);
  script("npm");
  if (opts.openblasMissingUntilInstalled) {
    // Answers like dpkg-query -W -f='${Status}' PKG: libopenblas-dev is absent until apt-get ran.
    writeFileSync(
      join(bin, "dpkg-query"),
      `#!/bin/sh\nfor last; do :; done\nif [ "$last" = libopenblas-dev ] && [ ! -e "${marker}" ]; then exit 1; fi\n` +
        `exec /usr/bin/dpkg-query "$@"\n`,
      { mode: 0o755 },
    );
  }
  chmodSync(bin, 0o755);
  return { bin, calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : []) };
}

function runSetup(bin: string, args: string[] = [], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [setupScript, ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...env, PATH: `${bin}:${process.env.PATH}` },
  });
}

describe("setup step", () => {
  test("everything present: a check only — no apt-get, no npm, exit 0", () => {
    const { bin, calls } = fakeBin();
    const r = runSetup(bin);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\[setup\] system ready \(nblas loads, \d+ ms\)/);
    assert.deepEqual(calls(), []);
    const ms = Number(/(\d+) ms\)/.exec(r.stdout)?.[1]);
    // Generous bound on a loaded 2-core box: the point is "no install", which takes minutes.
    assert.ok(ms < 20_000, `setup took ${ms} ms`);
  });

  test("OpenBLAS missing, root: apt-get installs it, then nblas is rebuilt", { skip: process.getuid?.() !== 0 }, () => {
    const { bin, calls } = fakeBin({ openblasMissingUntilInstalled: true });
    const r = runSetup(bin);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const c = calls();
    assert.equal(c[0], "apt-get update -qq");
    assert.match(c[1] ?? "", /^apt-get install -y -qq --no-install-recommends libopenblas-dev$/);
    assert.equal(c[2], "npm rebuild nblas");
    assert.equal(c.length, 3);
    assert.match(r.stdout, /installed libopenblas-dev/);
  });

  test("OpenBLAS missing, installing not allowed: prints the exact command and continues (optional)", () => {
    const { bin, calls } = fakeBin({ openblasMissingUntilInstalled: true });
    const r = runSetup(bin, ["--check"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(calls(), []);
    const root = process.getuid?.() === 0;
    assert.ok(
      r.stdout.includes(`install it with: ${root ? "" : "sudo "}apt-get install -y libopenblas-dev\n`),
      r.stdout,
    );
    assert.match(r.stdout, /WARNING: OpenBLAS headers is missing \(the pipeline falls back to the wasm backend/);
  });
});

describe("dependencies follow the lock", () => {
  // After a pull that adds or bumps a dependency, `npm start` / `npm test` must install it.
  test("node_modules missing, lagging (absent or other version) or matching package-lock.json", async () => {
    const { installedLagsLock } = await import(join(root, "scripts", "lib.mjs"));
    const dir = mkdtempSync(join(tmpdir(), "atlas-lock-"));
    dirs.push(dir);
    const lock = (packages: Record<string, object>) => JSON.stringify({ lockfileVersion: 3, packages });
    const locked = {
      "": { name: "x" },
      "node_modules/zod": { version: "4.6.7" },
      "node_modules/@img/sharp-win32-x64": { version: "0.34.5", optional: true },
      "node_modules/@circuit-atlas/db": { resolved: "db", link: true },
    };
    writeFileSync(join(dir, "package-lock.json"), lock(locked));
    assert.equal(installedLagsLock(dir), "node_modules is missing");
    mkdirSync(join(dir, "node_modules"));
    const hidden = join(dir, "node_modules", ".package-lock.json");
    writeFileSync(hidden, lock({}));
    assert.equal(installedLagsLock(dir), "zod 4.6.7 is not installed");
    writeFileSync(hidden, lock({ "node_modules/zod": { version: "4.6.6" } }));
    assert.equal(installedLagsLock(dir), "zod 4.6.7 is not installed");
    // Other platforms' optional binaries and workspace links are not required.
    writeFileSync(hidden, lock({ "node_modules/zod": { version: "4.6.7" } }));
    assert.equal(installedLagsLock(dir), null);
  });
});
