// Is the server up? Bolt's handshake on a plain socket, then `RETURN 1` through the driver.
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { pidAlive as alive } from "@circuit-atlas/util";
import type { DbConfig } from "../config.ts";
import { createDriver } from "../driver.ts";
import { sleep } from "./process.ts";
import { ServerError } from "./settings.ts";

export type PingResult = { ok: true; agent: string } | { ok: false; reason: string };

/**
 * Bolt's opening handshake on a plain socket: true when the peer answers with a protocol version.
 * The driver alone can wait forever on a port whose listener accepts but never speaks Bolt.
 */
export function boltHandshake(host: string, port: number, timeoutMs: number): Promise<PingResult> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const done = (r: PingResult) => {
      socket.destroy();
      resolvePromise(r);
    };
    socket.setTimeout(timeoutMs, () =>
      done({ ok: false, reason: `no Bolt handshake from ${host}:${port} in ${timeoutMs} ms` }),
    );
    socket.once("error", (e: NodeJS.ErrnoException) =>
      done({ ok: false, reason: `${e.code ?? "error"}: ${e.message}` }),
    );
    socket.once("connect", () => {
      // magic 0x6060B017, then four proposals [_, range, minor, major]: 5.0–5.8, 4.4, 4.0–4.3, 3.0
      socket.write(Buffer.from([0x60, 0x60, 0xb0, 0x17, 0, 8, 8, 5, 0, 0, 4, 4, 0, 3, 3, 4, 0, 0, 0, 3]));
    });
    let got = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 4) return;
      const [, , minor, major] = got;
      done(major ? { ok: true, agent: `Bolt ${major}.${minor}` } : { ok: false, reason: "no common Bolt version" });
    });
    socket.once("end", () =>
      done({ ok: false, reason: `${host}:${port} closed the connection without a Bolt handshake` }),
    );
  });
}

/** Bolt handshake (plain-text schemes), then `RETURN 1` in the configured database, all within ~timeoutMs. */
export async function ping(config: DbConfig, timeoutMs = 3000): Promise<PingResult> {
  if (!/\+s/.test(config.uri)) {
    const hs = await boltHandshake(config.host, config.port, timeoutMs);
    if (!hs.ok) return hs;
  }
  const driver = createDriver(config, {
    connectionTimeout: timeoutMs,
    connectionAcquisitionTimeout: timeoutMs,
    maxTransactionRetryTime: 0,
    maxConnectionPoolSize: 1,
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<PingResult>((r) => {
    timer = setTimeout(
      () => r({ ok: false, reason: `no answer to RETURN 1 within ${timeoutMs} ms` }),
      timeoutMs + 1000,
    );
  });
  const query = (async (): Promise<PingResult> => {
    const session = driver.session({ database: config.database });
    try {
      const r = await session.run("RETURN 1 AS one");
      return { ok: true, agent: r.summary.server.agent ?? "Neo4j" };
    } finally {
      await session.close().catch(() => {});
    }
  })().catch((e: unknown): PingResult => {
    const err = e as { code?: string; message?: string };
    // The driver's connection errors carry a long generic preamble; the cause after it is what matters.
    const msg = String(err.message ?? e);
    const cause = /Caused by: (.*)$/s.exec(msg)?.[1] ?? msg;
    return { ok: false, reason: err.code ? `${err.code}: ${cause.trim()}` : cause.trim() };
  });
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
    // not awaited when the query hung: closing destroys its socket either way
    void driver.close().catch(() => {});
  }
}

/** Polls Bolt until it answers. With `pid`, fails early (with the log's last error) if that process dies. */
export async function waitForBolt(
  config: DbConfig,
  opts: { timeoutMs: number; pid?: number; logFile?: string },
): Promise<string> {
  const end = Date.now() + opts.timeoutMs;
  let last = "";
  for (;;) {
    const r = await ping(config, 2000);
    if (r.ok) return r.agent;
    last = r.reason;
    if (opts.pid !== undefined && !alive(opts.pid)) {
      const why = opts.logFile ? lastErrorLine(opts.logFile) : "";
      throw new ServerError(
        `Neo4j exited during startup${why ? `: ${why}` : ""}${opts.logFile ? ` (log: ${opts.logFile})` : ""}`,
      );
    }
    if (Date.now() >= end) {
      const s = Math.round(opts.timeoutMs / 1000);
      throw new ServerError(
        `Neo4j did not answer on ${config.uri} within ${s} s (last error: ${last})` +
          (opts.logFile ? `; see ${opts.logFile}` : "") +
          " (raise ATLAS_DB_START_TIMEOUT if the machine is just slow)",
      );
    }
    await sleep(500);
  }
}

/** The launcher's own error line from the latest start in the log, else Neo4j's last ERROR/exception line. */
function lastErrorLine(file: string): string {
  try {
    const all = readFileSync(file, "utf8").trimEnd().split("\n");
    const startIdx = all.findLastIndex((l) => l.includes("atlas-neo4j: starting"));
    const lines = all.slice(Math.max(0, startIdx));
    const pick =
      lines.findLast((l) => l.includes("atlas-neo4j: error:")) ??
      lines.findLast((l) => /\bERROR\b|Exception|Error:/.test(l)) ??
      lines.at(-1) ??
      "";
    return pick.trim().slice(0, 400);
  } catch {
    return "";
  }
}
