// @circuit-atlas/db: the typed access layer over Neo4j (Bolt) and the local server's management.
//
//   import { readTx, writeTx, int } from "@circuit-atlas/db";
//   const model = await readTx((tx) => tx.one("MATCH (m:Model {id: $id}) RETURN m.id AS id", { id }));
//
// Only parameterized Cypher: values always go in `params`, never into the query string.

export * from "./atlas/index.ts";
export { type DbConfig, DEFAULT_URI, isLoopback, loadConfig, parseUri } from "./config.ts";
export {
  closeDriver,
  createDriver,
  getConfig,
  getDriver,
  type Params,
  type RowOptions,
  readTx,
  type SessionOptions,
  Tx,
  type TxOptions,
  withSession,
  writeTx,
} from "./driver.ts";
export {
  ConstraintViolationError,
  CypherError,
  DbAuthError,
  DbError,
  DbUnavailableError,
  IntegerOverflowError,
  MigrationError,
  mapError,
  NotFoundError,
} from "./errors.ts";
export {
  type ImportedSchemaPlan,
  importedSchemaPlan,
  loadMigrations,
  MIGRATIONS_DIR,
  type MigrateResult,
  type Migration,
  migrate,
  migrateImported,
  splitStatements,
} from "./migrate.ts";
export { down, reset, type StatusResult, status, type UpResult, up } from "./server/commands.ts";
export { ping, ServerError, serverSettings } from "./server/local.ts";
export { int, toNumber, toPlain } from "./values.ts";
