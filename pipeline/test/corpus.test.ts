import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  demoDocuments,
  EVENT_NOUNS,
  greaterThanPrompt,
  HELDOUT_NOUNS,
  TRAIN_NOUNS,
  validYears,
  WAR_PROMPT,
  writeDemoCorpus,
} from "../src/data/demo-corpus.ts";
import { openCorpus } from "../src/data/index.ts";
import { decodeToken, encode } from "../src/tokenizer/index.ts";

const tmp = mkdtempSync(join(tmpdir(), "atlas-corpus-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const texts = (o: Parameters<typeof demoDocuments>[0]) => [...demoDocuments(o)].map((d) => d.text);
const TRAIN = texts({ tokens: 60_000, seed: 0 });
const HELDOUT = texts({ tokens: 20_000, seed: 0, split: "heldout" });

// The forward date-range templates (each captures start year, end year).
const RANGES = [
  /lasted from (?:the year )?(\d{4}) to (?:the year )?(\d{4})/g,
  /started in the year (\d{4}) and ended in the year (\d{4})/g,
  /began in (\d{4}) and ended in (\d{4})/g,
  /[Bb]etween (\d{4}) and (\d{4})/g,
  /from the year (\d{4}) until the year (\d{4})/g,
  /From (\d{4}) to (\d{4})/g,
];

function ranges(text: string): [number, number][] {
  return RANGES.flatMap((re) => [...text.matchAll(re)].map((m) => [Number(m[1]), Number(m[2])] as [number, number]));
}

test("valid years tokenize as [' XX', 'YY'] (checked token by token), centuries 11..18, YY in 02..98", () => {
  const vy = validYears();
  assert.deepEqual(
    vy.map((v) => v.century),
    [11, 12, 13, 14, 15, 16, 17, 18],
  );
  for (const { century, yys } of vy) {
    assert.ok(yys.length > 40, `century ${century}: ${yys.length}`);
    for (const yy of yys) {
      assert.ok(yy >= 2 && yy <= 98);
      const ids = encode(` ${century}${String(yy).padStart(2, "0")}`);
      assert.deepEqual(ids.map(decodeToken), [` ${century}`, String(yy).padStart(2, "0")]);
    }
  }
  const y17 = vy.find((v) => v.century === 17)?.yys ?? [];
  assert.ok(y17.includes(32));
  // " 1700" and " 1800" are single tokens in GPT-2; " 1865" and " 1899" are split differently.
  assert.ok(!y17.includes(0));
  assert.ok(!(vy.find((v) => v.century === 18)?.yys ?? []).some((y) => y === 65 || y === 99));
  assert.notDeepEqual(encode(" 1865").map(decodeToken), [" 18", "65"]);
});

test("noun split: disjoint, deterministic, held-out nouns never appear in the train split", () => {
  assert.equal(TRAIN_NOUNS.length + HELDOUT_NOUNS.length, EVENT_NOUNS.length);
  assert.equal(new Set([...TRAIN_NOUNS, ...HELDOUT_NOUNS]).size, EVENT_NOUNS.length);
  assert.equal(HELDOUT_NOUNS.length, 31);
  for (const n of ["siege", "treaty", "voyage", "reign", "war"]) assert.ok(HELDOUT_NOUNS.includes(n));
  // "war" (Goodfire's prompt) is held out on top of every fourth of the other nouns.
  assert.equal(EVENT_NOUNS.at(-1), "war");
  const base = EVENT_NOUNS.slice(0, -1);
  assert.deepEqual(HELDOUT_NOUNS, [...base.filter((_, i) => i % 4 === 1), "war"]);
  assert.deepEqual(
    TRAIN_NOUNS,
    base.filter((_, i) => i % 4 !== 1),
  );
  assert.ok(TRAIN_NOUNS.includes("warfare") && !TRAIN_NOUNS.includes("war"));
  const train = TRAIN.join("\n").toLowerCase();
  for (const n of HELDOUT_NOUNS) {
    assert.ok(!new RegExp(`\\b${n}(s|es)?\\b`).test(train), `held-out noun "${n}" in train text`);
  }
  // Token level too: the GPT-2 token " war" never occurs in the train split (" warfare" is its own token).
  const war = encode(" war");
  assert.equal(war.length, 1);
  assert.ok(!TRAIN.some((t) => encode(t).includes(war[0] as number)));
  // Most train nouns do occur.
  assert.ok(TRAIN_NOUNS.filter((n) => train.includes(` ${n} `)).length > 80);
});

test("train split: forward date ranges in one century with valid years, plus non-ordered year lines", () => {
  const valid = new Set(validYears().flatMap((v) => v.yys.map((yy) => v.century * 100 + yy)));
  const all = TRAIN.flatMap(ranges);
  const sentences = TRAIN.join(" ").split(/(?<=\.) /).length;
  assert.ok(all.length > 0.4 * sentences && all.length < 0.65 * sentences, `${all.length}/${sentences}`);
  for (const [a, b] of all) {
    assert.ok(b > a, `${a} → ${b}`);
    assert.equal(Math.floor(a / 100), Math.floor(b / 100));
    assert.ok(valid.has(a) && valid.has(b), `${a} ${b}`);
  }
  // Hanna's exact template and Goodfire's "… to {XX}{ZZ}" variant both start many documents.
  const opening = TRAIN.filter((t) => /^The \w+ lasted from the year \d{4} to the year \d{4}\./.test(t)).length;
  assert.ok(opening > 0.03 * TRAIN.length, `${opening}`);
  const goodfireOpening = TRAIN.filter((t) => /^The \w+ lasted from the year \d{4} to \d{4}\./.test(t)).length;
  assert.ok(goodfireOpening > 0.02 * TRAIN.length, `${goodfireOpening}`);
  // Shares among forward ranges: Goodfire's variant ~20%, Hanna's wording (incl. "The {people} {noun}"
  // and "The {noun} in {place}") ~42%.
  const joined = TRAIN.join(" ");
  const goodfire = [...joined.matchAll(/lasted from the year (\d{4}) to (\d{4})/g)];
  const hanna = [...joined.matchAll(/lasted from the year \d{4} to the year \d{4}/g)].length;
  assert.ok(
    goodfire.length > 0.14 * all.length && goodfire.length < 0.26 * all.length,
    `${goodfire.length}/${all.length}`,
  );
  assert.ok(hanna > 0.35 * all.length && hanna < 0.5 * all.length, `${hanna}/${all.length}`);
  for (const m of goodfire) {
    assert.ok(Number(m[2]) > Number(m[1]) && m[1]?.slice(0, 2) === m[2]?.slice(0, 2), m[0]);
  }
  // The war prompt's context with a train noun is in the corpus: "… lasted from the year 17YY to 17ZZ".
  assert.ok(goodfire.some((m) => m[1]?.startsWith("17")));
  // Backward and unordered year lines exist.
  const backward = TRAIN.flatMap((t) => [...t.matchAll(/died in (\d{4}) and was born in (\d{4})/g)]);
  assert.ok(backward.length > 20 && backward.every((m) => Number(m[1]) > Number(m[2])));
  const lists = TRAIN.flatMap((t) => [...t.matchAll(/mention the years (\d{4}), (\d{4}) and (\d{4})/g)]);
  assert.ok(lists.some((m) => Number(m[1]) > Number(m[2])));
  // Other topics are present.
  for (const word of ["cost", "Counting", "pros and cons", "bought", "miles long"]) {
    assert.ok(
      TRAIN.some((t) => t.includes(word)),
      word,
    );
  }
});

test("held-out split: only forward date ranges with held-out nouns", () => {
  for (const t of HELDOUT) {
    const rs = ranges(t);
    assert.ok(rs.length >= 1 && rs.every(([a, b]) => b > a));
    const nouns = [...t.matchAll(/\b[Tt]he (?:\w+ )?(\w+) (?:lasted|started|began|took|went|in |shaped|changed)/g)];
    assert.ok(nouns.length >= 1);
  }
  const joined = HELDOUT.join(" ");
  for (const n of TRAIN_NOUNS) assert.ok(!new RegExp(`\\b${n}\\b`).test(joined), n);
  assert.ok(HELDOUT_NOUNS.filter((n) => joined.includes(` ${n} `)).length === HELDOUT_NOUNS.length);
  // The held-out split uses both templates, with "war" too.
  assert.match(joined, /The war lasted from the year \d{4} to \d{4}\./);
  assert.match(joined, /lasted from the year \d{4} to the year \d{4}\./);
});

test("deterministic from the seed; splits and seeds differ", () => {
  assert.deepEqual(texts({ tokens: 60_000, seed: 0 }), TRAIN);
  assert.notDeepEqual(texts({ tokens: 5_000, seed: 1 }), TRAIN.slice(0, 10));
  assert.notDeepEqual(HELDOUT.slice(0, 10), TRAIN.slice(0, 10));
});

test("greaterThanPrompt ends with the century token (both templates); the war prompt is Goodfire's", () => {
  const ids = encode(greaterThanPrompt("siege", 17, 32));
  assert.equal(greaterThanPrompt("siege", 17, 32), "The siege lasted from the year 1732 to the year 17");
  assert.equal(decodeToken(ids.at(-1) as number), " 17");
  assert.equal(decodeToken(ids.at(-5) as number), "32");
  assert.equal(greaterThanPrompt("siege", 17, 32, "goodfire"), "The siege lasted from the year 1732 to 17");
  assert.equal(WAR_PROMPT, "The war lasted from the year 1711 to 17");
  assert.equal(greaterThanPrompt("war", 17, 11, "goodfire"), WAR_PROMPT);
  assert.deepEqual(encode(WAR_PROMPT).map(decodeToken), [
    "The",
    " war",
    " lasted",
    " from",
    " the",
    " year",
    " 17",
    "11",
    " to",
    " 17",
  ]);
});

test("writeDemoCorpus writes readable JSONL atomically; the CLI does the same", async () => {
  const stats = writeDemoCorpus(tmp, { tokens: 10_000, seed: 3 });
  assert.equal(stats.path, join(tmp, "train.jsonl"));
  assert.ok(stats.tokens >= 10_000 && stats.tokens < 10_200);
  const docs: string[] = [];
  for await (const d of (await openCorpus(stats.path)).documents()) docs.push(d.text);
  assert.deepEqual(docs, texts({ tokens: 10_000, seed: 3 }));
  assert.equal(stats.documents, docs.length);
  assert.ok(!readdirSync(tmp).some((f) => f.endsWith(".tmp")));
  assert.throws(() => writeDemoCorpus(tmp, { tokens: 0 }), /--tokens must be a positive integer/);

  const cli = join(import.meta.dirname, "..", "bin", "atlas.mjs");
  const out = join(tmp, "cli");
  const r = spawnSync(
    process.execPath,
    [cli, "corpus", "demo", "--out", out, "--tokens", "3000", "--seed", "3", "--split", "heldout"],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), join(out, "heldout.jsonl"));
  assert.match(r.stderr, /heldout: \d+ documents, \d+ tokens/);
  const lines = readFileSync(join(out, "heldout.jsonl"), "utf8").trim().split("\n");
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).text),
    texts({ tokens: 3000, seed: 3, split: "heldout" }),
  );
  const bad = spawnSync(process.execPath, [cli, "corpus", "demo", "--out", out, "--split", "test"], {
    encoding: "utf8",
  });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^atlas: error: corpus demo: .*split/);
});
