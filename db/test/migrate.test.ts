import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { closeDriver, readTx, withSession, writeTx } from "../src/driver.ts";
import { MigrationError } from "../src/errors.ts";
import { importedSchemaPlan, loadMigrations, MIGRATIONS_DIR, migrate, splitStatements } from "../src/migrate.ts";
import { cleanupRun, RUN, requireServer } from "./helpers.ts";

const CONSTRAINED = ["Model", "Transcoder", "Feature", "Label", "Graph", "GraphNode", "Migration"];
const tmpDirs: string[] = [];

/** A copy of the real migrations folder, plus `extra` files. */
function migrationsCopy(extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "atlas-migrations-"));
  tmpDirs.push(dir);
  for (const f of readdirSync(MIGRATIONS_DIR)) copyFileSync(join(MIGRATIONS_DIR, f), join(dir, f));
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
  return dir;
}

const migrationCount = async () =>
  (await readTx((tx) => tx.one("MATCH (m:Migration) RETURN count(m) AS n", {}))).n as number;

describe("migration files (pure)", () => {
  test("statements split on ';' at line end; comment lines dropped; ';' inside a line is kept", () => {
    const text =
      "// header\nCREATE INDEX a IF NOT EXISTS FOR (n:A) ON (n.x);\n\n  // note\nRETURN 'a;b'\n  AS s;\nRETURN 1";
    assert.deepEqual(splitStatements(text), [
      "CREATE INDEX a IF NOT EXISTS FOR (n:A) ON (n.x)",
      "RETURN 'a;b'\n  AS s",
      "RETURN 1",
    ]);
  });

  test("the shipped folder loads in order with sha256 checksums", () => {
    const ms = loadMigrations();
    assert.ok(ms.length >= 1);
    assert.equal(ms[0]?.id, "0001");
    assert.equal(ms[0]?.name, "initial");
    assert.match(ms[0]?.checksum ?? "", /^[0-9a-f]{64}$/);
    assert.deepEqual(
      ms.map((m) => m.id),
      ms.map((m) => m.id).sort(),
    );
  });

  test("bad names and duplicate numbers are rejected", () => {
    const bad = migrationsCopy({ "002_typo.cypher": "RETURN 1;" });
    assert.throws(() => loadMigrations(bad), /002_typo\.cypher does not match NNNN_lower_snake_name/);
    const dup = migrationsCopy({ "0001_again.cypher": "RETURN 1;" });
    assert.throws(() => loadMigrations(dup), /share the number 0001/);
    const empty = migrationsCopy({ "9000_empty.cypher": "// nothing\n" });
    assert.throws(() => loadMigrations(empty), /has no statements/);
  });
  test("an imported store's plan: the final schema only (create-then-drop left out), data statements listed", () => {
    const dir = migrationsCopy({
      "9001_extra.cypher":
        "CREATE INDEX tmp_x IF NOT EXISTS FOR (n:A) ON (n.x);\n" +
        "CREATE INDEX `tmp y` IF NOT EXISTS FOR (n:A) ON (n.y);\n" +
        "MATCH (n:A) SET n.z = 1;\n" +
        "CREATE CONSTRAINT tmp_u IF NOT EXISTS FOR (n:A) REQUIRE n.u IS UNIQUE;\n",
      "9002_drop.cypher":
        "DROP INDEX tmp_x IF EXISTS;\nDROP INDEX `tmp y`;\nCREATE INDEX tmp_x IF NOT EXISTS FOR (n:A) ON (n.w);\n",
    });
    const plan = importedSchemaPlan(loadMigrations(dir));
    const names = plan.schema.map((q) => /^CREATE\s+(?:\w+\s+)?(?:INDEX|CONSTRAINT)\s+(`[^`]+`|\w+)/i.exec(q)![1]);
    // 0001's featureLabels is dropped by 0002; the bookkeeping constraint comes first
    assert.equal(names[0], "atlas_migration_id");
    assert.ok(!names.includes("featureLabels"));
    for (const n of [
      "feature_id",
      "graph_node_id",
      "featureSearch",
      "labelSearch",
      "influences_abs",
      "influences_key",
    ]) {
      assert.ok(names.includes(n), n);
    }
    assert.ok(!names.includes("`tmp y`"));
    assert.ok(plan.schema.includes("CREATE INDEX tmp_x IF NOT EXISTS FOR (n:A) ON (n.w)"), "re-created after the drop");
    assert.ok(!plan.schema.includes("CREATE INDEX tmp_x IF NOT EXISTS FOR (n:A) ON (n.x)"));
    assert.ok(names.includes("tmp_u"));
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual(
      plan.data.map((d) => d.at),
      ["0003:1", "9001:3"],
    );
  });
});

describe("migrations against the real server", () => {
  before(requireServer);
  after(async () => {
    await cleanupRun();
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
    await closeDriver();
  });

  test("running migrate twice changes nothing", async () => {
    await migrate(); // whatever state the server is in, bring it up to date
    const before = await migrationCount();
    const schemaBefore = await schemaNames();
    const r = await migrate();
    assert.deepEqual(r.applied, []);
    assert.deepEqual(
      r.alreadyApplied,
      loadMigrations().map((m) => `${m.id}_${m.name}`),
    );
    assert.equal(await migrationCount(), before);
    assert.deepEqual(await schemaNames(), schemaBefore);
    const recorded = await readTx((tx) =>
      tx.one("MATCH (m:Migration {id: '0001'}) RETURN m.name AS name, m.checksum AS checksum, m.appliedAt AS at"),
    );
    assert.equal(recorded.name, "initial");
    assert.equal(recorded.checksum, loadMigrations()[0]?.checksum);
    assert.match(String(recorded.at), /^\d{4}-\d\d-\d\dT/);
  });

  test("the initial migration's constraints and indexes exist and are online", async () => {
    const constraints = await readTx((tx) =>
      tx.rows(
        "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties RETURN type, labelsOrTypes[0] AS label, properties",
      ),
    );
    for (const label of CONSTRAINED) {
      assert.ok(
        constraints.some((c) => c.type === "UNIQUENESS" && c.label === label && String(c.properties) === "id"),
        `unique constraint on ${label}.id`,
      );
    }
    const indexes = await readTx((tx) =>
      tx.rows(
        "SHOW INDEXES YIELD name, type, state, labelsOrTypes, properties RETURN name, type, state, labelsOrTypes, properties",
      ),
    );
    const byName = new Map(indexes.map((i) => [String(i.name), i]));
    assert.equal(byName.get("featureLabels"), undefined, "0002 replaced featureLabels");
    for (const [name, label, props] of [
      ["featureSearch", "Feature", ["description", "label"]],
      ["labelSearch", "Label", ["description", "text"]],
    ] as const) {
      const ft = byName.get(name);
      assert.ok(ft, `full-text index ${name}`);
      assert.equal(ft.type, "FULLTEXT");
      assert.equal(ft.state, "ONLINE");
      assert.deepEqual(ft.labelsOrTypes, [label]);
      assert.deepEqual([...(ft.properties as string[])].sort(), props);
    }
    const analyzer = await readTx((tx) =>
      tx.one("SHOW FULLTEXT INDEXES YIELD name, options WHERE name = 'featureSearch' RETURN options AS o"),
    );
    assert.equal(
      (analyzer.o as { indexConfig: Record<string, unknown> }).indexConfig["fulltext.analyzer"],
      "standard-folding",
    );
    const range = (name: string, props: string[]) => {
      const i = byName.get(name);
      assert.ok(i, name);
      assert.equal(i.type, "RANGE");
      assert.deepEqual(i.labelsOrTypes, ["Feature"]);
      assert.deepEqual(i.properties, props);
    };
    range("feature_layer", ["layer"]);
    range("feature_feature_index", ["featureIndex"]);
    range("feature_transcoder_layer_index", ["transcoderId", "layer", "featureIndex"]);
  });

  test("the full-text indexes answer queries over Feature.label/description and Label.text, typos included", async () => {
    const word = `zq${RUN.replace(/[^a-z0-9]/gi, "")}`; // a token no other data contains
    await writeTx(async (tx) => {
      await tx.run("CREATE (:Label {id: $id, text: $text, testRun: $run})", {
        id: `${RUN}-label`,
        text: `greater than ${word} numbers`,
        run: RUN,
      });
      await tx.run("CREATE (:Feature {id: $id, label: $label, description: 'Détecte les années', testRun: $run})", {
        id: `${RUN}-feature`,
        label: `${word} detector`,
        run: RUN,
      });
      await tx.run("CREATE (:Label {id: $id, text: 'unrelated words', testRun: $run})", {
        id: `${RUN}-other`,
        run: RUN,
      });
    });
    const query = (index: string, q: string) =>
      readTx((tx) =>
        tx.rows(
          `CALL db.index.fulltext.queryNodes($index, $q) YIELD node, score
           WHERE node.testRun = $run RETURN node.id AS id, score ORDER BY id`,
          { index, q, run: RUN },
        ),
      );
    const features = await query("featureSearch", word);
    assert.deepEqual(
      features.map((h) => h.id),
      [`${RUN}-feature`],
    );
    assert.ok(features.every((h) => typeof h.score === "number" && h.score > 0));
    assert.deepEqual(
      (await query("labelSearch", word)).map((h) => h.id),
      [`${RUN}-label`],
    );
    // ASCII folding: "annees" finds "années"; a fuzzy term finds a misspelling ("detectr~").
    assert.deepEqual(
      (await query("featureSearch", "annees")).map((h) => h.id),
      [`${RUN}-feature`],
    );
    assert.deepEqual(
      (await query("featureSearch", "detectr~")).map((h) => h.id),
      [`${RUN}-feature`],
    );
  });

  test("a new migration is applied once, in order, and recorded", async () => {
    const id = "9990";
    const name = `test_${RUN.replace(/[^a-z0-9]/gi, "_").toLowerCase()}`;
    const index = `atlas_test_${name}`;
    const dir = migrationsCopy({
      [`${id}_${name}.cypher`]: `// test-only\nCREATE INDEX ${index} IF NOT EXISTS FOR (n:AtlasTestOnly) ON (n.x);\n`,
    });
    try {
      const first = await migrate({ dir });
      assert.deepEqual(first.applied, [`${id}_${name}`]);
      const second = await migrate({ dir });
      assert.deepEqual(second.applied, []);
      assert.ok(second.alreadyApplied.includes(`${id}_${name}`));
      assert.ok((await schemaNames()).includes(index));
      // seen from the shipped folder, the extra record is reported, not treated as an error
      const real = await migrate();
      assert.deepEqual(real.unknown, [`${id}_${name}`]);
    } finally {
      await withSession(async (s) => {
        await s.run(`DROP INDEX ${index} IF EXISTS`);
        await s.run("MATCH (m:Migration {id: $id}) DELETE m", { id });
      });
    }
  });

  test("an applied migration whose file changed is a clear MigrationError, and nothing runs", async () => {
    await migrate();
    const before = await migrationCount();
    const dir = migrationsCopy();
    writeFileSync(join(dir, "0001_initial.cypher"), "CREATE INDEX edited IF NOT EXISTS FOR (n:Feature) ON (n.x);\n");
    await assert.rejects(
      migrate({ dir }),
      (e: unknown) =>
        e instanceof MigrationError && /0001_initial\.cypher was changed after it was applied/.test(e.message),
    );
    assert.equal(await migrationCount(), before);
    assert.ok(!(await schemaNames()).includes("edited"));
  });
});

async function schemaNames(): Promise<string[]> {
  return readTx(async (tx) => {
    const c = await tx.rows("SHOW CONSTRAINTS YIELD name RETURN name");
    const i = await tx.rows("SHOW INDEXES YIELD name RETURN name");
    return [...c, ...i].map((r) => String(r.name)).sort();
  });
}
