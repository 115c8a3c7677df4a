// One driver per process, sessions and managed transactions with typed errors and plain values.
import neo4j, { type Driver, type ManagedTransaction, type QueryResult, type Session } from "neo4j-driver";
import type { z } from "zod";
import { type DbConfig, loadConfig } from "./config.ts";
import { DbError, mapError, NotFoundError } from "./errors.ts";
import { toPlain } from "./values.ts";

/** Query parameters. Plain JS numbers become FLOATs; wrap integers with `int()`. */
export type Params = Record<string, unknown>;

let current: { driver: Driver; config: DbConfig } | null = null;

/** Builds a driver for `config` (callers own it and must close it). Most code wants `getDriver()`. */
export function createDriver(config: DbConfig, overrides: Partial<Parameters<typeof neo4j.driver>[2]> = {}): Driver {
  return neo4j.driver(config.uri, neo4j.auth.basic(config.user, config.password), {
    maxTransactionRetryTime: config.maxRetryMs,
    connectionAcquisitionTimeout: 30_000,
    connectionTimeout: 10_000,
    userAgent: "circuit-atlas-db",
    ...overrides,
  });
}

/** The process-wide driver, created from the environment on first use. */
export function getDriver(): Driver {
  if (!current) {
    const config = loadConfig();
    current = { driver: createDriver(config), config };
  }
  return current.driver;
}

/** The config behind `getDriver()`. */
export function getConfig(): DbConfig {
  getDriver();
  return current!.config;
}

/** Closes the process-wide driver (safe to call when none is open); the next `getDriver()` makes a new one. */
export async function closeDriver(): Promise<void> {
  const c = current;
  current = null;
  if (c) await c.driver.close();
}

export interface SessionOptions {
  database?: string;
  mode?: "READ" | "WRITE";
}

/** Runs `fn` with a session that is always closed afterwards; driver errors come out as DbError subclasses. */
export async function withSession<T>(fn: (session: Session) => Promise<T>, opts: SessionOptions = {}): Promise<T> {
  const driver = getDriver();
  const config = current!.config;
  const session = driver.session({
    database: opts.database ?? config.database,
    defaultAccessMode: opts.mode === "READ" ? neo4j.session.READ : neo4j.session.WRITE,
  });
  try {
    return await fn(session);
  } catch (err) {
    throw mapError(err, config.uri);
  } finally {
    await session.close();
  }
}

export interface TxOptions {
  database?: string;
  /** Server-side transaction timeout. */
  timeoutMs?: number;
}

/** A read transaction; the driver retries `fn` on transient errors, so `fn` must be safe to re-run. */
export function readTx<T>(fn: (tx: Tx) => Promise<T>, opts: TxOptions = {}): Promise<T> {
  return withSession((s) => s.executeRead((raw) => fn(new Tx(raw)), txConfig(opts)), {
    database: opts.database,
    mode: "READ",
  });
}

/** A write transaction; committed when `fn` resolves, rolled back when it throws, retried on transient errors. */
export function writeTx<T>(fn: (tx: Tx) => Promise<T>, opts: TxOptions = {}): Promise<T> {
  return withSession((s) => s.executeWrite((raw) => fn(new Tx(raw)), txConfig(opts)), {
    database: opts.database,
    mode: "WRITE",
  });
}

function txConfig(opts: TxOptions) {
  return opts.timeoutMs === undefined ? undefined : { timeout: opts.timeoutMs };
}

/** Thin wrapper over a managed transaction: parameterized Cypher in, plain rows out. */
export class Tx {
  constructor(readonly raw: ManagedTransaction) {}

  /** Runs a statement for its effect; returns the update counters. */
  async run(cypher: string, params: Params = {}): Promise<ReturnType<QueryResult["summary"]["counters"]["updates"]>> {
    const result = await this.raw.run(cypher, params);
    return result.summary.counters.updates();
  }

  /** All rows as plain objects (see `toPlain`), each checked against `opts.schema` when given. */
  async rows<R = Record<string, unknown>>(cypher: string, params: Params = {}, opts: RowOptions<R> = {}): Promise<R[]> {
    const result = await this.raw.run(cypher, params);
    return result.records.map((rec) => {
      const row = toPlain(rec.toObject());
      if (!opts.schema) return row as R;
      const parsed = opts.schema.safeParse(row);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new DbError(`unexpected row shape (${issue?.path.join(".")}: ${issue?.message}): ${JSON.stringify(row)}`);
      }
      return parsed.data;
    });
  }

  /** The single row, or null when there is none; more than one row is an error. */
  async maybeOne<R = Record<string, unknown>>(
    cypher: string,
    params: Params = {},
    opts: RowOptions<R> = {},
  ): Promise<R | null> {
    const rows = await this.rows(cypher, params, opts);
    if (rows.length > 1) throw new DbError(`expected at most one row, got ${rows.length}`);
    return rows[0] ?? null;
  }

  /** The single row; throws NotFoundError (message: `opts.notFound`) when there is none. */
  async one<R = Record<string, unknown>>(
    cypher: string,
    params: Params = {},
    opts: RowOptions<R> & { notFound?: string } = {},
  ): Promise<R> {
    const row = await this.maybeOne(cypher, params, opts);
    if (row === null) throw new NotFoundError(opts.notFound ?? "no row matched");
    return row;
  }
}

export interface RowOptions<R> {
  /** Validates (and may transform) each plain row. */
  schema?: z.ZodType<R>;
}
