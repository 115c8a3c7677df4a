// Provisioning: the Maven build of db/neo4j (launcher jar, Neo4j and APOC jars), redone when the pom or
// the launcher source changes.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "@circuit-atlas/util";
import { findMaven, type JavaInfo } from "./java.ts";
import { NEO4J_DIR, paths, ServerError } from "./settings.ts";

function sourceStamp(): string {
  const h = createHash("sha256");
  h.update(readFileSync(paths.pom));
  h.update(readFileSync(paths.launcherSource));
  return h.digest("hex");
}

/** Null when the launcher and its jars are built from the current pom/Launch.java; else why not. */
export function provisionProblem(): string | null {
  if (!existsSync(paths.stamp)) return "not built yet";
  if (readFileSync(paths.stamp, "utf8").trim() !== sourceStamp()) return "pom.xml or Launch.java changed";
  if (!existsSync(paths.jar)) return "launcher jar missing";
  if (!existsSync(paths.plugins) || !readdirSync(paths.plugins).some((f) => f.startsWith("apoc-core"))) {
    return "APOC plugin missing";
  }
  if (!existsSync(paths.lib) || !readdirSync(paths.lib).some((f) => /^neo4j-bolt-\d/.test(f))) return "jars missing";
  return null;
}

/** Builds the launcher and copies Neo4j + APOC from Maven Central (or ~/.m2) into db/neo4j/target. */
export async function provision(java: JavaInfo, log: (msg: string) => void): Promise<number> {
  const mvn = findMaven();
  if (!existsSync(join(java.home, "bin", "javac"))) {
    throw new ServerError(
      `building the Neo4j launcher needs a JDK (javac), but ${java.home} is a JRE: apt-get install openjdk-17-jdk-headless`,
    );
  }
  mkdirSync(paths.logs, { recursive: true });
  log(`provisioning Neo4j (Maven build of db/neo4j; downloads ~170 MB on first run), log: ${paths.provisionLog}`);
  const t0 = Date.now();
  const out = openSync(paths.provisionLog, "w");
  let code: number | null;
  try {
    code = await new Promise<number | null>((resolvePromise, reject) => {
      // retryHandler: Maven 3.8's HTTP transport gives up on the first dropped connection otherwise
      const args = ["-B", "-ntp", "-Dmaven.wagon.http.retryHandler.count=3", "-f", paths.pom, "clean", "package"];
      const child = spawn(mvn, args, {
        cwd: NEO4J_DIR,
        stdio: ["ignore", out, out],
        env: { ...process.env, JAVA_HOME: java.home },
      });
      child.on("error", reject);
      child.on("exit", (c) => resolvePromise(c));
    });
  } finally {
    closeSync(out);
  }
  if (code !== 0) {
    const text = readFileSync(paths.provisionLog, "utf8");
    const firstError = text.split("\n").find((l) => l.startsWith("[ERROR]")) ?? text.trim().split("\n").pop() ?? "";
    throw new ServerError(
      `Maven build of the Neo4j launcher failed (exit ${code}): ${firstError.trim()} (full log: ${paths.provisionLog})`,
    );
  }
  writeFileAtomic(paths.stamp, `${sourceStamp()}\n`);
  const ms = Date.now() - t0;
  log(`provisioned in ${(ms / 1000).toFixed(1)} s`);
  return ms;
}
