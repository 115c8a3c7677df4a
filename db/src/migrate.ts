// Numbered Cypher migrations: db/migrations/NNNN_name.cypher, applied in order, each recorded as
// (:Migration {id, name, checksum, appliedAt}). Statements run one by one in auto-commit
// transactions (schema commands cannot share a transaction with writes), so every statement must be
// idempotent on its own (`IF NOT EXISTS`, MERGE): a migration interrupted halfway is simply re-run.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
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
      await session.run("CREATE CONSTRAINT atlas_migration_id IF NOT EXISTS FOR (m:Migration) REQUIRE m.id IS UNIQUE");
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
          try {
            await session.run(statement);
          } catch (err) {
            const msg = err instanceof Error ? err.message : String(err);
            throw new MigrationError(`migration ${m.file}, statement ${i + 1} failed: ${msg}`, { cause: err });
          }
        }
        await session.run(
          "MERGE (m:Migration {id: $id}) ON CREATE SET m.name = $name, m.checksum = $checksum, m.appliedAt = datetime()",
          { id: m.id, name: m.name, checksum: m.checksum },
        );
        result.applied.push(`${m.id}_${m.name}`);
      }
      // New indexes populate in the background; wait so callers can query them right away.
      if (result.applied.length > 0) await session.run("CALL db.awaitIndexes(300)");
      return result;
    },
    { database },
  );
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
