// `atlas clt …` end to end on a tiny random GPT-2: config file + flag overrides, eval --json
// contract, export/import, one-line errors.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { saveModel } from "../src/model/index.ts";
import { readSafetensors } from "../src/safetensors/index.ts";
import { readRunConfig } from "../src/transcoder/io.ts";
import { Rng } from "../src/transcoder/rng.ts";
import { corpusModelWeights } from "./helpers/random-gpt2.ts";

const root = mkdtempSync(join(tmpdir(), "clt-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));
const bin = join(import.meta.dirname, "..", "bin", "atlas.mjs");

function atlas(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const text = Array.from(
  { length: 60 },
  (_, i) => `The war lasted from the year ${1700 + i} to the year ${1760 + i}.`,
).join("\n\n");
const corpus = join(root, "c.txt");
writeFileSync(corpus, text);
const rng = new Rng(5);
const { config, weights, vocab } = corpusModelWeights(text, { nLayers: 2, dModel: 16, nCtx: 16 }, () => rng.normal(), {
  scale: 0.2,
  gainNoise: 0,
});
const modelDir = join(root, "model");
saveModel(modelDir, config, weights, vocab);

test("atlas clt train (YAML config + flag override) → eval --json → export → import", () => {
  const cfg = join(root, "clt.yaml");
  writeFileSync(
    cfg,
    "featuresPerLayer: 24\ntokens: 240\nbatchTokens: 24\nbufferTokens: 100\ninitTokens: 100\nlambda: 0.2\nlogEvery: 2\ncheckpointEvery: 4\n",
  );
  const run = join(root, "run");
  const t = atlas(
    "clt",
    "train",
    "--model",
    modelDir,
    "--corpus",
    corpus,
    "--out",
    run,
    "--config",
    cfg,
    "--lambda",
    "0.1",
    "--quiet",
  );
  assert.equal(t.code, 0, t.stderr);
  const rc = JSON.parse(readFileSync(join(run, "config.json"), "utf8"));
  assert.equal(rc.train.lambda, 0.1); // flag beats file
  assert.equal(rc.train.featuresPerLayer, 24); // from the file
  assert.equal(rc.train.lr, 1e-3); // default
  assert.equal(rc.model, "../model"); // relative to the run dir, so shipped run dirs work in any clone
  // No local paths in the run config: model and corpus are named by id + content sha256.
  const strings = JSON.stringify(rc).match(/"(?:[^"\\]|\\.)*"/g) ?? [];
  assert.deepEqual(
    strings.filter((q) => JSON.parse(q).startsWith("/") || JSON.parse(q).includes(root)),
    [],
  );
  assert.equal(rc.modelAbsolute, undefined);
  const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
  const mId = { name: "model", sha256: sha(join(modelDir, "model.safetensors")) };
  assert.deepEqual(rc.modelId, mId);
  assert.deepEqual(rc.train.model, mId);
  assert.deepEqual(rc.train.corpus, { name: "c.txt", files: 1, sha256: sha(corpus) });
  assert.equal(readRunConfig(run).model, modelDir);
  // --resume takes the paths from the checkpoint (config.json has only ids): the finished run resumes to its end.
  const again = atlas("clt", "train", "--out", run, "--resume", "--quiet");
  assert.equal(again.code, 0, again.stderr);
  assert.ok(existsSync(join(run, "checkpoint", "state.json")), "checkpoint written");
  assert.equal(readFileSync(join(run, "metrics.jsonl"), "utf8").trim().split("\n").length, 5);

  const e = atlas("clt", "eval", run, "--corpus", corpus, "--tokens", "60", "--json");
  assert.equal(e.code, 0, e.stderr);
  const m = JSON.parse(e.stdout);
  assert.deepEqual(Object.keys(m), ["fvu", "l0", "dead_fraction", "replacement"]);
  assert.deepEqual(Object.keys(m.fvu), ["per_layer", "mean"]);
  assert.deepEqual(Object.keys(m.l0), ["per_layer", "total"]);
  assert.deepEqual(Object.keys(m.dead_fraction), ["per_layer", "mean"]);
  assert.deepEqual(Object.keys(m.replacement), ["top1_agreement", "kl", "ce_recovered"]);
  assert.equal(m.fvu.per_layer.length, 2);
  const saved = JSON.parse(readFileSync(join(run, "eval.json"), "utf8"));
  assert.deepEqual(saved.fvu, m.fvu);

  const ct = join(root, "ct");
  assert.equal(atlas("clt", "export", run, "--format", "circuit-tracer", "--out", ct).code, 0);
  assert.match(readFileSync(join(ct, "config.yaml"), "utf8"), /model_kind: cross_layer_transcoder/);
  const back = join(root, "back");
  assert.equal(atlas("clt", "import", ct, "--out", back, "--model", modelDir).code, 0);
  const a = readSafetensors(join(run, "clt.safetensors")).tensors;
  const b = readSafetensors(join(back, "clt.safetensors")).tensors;
  for (const [k, v] of a) assert.deepEqual(b.get(k)!.data, v.data, k);
});

test("atlas clt: bad input gives one clear error line and exit code 1", () => {
  const r = atlas(
    "clt",
    "train",
    "--model",
    join(root, "nope"),
    "--corpus",
    corpus,
    "--features-per-layer",
    "8",
    "--tokens",
    "100",
    "--out",
    join(root, "x"),
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^atlas: error: model dir not found or not a model: .*nope\n$/m);
  const r2 = atlas(
    "clt",
    "train",
    "--model",
    modelDir,
    "--corpus",
    corpus,
    "--features-per-layer",
    "8",
    "--tokens",
    "100000",
    "--out",
    join(root, "y"),
  );
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /atlas: error: corpus .* has only \d+ training tokens .* fewer than the requested 100000/);
  const r3 = atlas("clt", "eval", join(root, "nothing"), "--corpus", corpus);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /atlas: error: not a CLT run dir/);
});
