import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import neo4j from "neo4j-driver";
import { closeDriver, readTx, writeTx } from "../src/driver.ts";
import { IntegerOverflowError } from "../src/errors.ts";
import { int, toNumber, toPlain } from "../src/values.ts";
import { cleanupRun, RUN, requireServer } from "./helpers.ts";

describe("value conversion (pure)", () => {
  test("int() accepts safe integers and bigints in int64, rejects the rest", () => {
    assert.equal(int(42).toString(), "42");
    assert.equal(int(-(2 ** 53) + 1).toString(), String(-(2 ** 53) + 1));
    assert.equal(int(2n ** 63n - 1n).toString(), "9223372036854775807");
    assert.throws(() => int(1.5), IntegerOverflowError);
    assert.throws(() => int(2 ** 53), IntegerOverflowError);
    assert.throws(() => int(Number.NaN), IntegerOverflowError);
    assert.throws(() => int(2n ** 63n), IntegerOverflowError);
  });

  test("toNumber is exact inside ±(2^53−1) and throws outside", () => {
    assert.equal(toNumber(neo4j.int("9007199254740991")), 9007199254740991);
    assert.equal(toNumber(neo4j.int("-9007199254740991")), -9007199254740991);
    assert.throws(() => toNumber(neo4j.int("9007199254740992")), IntegerOverflowError);
    assert.equal(toNumber(7n), 7);
  });

  test("toPlain converts nested Integers and keeps floats, strings, nulls", () => {
    const v = toPlain({ a: neo4j.int(3), b: [neo4j.int(1), 2.5, "x", null], c: { d: neo4j.int(-4) } });
    assert.deepEqual(v, { a: 3, b: [1, 2.5, "x", null], c: { d: -4 } });
  });
});

describe("value conversion through Bolt", () => {
  before(requireServer);
  after(async () => {
    await cleanupRun();
    await closeDriver();
  });

  test("a plain JS number is stored as FLOAT, int() as INTEGER; both read back as numbers", async () => {
    const row = await writeTx((tx) =>
      tx.one(
        `CREATE (n:ValueProbe {testRun: $run, asFloat: $f, asInt: $i, frac: $x})
         RETURN valueType(n.asFloat) AS tf, valueType(n.asInt) AS ti, n.asFloat AS f, n.asInt AS i, n.frac AS x`,
        { run: RUN, f: 3, i: int(3), x: 0.1 + 0.2 },
      ),
    );
    assert.equal(row.tf, "FLOAT NOT NULL");
    assert.equal(row.ti, "INTEGER NOT NULL");
    assert.equal(row.f, 3);
    assert.equal(row.i, 3);
    assert.equal(row.x, 0.1 + 0.2); // floats round-trip bit-exactly
  });

  test("the largest safe integer round-trips; a larger one is an IntegerOverflowError, not a wrong number", async () => {
    const max = Number.MAX_SAFE_INTEGER;
    const r = await readTx((tx) => tx.one("RETURN $v AS v, $v + 1 AS w", { v: int(max - 1) }));
    assert.equal(r.v, max - 1);
    assert.equal(r.w, max);
    await assert.rejects(
      readTx((tx) => tx.one("RETURN $v * 2 AS big", { v: int(max) })),
      IntegerOverflowError,
    );
    // exact int64 arithmetic on the server, read as a string
    const s = await readTx((tx) => tx.one("RETURN toString($v * 2) AS s", { v: int(max) }));
    assert.equal(s.s, (BigInt(max) * 2n).toString());
  });

  test("lists, maps, nodes and temporals become plain data", async () => {
    const r = await readTx((tx) =>
      tx.one(
        "RETURN [1, 2, 3] AS xs, {k: 1, f: 1.5} AS m, date('2024-02-29') AS d, duration({hours: 2}) AS dur, [1.0, 2.0] AS fs",
      ),
    );
    assert.deepEqual(r, { xs: [1, 2, 3], m: { k: 1, f: 1.5 }, d: "2024-02-29", dur: "P0M0DT7200S", fs: [1, 2] });
  });
});
