import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PairSums } from "../src/atlas/bulk.ts";
import { parseImporterDuration } from "../src/server/commands.ts";

describe("bulk INFLUENCES pair table (pure)", () => {
  test("sums, counts and distinct graphs per pair equal a Map over string keys, through many rehashes", () => {
    const p = new PairSums();
    const ref = new Map<string, { s: number; sa: number; c: number; g: Set<number> }>();
    let seed = 12345;
    const rand = () => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed / 2 ** 32;
    };
    // Hub-like popularity (many pairs share a source) and repeats within and across graphs; slot 0
    // and large slots included, so the empty marker and the hash's range are both exercised.
    let touched = 0;
    for (let graph = 0; graph < 300; graph++) {
      const seen = new Set<string>();
      for (let e = 0; e < 2000; e++) {
        const a = rand() < 0.3 ? Math.floor(rand() * 4) : Math.floor(rand() ** 3 * 600_000);
        const b = rand() < 0.01 ? 0 : Math.floor(rand() * 5_000);
        const w = (rand() - 0.5) * 2 ** Math.floor(rand() * 8 - 4);
        p.add(a, b, w, graph);
        const k = `${a}>${b}`;
        let r = ref.get(k);
        if (!r) {
          r = { s: 0, sa: 0, c: 0, g: new Set() };
          ref.set(k, r);
        }
        r.s += w;
        r.sa += Math.abs(w);
        r.c++;
        r.g.add(graph);
        if (!seen.has(k)) {
          seen.add(k);
          touched++;
        }
      }
    }
    assert.ok(ref.size > 200_000, `enough distinct pairs to grow the table many times (${ref.size})`);
    assert.equal(p.size, ref.size);
    assert.equal(p.touched, touched);
    const got = new Set<string>();
    for (let i = 0; i < p.size; i++) {
      const k = `${p.a[i]}>${p.b[i]}`;
      assert.ok(!got.has(k), `pair ${k} is stored once`);
      got.add(k);
      const r = ref.get(k);
      assert.ok(r, `pair ${k} was added`);
      assert.equal(p.s[i], r.s, `weightSum of ${k}`);
      assert.equal(p.sa[i], r.sa, `weightAbsSum of ${k}`);
      assert.equal(p.c[i], r.c, `count of ${k}`);
      assert.equal(p.g[i], r.g.size, `graphs of ${k}`);
    }
  });
});

test("the importer's stage durations parse to ms", () => {
  assert.equal(parseImporterDuration("1m 53s 573ms"), 113_573);
  assert.equal(parseImporterDuration("31s 736ms"), 31_736);
  assert.equal(parseImporterDuration("0ms"), 0);
  assert.equal(parseImporterDuration("1h 2m"), 3_720_000);
  assert.equal(parseImporterDuration("soon"), null);
  assert.equal(parseImporterDuration(""), null);
});
