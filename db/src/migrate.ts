// Numbered Cypher migrations: db/migrations/NNNN_name.cypher, applied in order, each recorded as
// (:Migration {id, name, checksum, appliedAt}). Statements run one by one in auto-commit
// transactions (schema commands cannot share a transaction with writes), so every statement must be
// idempotent on its own (`IF NOT EXISTS`, MERGE): a migration interrupted halfway is simply re-run.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Session, Transaction } from "neo4j-driver";
import { getConfig, withSession } from "./driver.ts";
import { MigrationError } from "./errors.ts";

export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

export interface Migration {
  /** The 4-digit number, e.g. "0001". */
  id: string;
  name: string;
  file: string;
  /** sha256 of the file text (line endings normalized). */
  checksum: string;
  statements: string[];
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  /** Recorded in the database but with no file here (e.g. applied from a newer checkout). */
  unknown: string[];
}

/** The bookkeeping constraint (before any migration, so two concurrent migrators cannot both record one). */
const MIGRATION_CONSTRAINT =
  "CREATE CONSTRAINT atlas_migration_id IF NOT EXISTS FOR (m:Migration) REQUIRE m.id IS UNIQUE";

const FILE_RE = /^(\d{4})_([a-z0-9][a-z0-9_]*)\.cypher$/;

/** Reads and checks the migration folder; throws MigrationError on a malformed name or a duplicate number. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = [];
  const seen = new Map<string, string>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith(".cypher")) continue;
    const m = FILE_RE.exec(file);
    if (!m) throw new MigrationError(`migration file name ${file} does not match NNNN_lower_snake_name.cypher`);
    const [, id, name] = m as unknown as [string, string, string];
    const prev = seen.get(id);
    if (prev) throw new MigrationError(`migrations ${prev} and ${file} share the number ${id}`);
    seen.set(id, file);
    const text = readFileSync(join(dir, file), "utf8").replace(/\r\n?/g, "\n");
    const statements = splitStatements(text);
    if (statements.length === 0) throw new MigrationError(`migration ${file} has no statements`);
    out.push({ id, name, file, checksum: sha256(text), statements });
  }
  return out;
}

/** Splits on `;` at the end of a line; whole-line `//` comments are dropped. */
export function splitStatements(text: string): string[] {
  const body = text
    .split("\n")
    .filter((line) => !/^\s*\/\//.test(line))
    .join("\n");
  return body
    .split(/;[ \t]*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Applies the pending migrations. Running it again changes nothing; an edited applied migration is an error. */
export async function migrate(
  opts: { dir?: string; database?: string; log?: (msg: string) => void } = {},
): Promise<MigrateResult> {
  const log = opts.log ?? (() => {});
  const migrations = loadMigrations(opts.dir);
  const database = opts.database ?? getConfig().database;
  return withSession(
    async (session) => {
      // The bookkeeping constraint comes first so two concurrent migrators cannot both record a migration.
      await session.run(MIGRATION_CONSTRAINT);
      const res = await session.run("MATCH (m:Migration) RETURN m.id AS id, m.name AS name, m.checksum AS checksum");
      const applied = new Map(
        res.records.map((r) => [
          String(r.get("id")),
          { name: String(r.get("name")), checksum: String(r.get("checksum")) },
        ]),
      );
      const result: MigrateResult = { applied: [], alreadyApplied: [], unknown: [] };
      const fileIds = new Set(migrations.map((m) => m.id));
      for (const id of [...applied.keys()].sort()) {
        if (!fileIds.has(id)) result.unknown.push(`${id}_${applied.get(id)!.name}`);
      }
      for (const m of migrations) {
        const done = applied.get(m.id);
        if (done && done.checksum !== m.checksum) {
          throw new MigrationError(
            `migration ${m.file} was changed after it was applied (checksum ${done.checksum.slice(0, 12)}… in the database, ` +
              `${m.checksum.slice(0, 12)}… on disk): add a new migration instead, or wipe the local database with npm run db:reset`,
          );
        }
      }
      for (const m of migrations) {
        if (applied.has(m.id)) {
          result.alreadyApplied.push(`${m.id}_${m.name}`);
          continue;
        }
        log(`applying migration ${m.file} (${m.statements.length} statements)`);
        for (const [i, statement] of m.statements.entries()) {
          await runStatement(session, statement, `migration ${m.file}, statement ${i + 1}`);
        }
        await recordApplied(session, [m]);
        result.applied.push(`${m.id}_${m.name}`);
      }
      // New indexes populate in the background; wait so callers can query them right away.
      if (result.applied.length > 0) await session.run("CALL db.awaitIndexes(300)");
      return result;
    },
    { database },
  );
}

/**
 * What `migrateImported` runs on a freshly imported store: every index and constraint the
 * migrations leave in the end (a create that a later migration drops is left out, and so is the
 * drop), in migration order; and the data statements, which on an imported store only transform data
 * the import already wrote in the current model.
 */
export interface ImportedSchemaPlan {
  schema: string[];
  /** `{migration id}:{statement number}` → statement, in order. */
  data: { at: string; statement: string }[];
}

const CREATE_SCHEMA_RE = /^CREATE\s+(?:[A-Z]+\s+)?(INDEX|CONSTRAINT)\s+(?!IF\s|FOR\s|ON\s)(`[^`]+`|\w+)/i;
const DROP_SCHEMA_RE = /^DROP\s+(INDEX|CONSTRAINT)\s+(`[^`]+`|\w+)/i;

export function importedSchemaPlan(migrations: Migration[] = loadMigrations()): ImportedSchemaPlan {
  // "INDEX name" / "CONSTRAINT name" → CREATE statement; Map order is first-creation order. An unnamed
  // create cannot be matched to a drop, so it counts as a data statement (migrateImported falls back).
  const schema = new Map<string, string>([["CONSTRAINT atlas_migration_id", MIGRATION_CONSTRAINT]]);
  const data: ImportedSchemaPlan["data"] = [];
  for (const m of migrations) {
    m.statements.forEach((statement, i) => {
      const create = CREATE_SCHEMA_RE.exec(statement);
      const drop = DROP_SCHEMA_RE.exec(statement);
      if (create) {
        const key = `${create[1]!.toUpperCase()} ${create[2]!.replaceAll("`", "")}`;
        // `IF NOT EXISTS`: a second create of the same name keeps the first
        if (!schema.has(key)) schema.set(key, statement);
      } else if (drop) {
        schema.delete(`${drop[1]!.toUpperCase()} ${drop[2]!.replaceAll("`", "")}`);
      } else {
        data.push({ at: `${m.id}:${i + 1}`, statement });
      }
    });
  }
  return { schema: [...schema.values()], data };
}

/**
 * The migrations of a store that Neo4j's offline importer has just built (no Migration records
 * yet): the final schema of `importedSchemaPlan` created in one transaction, one wait for index
 * population, and every migration recorded as applied with its checksum, so that `migrate` finds a
 * consistent state afterwards. Data statements are skipped only where the caller says the import
 * already wrote their result (`dataWrittenByImport`, e.g. "0003:1"); any other data statement makes
 * this fall back to the ordinary `migrate`, which runs everything in order.
 */
export async function migrateImported(
  opts: { dataWrittenByImport?: string[]; dir?: string; database?: string; log?: (msg: string) => void } = {},
): Promise<MigrateResult> {
  const log = opts.log ?? (() => {});
  const migrations = loadMigrations(opts.dir);
  const plan = importedSchemaPlan(migrations);
  const written = new Set(opts.dataWrittenByImport ?? []);
  const database = opts.database ?? getConfig().database;
  const pending = plan.data.filter((d) => !written.has(d.at));
  const recorded = await withSession((s) => s.run("MATCH (m:Migration) RETURN count(m) AS n"), { database });
  if (pending.length > 0 || Number(recorded.records[0]!.get("n")) > 0) {
    log(
      pending.length > 0
        ? `migrations: data statement ${pending[0]!.at} is not written by the import: applying migrations one by one`
        : "migrations: the store already has migration records: applying migrations one by one",
    );
    return migrate(opts);
  }
  return withSession(
    async (session) => {
      log(`creating the final schema of ${migrations.length} migrations at once (${plan.schema.length} statements)`);
      const tx = session.beginTransaction();
      try {
        for (const [i, statement] of plan.schema.entries()) {
          await runStatement(tx, statement, `imported store's schema, statement ${i + 1} (${statement})`);
        }
        await tx.commit();
      } finally {
        if (tx.isOpen()) await tx.rollback();
      }
      await session.run("CALL db.awaitIndexes($s)", { s: 3600 });
      await recordApplied(session, migrations);
      return { applied: migrations.map((m) => `${m.id}_${m.name}`), alreadyApplied: [], unknown: [] };
    },
    { database },
  );
}

/** Runs one migration statement; a failure becomes a MigrationError naming `where`. */
async function runStatement(runner: Session | Transaction, statement: string, where: string): Promise<void> {
  try {
    await runner.run(statement);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new MigrationError(`${where} failed: ${msg}`, { cause: err });
  }
}

/** Records `migrations` as applied (idempotent by id: a record that exists is kept as it is). */
async function recordApplied(runner: Session | Transaction, migrations: Migration[]): Promise<void> {
  await runner.run(
    `UNWIND $ms AS x MERGE (m:Migration {id: x.id})
     ON CREATE SET m.name = x.name, m.checksum = x.checksum, m.appliedAt = datetime()`,
    { ms: migrations.map((m) => ({ id: m.id, name: m.name, checksum: m.checksum })) },
  );
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
