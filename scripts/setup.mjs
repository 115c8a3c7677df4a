#!/usr/bin/env node
// `npm run setup` (also the first step of `npm start`, `npm test` and `.ci/run`): the system packages
// the project needs, checked in well under a second when all are present (dpkg -s / command -v, no
// apt call), installed with apt-get when missing and we are root, otherwise the exact one-line
// install command is printed. Then the npm dependencies (npm ci on a fresh clone) and nblas: rebuilt
// after OpenBLAS was installed, or when it does not load although OpenBLAS is there.
//
//   node scripts/setup.mjs [--check]     --check (or ATLAS_SETUP_INSTALL=0): never install, only report
//
// Exit status: 0 when everything required is present (optional parts may be missing, with a loud
// note); 1 when a required package is missing and cannot be installed.
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { pathToFileURL } from "node:url";
import { ensureInstalled, repoRoot, run } from "./lib.mjs";

/**
 * What the project needs from the system. `optional`: the project still runs without it (`without`
 * says how); `nblas`: nblas must be (re)built after installing it.
 */
export const SYSTEM_NEEDS = [
  {
    name: "OpenBLAS headers",
    apt: ["libopenblas-dev"],
    present: () => dpkgInstalled("libopenblas-dev"),
    optional: true,
    nblas: true,
    without: "the pipeline falls back to the wasm backend, about 35× slower",
  },
  {
    name: "C++ toolchain (nblas build)",
    apt: ["g++", "make", "python3"],
    present: () => ["g++", "make", "python3"].every(onPath),
    optional: true,
    nblas: true,
    without: "nblas cannot be built: the pipeline falls back to the wasm backend, about 35× slower",
  },
  {
    name: "Java 17 JDK",
    apt: ["openjdk-17-jdk-headless"],
    present: () => existsSync("/usr/lib/jvm/java-17-openjdk-amd64/bin/javac") || javaMajor() === 17,
    optional: false,
    without: "the local Neo4j cannot be built or started",
  },
  {
    name: "Maven",
    apt: ["maven"],
    present: () => onPath("mvn"),
    optional: false,
    without: "the local Neo4j cannot be built",
  },
  {
    name: "Chromium",
    apt: ["chromium"],
    present: () => existsSync("/usr/bin/chromium"),
    optional: true,
    without: "the browser tests of apps/web fail (they need /usr/bin/chromium)",
  },
];

function quiet(cmd, args) {
  return spawnSync(cmd, args, { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function dpkgInstalled(pkg) {
  const r = quiet("dpkg-query", ["-W", `-f=\${Status}`, pkg]);
  return r.status === 0 && r.stdout.trim() === "install ok installed";
}

/** `command -v cmd`, without a shell per check. */
function onPath(cmd) {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || ".", cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function javaMajor() {
  const r = quiet("javac", ["-version"]);
  const m = /javac (\d+)/.exec(`${r.stdout}${r.stderr}`);
  return m ? Number(m[1]) : null;
}

/** The exact command a user runs to install `pkgs` (with sudo unless root). */
export function installCommand(pkgs, root = isRoot()) {
  return `${root ? "" : "sudo "}apt-get install -y ${pkgs.join(" ")}`;
}

function isRoot() {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/** Does nblas load (with the system BLAS it was built against)? */
export function nblasLoads() {
  const r = quiet(process.execPath, ["-e", "require('nblas')"]);
  return r.status === 0;
}

/** Rebuild nblas against the system BLAS (re-adds it from the lock if a failed build removed it). */
function rebuildNblas() {
  const pipelineNblas = join(repoRoot, "pipeline", "node_modules", "nblas");
  if (existsSync(join(repoRoot, "node_modules", "nblas")) || existsSync(pipelineNblas)) {
    console.log("[setup] npm rebuild nblas");
    run("npm", ["rebuild", "nblas"]);
  } else {
    // npm drops an optional dependency whose build failed: install it again from the lock.
    console.log("[setup] npm install (nblas is missing from node_modules)");
    run("npm", ["install", "--no-audit", "--no-fund"]);
  }
}

/**
 * Check (and when possible install) the system packages, install npm dependencies, make nblas load.
 * Returns { missing: names still missing, installed: apt packages installed, nblas: loads? }.
 */
export function setup({ install = process.env.ATLAS_SETUP_INSTALL !== "0", log = console.log } = {}) {
  const t0 = Date.now();
  let missing = SYSTEM_NEEDS.filter((n) => !n.present());
  const canApt = install && isRoot() && onPath("apt-get");
  let installed = [];
  if (missing.length > 0 && canApt) {
    installed = [...new Set(missing.flatMap((n) => n.apt))];
    log(`[setup] apt-get install ${installed.join(" ")}`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    run("apt-get", ["update", "-qq"], { env });
    run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...installed], { env });
    missing = SYSTEM_NEEDS.filter((n) => !n.present());
  }
  for (const n of missing) {
    const how = installCommand(n.apt);
    log(
      `[setup] ${n.optional ? "WARNING" : "ERROR"}: ${n.name} is missing (${n.without}).\n` +
        `[setup]   install it with: ${how}`,
    );
  }

  ensureInstalled();
  const blasReady = !missing.some((n) => n.nblas);
  let nblas = nblasLoads();
  const builtNow =
    installed.length > 0 && SYSTEM_NEEDS.some((n) => n.nblas && n.apt.some((p) => installed.includes(p)));
  if (blasReady && (builtNow || !nblas)) {
    rebuildNblas();
    nblas = nblasLoads();
  }
  if (!nblas) {
    log(
      "[setup] WARNING: nblas does not load, so the pipeline runs on the slow wasm backend (about 35× slower).\n" +
        `[setup]   fix: ${installCommand(["libopenblas-dev", "g++", "make", "python3"])} && npm rebuild nblas`,
    );
  }
  const required = missing.filter((n) => !n.optional);
  log(
    `[setup] ${required.length ? "missing required packages" : "system ready"}` +
      ` (${installed.length ? `installed ${installed.join(" ")}, ` : ""}nblas ${nblas ? "loads" : "unavailable"},` +
      ` ${Date.now() - t0} ms)`,
  );
  return { missing: missing.map((n) => n.name), installed, nblas, ok: required.length === 0 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const r = setup({ install: !process.argv.includes("--check") && process.env.ATLAS_SETUP_INSTALL !== "0" });
  process.exit(r.ok ? 0 : 1);
}
