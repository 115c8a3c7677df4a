import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { closeDriver, getDriver, readTx, withSession, writeTx } from "../src/driver.ts";
import { ConstraintViolationError, CypherError, DbError, NotFoundError } from "../src/errors.ts";
import { int } from "../src/values.ts";
import { cleanupRun, RUN, requireServer } from "./helpers.ts";

const ModelRow = z.object({ id: z.string(), name: z.string(), nLayers: z.number().int() });

describe("access layer against the real server", () => {
  before(requireServer);
  after(async () => {
    await cleanupRun();
    await closeDriver();
  });

  test("getDriver returns one driver per process until closeDriver", async () => {
    const a = getDriver();
    assert.equal(getDriver(), a);
    await closeDriver();
    const b = getDriver();
    assert.notEqual(b, a);
  });

  test("create, read, update and delete a node in this run's scope", async () => {
    const id = `${RUN}-model-a`;
    await writeTx((tx) =>
      tx.run("CREATE (:Model {id: $id, name: $name, nLayers: $n, testRun: $run})", {
        id,
        name: "tiny",
        n: int(4),
        run: RUN,
      }),
    );
    const read = () =>
      readTx((tx) =>
        tx.one(
          "MATCH (m:Model {id: $id}) RETURN m.id AS id, m.name AS name, m.nLayers AS nLayers",
          { id },
          {
            schema: ModelRow,
          },
        ),
      );
    assert.deepEqual(await read(), { id, name: "tiny", nLayers: 4 });

    const counters = await writeTx((tx) =>
      tx.run("MATCH (m:Model {id: $id}) SET m.name = $name, m.nLayers = m.nLayers + 2", { id, name: "bigger" }),
    );
    assert.equal(counters.propertiesSet, 2);
    assert.deepEqual(await read(), { id, name: "bigger", nLayers: 6 });

    await writeTx((tx) => tx.run("MATCH (m:Model {id: $id}) DETACH DELETE m", { id }));
    await assert.rejects(read(), NotFoundError);
    assert.equal(await readTx((tx) => tx.maybeOne("MATCH (m:Model {id: $id}) RETURN m.id AS id", { id })), null);
  });

  test("a uniqueness constraint violation surfaces as ConstraintViolationError and the tx rolls back", async () => {
    const id = `${RUN}-model-dup`;
    await writeTx((tx) => tx.run("CREATE (:Model {id: $id, testRun: $run})", { id, run: RUN }));
    const err = await writeTx(async (tx) => {
      await tx.run("CREATE (:Model {id: $other, testRun: $run})", { other: `${RUN}-model-rolled-back`, run: RUN });
      await tx.run("CREATE (:Model {id: $id, testRun: $run})", { id, run: RUN });
    }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConstraintViolationError, `expected ConstraintViolationError, got ${String(err)}`);
    assert.ok(err instanceof DbError);
    assert.equal(err.code, "Neo.ClientError.Schema.ConstraintValidationFailed");
    assert.equal(err.label, "Model");
    assert.equal(err.property, "id");
    const n = await readTx((tx) =>
      tx.one("MATCH (m:Model) WHERE m.id STARTS WITH $p RETURN count(m) AS n", { p: `${RUN}-model-` }),
    );
    assert.equal(n.n, 1, "the first CREATE of the failed transaction must be rolled back");
  });

  test("an error thrown inside writeTx rolls the transaction back", async () => {
    const id = `${RUN}-model-abort`;
    await assert.rejects(
      writeTx(async (tx) => {
        await tx.run("CREATE (:Model {id: $id, testRun: $run})", { id, run: RUN });
        throw new Error("abort on purpose");
      }),
      /abort on purpose/,
    );
    assert.equal(await readTx((tx) => tx.maybeOne("MATCH (m:Model {id: $id}) RETURN m.id AS id", { id })), null);
  });

  test("one() demands exactly one row; a schema mismatch is a DbError naming the field", async () => {
    await assert.rejects(
      readTx((tx) => tx.one("UNWIND [1, 2] AS x RETURN x")),
      /at most one row, got 2/,
    );
    await assert.rejects(
      readTx((tx) => tx.one("RETURN 'a' AS id, 'b' AS name, 1.5 AS nLayers", {}, { schema: ModelRow })),
      (e: unknown) => e instanceof DbError && /nLayers/.test(e.message),
    );
    await assert.rejects(
      readTx((tx) =>
        tx.one("MATCH (m:Model {id: $id}) RETURN m", { id: `${RUN}-none` }, { notFound: "model x not found" }),
      ),
      (e: unknown) => e instanceof NotFoundError && e.message === "model x not found",
    );
  });

  test("Cypher errors are CypherError with Neo4j's code; sessions are closed even on error", async () => {
    await assert.rejects(
      readTx((tx) => tx.rows("RETURN $missing AS x")),
      (e: unknown) => e instanceof CypherError && e.code === "Neo.ClientError.Statement.ParameterMissing",
    );
    await assert.rejects(
      withSession((s) => s.run("MATCH (n RETURN n")),
      (e: unknown) => e instanceof CypherError && e.code === "Neo.ClientError.Statement.SyntaxError",
    );
    // the pool is not leaking: many sequential sessions still work with the default pool
    for (let i = 0; i < 20; i++) assert.equal((await readTx((tx) => tx.one("RETURN $i AS i", { i: int(i) }))).i, i);
  });

  test("a read session refuses writes", async () => {
    await assert.rejects(
      readTx((tx) => tx.run("CREATE (:Model {id: $id, testRun: $run})", { id: `${RUN}-ro`, run: RUN })),
      (e: unknown) => e instanceof CypherError && e.code === "Neo.ClientError.Statement.AccessMode",
    );
  });
});
