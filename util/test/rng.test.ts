import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../src/index.ts";

test("a restored state continues the stream exactly", () => {
  const a = new Rng(42);
  for (let i = 0; i < 1000; i++) a.next();
  const saved = JSON.parse(JSON.stringify(a.state()));
  const expect = Array.from({ length: 100 }, () => a.nextUint32());
  const b = new Rng(saved);
  assert.deepEqual(
    Array.from({ length: 100 }, () => b.nextUint32()),
    expect,
  );
});

test("seeds give different streams; the same seed the same stream", () => {
  const draw = (s: number) =>
    Array.from(
      { length: 8 },
      (
        (r) => () =>
          r.nextUint32()
      )(new Rng(s)),
    );
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
  assert.notDeepEqual(draw(0), draw(2 ** 32));
});

test("uniform, int, normal and shuffle have the right distributions", () => {
  const r = new Rng(1);
  const n = 200_000;
  let sum = 0;
  let sq = 0;
  const counts = new Array(10).fill(0);
  for (let i = 0; i < n; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    counts[r.int(10)]++;
    const z = r.normal();
    sum += z;
    sq += z * z;
  }
  assert.ok(Math.abs(sum / n) < 0.01, `normal mean ${sum / n}`);
  assert.ok(Math.abs(sq / n - 1) < 0.02, `normal variance ${sq / n}`);
  // chi-square with 9 degrees of freedom: 99.9% quantile 27.9
  const chi = counts.reduce((a, c) => a + (c - n / 10) ** 2 / (n / 10), 0);
  assert.ok(chi < 27.9, `chi-square ${chi}`);
  const a = Int32Array.from({ length: 50 }, (_, i) => i);
  r.shuffle(a);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.notDeepEqual(
    [...a],
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.throws(() => new Rng([1, 2, 3] as never), /four uint32/);
  assert.throws(() => r.int(0), /positive integer/);
});
