// `atlas logits` through the real CLI (a spawned process) against the float64 reference.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { BOS_ID, encode, UNK_ID } from "../src/tokenizer/index.ts";
import { makeConfig, maxRelErr, referenceForward, writeRandomGpt2 } from "./helpers/random-gpt2.ts";

const pipelineDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const root = mkdtempSync(join(tmpdir(), "atlas-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));

function atlas(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(pipelineDir, "bin", "atlas.mjs"), ...args], {
    cwd: pipelineDir,
    encoding: "utf8",
    maxBuffer: 1 << 28,
    env: { ...process.env, ATLAS_BACKEND: "" },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function flat(rows: ArrayLike<number>[]): Float64Array {
  return Float64Array.from(rows.flatMap((r) => Array.from(r)));
}

describe("atlas logits", () => {
  const sizes = [
    { label: "2 layers d=16 4 heads", config: makeConfig({ nLayers: 2, dModel: 16, nHeads: 4, vocabSize: 50 }) },
    { label: "3 layers d=32 2 heads", config: makeConfig({ nLayers: 3, dModel: 32, nHeads: 2, vocabSize: 40 }) },
  ];
  for (const s of sizes) {
    test(`--ids --json matches the reference: ${s.label}`, () => {
      const ck = writeRandomGpt2(s.config, { seed: 2, dir: join(root, s.label.replace(/\W+/g, "_")) });
      const ids = [3, 17, 0, 29, 8, 8, 1];
      const r = atlas(["logits", "--model", ck.dir, "--ids", ids.join(","), "--json"]);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { logits: number[][] };
      assert.deepEqual(Object.keys(out), ["logits"]);
      assert.equal(out.logits.length, ids.length);
      assert.equal(out.logits[0]!.length, s.config.vocabSize);
      const want = flat(referenceForward(s.config, ck.weights, [ids]).logits[0]!);
      assert.ok(maxRelErr(flat(out.logits), want) <= 1e-4);
    });
  }

  test("compact vocabulary: GPT-2 ids are mapped, JSON carries the vocab; unknown ids are an error", () => {
    const config = makeConfig({ nLayers: 2, dModel: 16, nHeads: 2, vocabSize: 6 });
    const vocab = [50256, 464, 3290, 13, 11, 262];
    const ck = writeRandomGpt2(config, { seed: 5, vocab, dir: join(root, "compact") });
    const r = atlas(["logits", "--model", ck.dir, "--ids", "50256,464,3290,262", "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { logits: number[][]; vocab: number[] };
    assert.deepEqual(Object.keys(out), ["logits", "vocab"]);
    assert.deepEqual(out.vocab, vocab);
    const want = flat(referenceForward(config, ck.weights, [[0, 1, 2, 5]]).logits[0]!);
    assert.ok(maxRelErr(flat(out.logits), want) <= 1e-4);
    const bad = atlas(["logits", "--model", ck.dir, "--ids", "50256,465", "--json"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /atlas: error: GPT-2 token id 465 is not in the model's compact vocabulary/);
    assert.equal(bad.stdout, "");
  });

  test("compact vocabulary with <unk>: unknown words map to the <unk> row, shown in the table and the JSON vocab", () => {
    const config = makeConfig({ nLayers: 1, dModel: 16, nHeads: 2, vocabSize: 5 });
    const vocab = [464, 3290, 13, 50256, UNK_ID];
    const ck = writeRandomGpt2(config, { seed: 6, vocab, dir: join(root, "compact-unk") });
    const prompt = "The pandemic."; // "The", " pand", "emic", "."
    const r = atlas(["logits", "--model", ck.dir, "--prompt", prompt, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { logits: number[][]; vocab: number[] };
    assert.deepEqual(out.vocab, vocab);
    const want = flat(referenceForward(config, ck.weights, [[3, 0, 4, 4, 2]]).logits[0]!);
    assert.ok(maxRelErr(flat(out.logits), want) <= 1e-4);
    const table = atlas(["logits", "--model", ck.dir, "--prompt", prompt, "--top", "5"]);
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trim().split("\n");
    assert.match(lines[2]!, /^ {2}1 {2}"The" /);
    assert.match(lines[3]!, /^ {2}2 {2}" pand"→<unk>/);
    assert.match(lines[4]!, /^ {2}3 {2}"emic"→<unk>/);
    assert.match(lines[1]!, /"<unk>" -?\d+\.\d\d/); // <unk> is a row like any other among the next tokens
  });

  test("--prompt prepends <|endoftext|> (or not, with --no-bos); table output without --json", () => {
    const config = makeConfig({ nLayers: 1, dModel: 8, nHeads: 2, vocabSize: 50257, nCtx: 16 });
    const ck = writeRandomGpt2(config, { seed: 7, dir: join(root, "full") });
    const prompt = "The war lasted from 1732 to 17";
    const ids = [BOS_ID, ...encode(prompt)];
    const r = atlas(["logits", "--model", ck.dir, "--prompt", prompt, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { logits: number[][] };
    assert.equal(out.logits.length, ids.length);
    const want = flat(referenceForward(config, ck.weights, [ids]).logits[0]!);
    assert.ok(maxRelErr(flat(out.logits), want) <= 1e-4);
    const noBos = JSON.parse(atlas(["logits", "--model", ck.dir, "--prompt", prompt, "--no-bos", "--json"]).stdout) as {
      logits: number[][];
    };
    assert.equal(noBos.logits.length, ids.length - 1);
    const table = atlas(["logits", "--model", ck.dir, "--prompt", "Hello world", "--top", "3"]);
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trim().split("\n");
    assert.match(lines[0]!, /top 3 next tokens/);
    assert.equal(lines.length, 1 + 3); // header + BOS, "Hello", " world"
    assert.match(lines[2]!, /"Hello"/);
  });

  test("bad arguments are one clear error", () => {
    const both = atlas(["logits", "--model", root, "--ids", "1", "--prompt", "x"]);
    assert.equal(both.status, 1);
    assert.match(both.stderr, /atlas: error: logits: .*exactly one of --ids or --prompt/);
    const missing = atlas(["logits", "--model", join(root, "nope"), "--ids", "1,2"]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /atlas: error: cannot read .*nope\/config\.json/);
  });
});
