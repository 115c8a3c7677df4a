import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gzipSync } from "node:zlib";
import { Rng } from "@circuit-atlas/util";
import { parquetMetadata } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { type Corpus, contexts, openCorpus, ShuffleBuffer } from "../src/data/index.ts";
import { BOS_ID, encode } from "../src/tokenizer/index.ts";

const FIX = join(import.meta.dirname, "fixtures", "corpus");
const tmp = mkdtempSync(join(tmpdir(), "atlas-data-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function texts(corpus: Corpus, from?: { fileIndex: number; docIndex: number }): Promise<string[]> {
  const out: string[] = [];
  for await (const d of corpus.documents(from)) out.push(d.text);
  return out;
}

function writeParquet(path: string, column: string, values: (string | null)[], rowGroupSize: number): void {
  const buf = parquetWriteBuffer({
    columnData: [
      { name: "id", data: values.map((_, i) => i), type: "INT32" },
      { name: column, data: values, type: "STRING" },
    ],
    rowGroupSize,
  });
  writeFileSync(path, new Uint8Array(buf));
}

// ---------------------------------------------------------------------------------------------
// Readers

test("text: paragraphs split on blank lines (CRLF and whitespace-only lines count as blank)", async () => {
  const c = await openCorpus(join(FIX, "paragraphs.txt"));
  assert.equal(c.files[0]?.format, "text");
  assert.deepEqual(await texts(c), [
    "First paragraph, line one.\nFirst paragraph, line two.",
    "Second paragraph.",
    "Third paragraph: the war lasted from 1732 to 1745.",
  ]);
  const whole = await openCorpus(join(FIX, "paragraphs.txt"), { textSplit: "file" });
  assert.deepEqual(await texts(whole), [readFileSync(join(FIX, "paragraphs.txt"), "utf8")]);
});

test("text and JSONL: .gz files are read through gunzip", async () => {
  const p = join(tmp, "g.jsonl.gz");
  writeFileSync(p, gzipSync('{"text":"zipped one"}\n{"text":"zipped two"}\n'));
  assert.deepEqual(await texts(await openCorpus(p)), ["zipped one", "zipped two"]);
});

test("JSONL: text field, null / blank values skipped, positions are 0-based lines", async () => {
  const c = await openCorpus(join(FIX, "docs.jsonl"));
  const docs = [];
  for await (const d of c.documents()) docs.push(d);
  assert.deepEqual(
    docs.map((d) => [d.docIndex, d.text]),
    [
      [0, "The siege lasted from the year 1732 to the year 1745."],
      [1, "Apples cost 3 dollars."],
      [5, "<|endoftext|> is a special token."],
    ],
  );
  assert.deepEqual(await texts(c, { fileIndex: 0, docIndex: 1 }), [
    "Apples cost 3 dollars.",
    "<|endoftext|> is a special token.",
  ]);
  const p = join(tmp, "content.jsonl");
  writeFileSync(p, '{"content":"a"}\n{"content":"b"}\n');
  assert.deepEqual(await texts(await openCorpus(p, { textField: "content" })), ["a", "b"]);
  await assert.rejects(texts(await openCorpus(p)), /content\.jsonl:1: line has no field "text"/);
});

test("JSONL: a bad line is an error naming the file and line", async () => {
  const c = await openCorpus(join(FIX, "bad.jsonl"));
  const seen: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const d of c.documents()) seen.push(d.text);
    })(),
    /bad\.jsonl:3: invalid JSON/,
  );
  assert.deepEqual(seen, ["fine", "also fine"]);
  const p = join(tmp, "num.jsonl");
  writeFileSync(p, '{"text": 5}\n');
  await assert.rejects(texts(await openCorpus(p)), /num\.jsonl:1: line has a non-string field "text"/);
  writeFileSync(p, "[1,2]\n");
  await assert.rejects(texts(await openCorpus(p)), /num\.jsonl:1: expected a JSON object/);
});

test("Parquet (pyarrow-written snappy / zstd / gzip fixtures): text column, nulls and blanks skipped", async () => {
  const expected = [
    "The siege lasted from the year 1732 to the year 1745.",
    "Prices rose from 12 dollars to 15 dollars.\nThen they fell.",
    "Naïve café owners in Zürich counted 1, 2, 3.",
    "The treaty was signed in 1648 and ended the war.",
    "Last row of the fixture.",
  ];
  for (const codec of ["snappy", "zstd", "gzip"]) {
    const c = await openCorpus(join(FIX, `fineweb-tiny.${codec}.parquet`));
    assert.equal(c.files[0]?.format, "parquet");
    assert.deepEqual(await texts(c), expected, codec);
    const ids = await texts(await openCorpus(join(FIX, `fineweb-tiny.${codec}.parquet`), { textField: "id" }));
    assert.equal(ids.length, 7);
  }
  // Row 5 is in the second of three row groups (row_group_size 3).
  const c = await openCorpus(join(FIX, "fineweb-tiny.snappy.parquet"));
  const from5 = [];
  for await (const d of c.documents({ fileIndex: 0, docIndex: 5 })) from5.push([d.docIndex, d.text]);
  assert.deepEqual(from5, [
    [5, "The treaty was signed in 1648 and ended the war."],
    [6, "Last row of the fixture."],
  ]);
});

test("Parquet: missing column / non-string column / not a Parquet file → one clear error", async () => {
  await assert.rejects(
    texts(await openCorpus(join(FIX, "fineweb-tiny.snappy.parquet"), { textField: "content" })),
    /no column "content" \(columns: text, id, token_count\)/,
  );
  await assert.rejects(
    texts(await openCorpus(join(FIX, "fineweb-tiny.snappy.parquet"), { textField: "token_count" })),
    /column "token_count" is not a string column/,
  );
  const p = join(tmp, "fake.parquet");
  writeFileSync(p, "this is not parquet at all, not even close");
  await assert.rejects(texts(await openCorpus(p)), /fake\.parquet: not a valid Parquet file/);
});

test("Parquet: row groups are read lazily (a corrupt later row group fails only when reached)", async () => {
  const p = join(tmp, "lazy.parquet");
  const values = Array.from({ length: 40 }, (_, i) => `document number ${i} ${"x".repeat(i % 7)}`);
  writeParquet(p, "body", values, 10);
  const bytes = new Uint8Array(readFileSync(p));
  const meta = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  assert.equal(meta.row_groups.length, 4);
  // Overwrite the text column chunk of the last row group with garbage.
  const chunk = meta.row_groups[3]?.columns[1]?.meta_data;
  assert.ok(chunk);
  const start = Number(chunk.dictionary_page_offset ?? chunk.data_page_offset);
  bytes.fill(0xff, start, start + Number(chunk.total_compressed_size));
  writeFileSync(p, bytes);
  const c = await openCorpus(p, { textField: "body" });
  const seen: string[] = [];
  for await (const d of c.documents()) {
    seen.push(d.text);
    if (seen.length === 30) break;
  }
  assert.deepEqual(seen, values.slice(0, 30));
  const more: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const d of c.documents({ fileIndex: 0, docIndex: 25 })) more.push(d.text);
    })(),
    /lazy\.parquet: cannot decode rows 30\.\.40/,
  );
  assert.deepEqual(more, values.slice(25, 30));
});

test("openCorpus: folders, globs, format detection and errors", async () => {
  const dir = join(tmp, "mixed");
  mkdirSync(join(dir, "sub"), { recursive: true });
  writeFileSync(join(dir, "a.txt"), "alpha\n\nbeta\n");
  writeFileSync(join(dir, "sub", "b.jsonl"), '{"text":"gamma"}\n');
  writeParquet(join(dir, "sub", "c.parquet"), "text", ["delta", null, "epsilon"], 2);
  writeFileSync(join(dir, "notes.csv"), "ignored,by,folder,scan\n");
  writeFileSync(join(dir, ".hidden.txt"), "a hidden file is no corpus file\n");
  const c = await openCorpus(dir);
  assert.deepEqual(
    c.files.map((f) => f.format),
    ["text", "jsonl", "parquet"],
  );
  assert.deepEqual(await texts(c), ["alpha", "beta", "gamma", "delta", "epsilon"]);
  const g = await openCorpus(join(dir, "**/*.{jsonl,parquet}"));
  assert.deepEqual(await texts(g), ["gamma", "delta", "epsilon"]);
  assert.deepEqual(await texts(await openCorpus(join(dir, "sub", "?.jsonl"))), ["gamma"]);
  const forced = await openCorpus(join(dir, "a.txt"), { format: "jsonl" });
  await assert.rejects(texts(forced), /a\.txt:1: invalid JSON/);

  await assert.rejects(openCorpus(join(tmp, "nope.jsonl")), /corpus not found: .*nope\.jsonl/);
  await assert.rejects(openCorpus(join(dir, "*.parquet")), /no files match/);
  await assert.rejects(openCorpus(join(dir, "notes.csv")), /cannot tell the format of .*notes\.csv/);
  mkdirSync(join(tmp, "empty-dir"));
  await assert.rejects(openCorpus(join(tmp, "empty-dir")), /no corpus files/);
  await assert.rejects(openCorpus(dir, { format: "csv" as never }), /unknown corpus format "csv"/);
});

// ---------------------------------------------------------------------------------------------
// Contexts

/** Independent packing: stream = docs each followed by 50256; context = [50256, next nCtx-1 tokens]. */
function referencePack(docs: string[], nCtx: number, epochs = 1): number[][] {
  const out: number[][] = [];
  let ctx = [BOS_ID];
  for (let e = 0; e < epochs; e++) {
    for (const d of docs) {
      for (const t of [...encode(d), BOS_ID]) {
        if (ctx.length === 1 && t === BOS_ID) continue;
        ctx.push(t);
        if (ctx.length === nCtx) {
          out.push(ctx);
          ctx = [BOS_ID];
        }
      }
    }
  }
  return out;
}

const DOCS = Array.from(
  { length: 60 },
  (_, i) =>
    `Document ${i}: the ${["siege", "treaty", "voyage", "reign"][i % 4]} lasted from ${1100 + i * 13} to ${1105 + i * 13}.` +
    " More words follow.".repeat(i % 5),
);

async function writeDocsCorpus(): Promise<Corpus> {
  const dir = join(tmp, "ctx");
  mkdirSync(dir, { recursive: true });
  // Split over three files of two formats so positions cross file boundaries.
  writeFileSync(
    join(dir, "0.jsonl"),
    `${DOCS.slice(0, 20)
      .map((t) => JSON.stringify({ text: t }))
      .join("\n")}\n`,
  );
  writeParquet(join(dir, "1.parquet"), "text", DOCS.slice(20, 45), 7);
  writeFileSync(join(dir, "2.txt"), DOCS.slice(45).join("\n\n"));
  return openCorpus(dir);
}

async function take(stream: ReturnType<typeof contexts>, n: number): Promise<number[][]> {
  return (await stream.nextBatch(n)).map((c) => Array.from(c));
}

test("contexts: packing equals an independent re-computation; partial tail dropped", async () => {
  const corpus = await writeDocsCorpus();
  for (const nCtx of [2, 7, 33]) {
    const expected = referencePack(DOCS, nCtx);
    const got: number[][] = [];
    for await (const c of contexts(corpus, { nCtx })) got.push(Array.from(c));
    assert.deepEqual(got, expected, `nCtx ${nCtx}`);
    for (const c of got) {
      assert.equal(c[0], BOS_ID);
      assert.notEqual(c[1], BOS_ID);
    }
  }
});

test("contexts: loop wraps around into further epochs", async () => {
  const corpus = await writeDocsCorpus();
  const nCtx = 31;
  const expected = referencePack(DOCS, nCtx, 3);
  const s = contexts(corpus, { nCtx, loop: true });
  const got = await take(s, expected.length);
  assert.deepEqual(got, expected);
  assert.equal(s.currentEpoch, 2);
});

test("contexts: shuffle buffer is a seeded permutation with bounded look-ahead", async () => {
  const corpus = await writeDocsCorpus();
  const nCtx = 9;
  const plain = referencePack(DOCS, nCtx);
  const a = await take(contexts(corpus, { nCtx, shuffleBuffer: 16, seed: 7 }), 10_000);
  const b = await take(contexts(corpus, { nCtx, shuffleBuffer: 16, seed: 7 }), 10_000);
  const c = await take(contexts(corpus, { nCtx, shuffleBuffer: 16, seed: 8 }), 10_000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.notDeepEqual(a, plain);
  const key = (x: number[]) => x.join(",");
  assert.deepEqual(a.map(key).sort(), plain.map(key).sort());
  // The k-th output can only come from the first k+16 packed contexts.
  // (Equal contexts can occur twice; the first occurrence is a lower bound of the true index.)
  const index = new Map<string, number>();
  plain.forEach((x, i) => {
    if (!index.has(key(x))) index.set(key(x), i);
  });
  a.forEach((x, k) => {
    assert.ok((index.get(key(x)) as number) < k + 16);
  });
});

test("contexts: resume from a JSON state gives exactly the uninterrupted sequence", async () => {
  const corpus = await writeDocsCorpus();
  for (const opts of [
    { nCtx: 13, shuffleBuffer: 0, seed: 0, loop: false },
    { nCtx: 13, shuffleBuffer: 10, seed: 3, loop: true },
    { nCtx: 64, shuffleBuffer: 4, seed: 5, loop: true },
  ]) {
    const full = await take(contexts(corpus, opts), 120);
    for (const cut of [0, 1, 17, 55, 100]) {
      const first = contexts(corpus, opts);
      const head = await take(first, cut);
      const saved = JSON.parse(JSON.stringify(first.state()));
      assert.ok(saved.buffer.length <= Math.max(1, opts.shuffleBuffer));
      const second = contexts(corpus, { ...opts, resume: saved });
      const tail = await take(second, full.length - cut);
      assert.deepEqual([...head, ...tail], full, `${JSON.stringify(opts)} cut ${cut}`);
      assert.equal(second.contextsEmitted, full.length);
    }
  }
});

test("contexts: empty / too-small corpora and mismatched resume state → clear errors", async () => {
  const empty = join(tmp, "empty.txt");
  writeFileSync(empty, "\n\n   \n");
  await assert.rejects(contexts(await openCorpus(empty), { nCtx: 8 }).next(), /has no documents/);
  await assert.rejects(contexts(await openCorpus(empty), { nCtx: 8, loop: true }).next(), /has no documents/);
  const small = join(tmp, "small.txt");
  writeFileSync(small, "two words\n");
  await assert.rejects(contexts(await openCorpus(small), { nCtx: 64 }).next(), /too small/);
  assert.equal((await contexts(await openCorpus(small), { nCtx: 64, loop: true }).next())?.length, 64);

  const corpus = await writeDocsCorpus();
  const s = contexts(corpus, { nCtx: 16, seed: 1 });
  await s.next();
  const state = s.state();
  assert.throws(() => contexts(corpus, { nCtx: 16, seed: 2, resume: state }), /seed or loop differ/);
  const smallCorpus = await openCorpus(small);
  assert.throws(() => contexts(smallCorpus, { nCtx: 16, seed: 1, resume: state }), /corpus files differ/);
  assert.throws(() => contexts(corpus, { nCtx: 1 }), /nCtx must be an integer ≥ 2/);
});

// ---------------------------------------------------------------------------------------------
// ShuffleBuffer (the Rng itself is tested in util/)

test("ShuffleBuffer: takes every pushed item exactly once", () => {
  const buf = new ShuffleBuffer<number>(5, new Rng(0));
  const out: number[] = [];
  for (let i = 0; i < 50; i++) {
    if (buf.full) out.push(buf.take() as number);
    buf.push(i);
  }
  while (buf.size) out.push(buf.take() as number);
  assert.deepEqual(
    [...out].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.notDeepEqual(
    out,
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.equal(buf.take(), undefined);
});
