// Finding a Java 17/21 for Neo4j 5.26 and Maven to build the launcher.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { ServerError, type ServerSettings, serverSettings } from "./settings.ts";

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
