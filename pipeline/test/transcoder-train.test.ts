// CLT training loop on a synthetic activation source: exact resume after an interruption, files
// (native + circuit-tracer round trip), and bad-input errors.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { readSafetensors } from "../src/safetensors/index.ts";
import type { ActivationSource } from "../src/transcoder/buffer.ts";
import { ActivationBuffer } from "../src/transcoder/buffer.ts";
import { CLT } from "../src/transcoder/clt.ts";
import { parseTrainConfig } from "../src/transcoder/config.ts";
import { exportCircuitTracer, importCircuitTracer, loadWeights, writeRunDir } from "../src/transcoder/io.ts";
import { SyntheticSource } from "../src/transcoder/synthetic.ts";
import { type MetricsLine, trainClt } from "../src/transcoder/train.ts";

const root = mkdtempSync(join(tmpdir(), "clt-train-"));
after(() => rmSync(root, { recursive: true, force: true }));

const L = 3;
const d = 16;
const src = (extra: object = {}) =>
  new SyntheticSource({ nLayers: L, dModel: d, nTrue: 48, p: 0.05, seed: 7, xScale: 20, yScale: 0.5, ...extra });
const cfg = (over: object = {}) =>
  parseTrainConfig({
    model: "synthetic",
    corpus: "synthetic",
    featuresPerLayer: 64,
    tokens: 64 * 24,
    batchTokens: 64,
    bufferTokens: 200, // several generations, batches straddling them
    initTokens: 200,
    checkpointEvery: 5,
    logEvery: 3,
    lr: 1e-2,
    lrWarmupSteps: 3,
    lambda: 0.05,
    lambdaPre: 1e-3,
    seed: 3,
    ...over,
  });
const readMetrics = (dir: string): MetricsLine[] =>
  readFileSync(join(dir, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as MetricsLine);
const strip = (m: MetricsLine) => ({ ...m, elapsed_s: 0, tokens_per_s: 0 });

test("activation buffer: bounded, every token served once per generation, restorable mid-generation", async () => {
  const s = new SyntheticSource({ nLayers: 1, dModel: 2, seed: 1, tokens: 50 });
  const b = new ActivationBuffer(s, 16, 9);
  const x = new Float32Array(7 * 2);
  const y = new Float32Array(7 * 2);
  await b.next(7, x, y);
  const st = b.state();
  const rest1: number[] = [];
  for (let i = 0; i < 4; i++) {
    const n = await b.next(7, x, y);
    rest1.push(...x.slice(0, n * 2));
  }
  const s2 = new SyntheticSource({ nLayers: 1, dModel: 2, seed: 1, tokens: 50 });
  const b2 = new ActivationBuffer(s2, 16, 9);
  await b2.restore(st);
  const rest2: number[] = [];
  for (let i = 0; i < 4; i++) {
    const n = await b2.next(7, x, y);
    rest2.push(...x.slice(0, n * 2));
  }
  assert.deepEqual(rest2, rest1);
  // all 50 tokens, each exactly once (source rows are distinct)
  const all = new SyntheticSource({ nLayers: 1, dModel: 2, seed: 1, tokens: 50 });
  const ax = new Float32Array(100);
  await all.read(50, ax, new Float32Array(100));
  const b3 = new ActivationBuffer(new SyntheticSource({ nLayers: 1, dModel: 2, seed: 1, tokens: 50 }), 16, 9);
  const got = new Float32Array(100);
  assert.equal(await b3.next(50, got, new Float32Array(100)), 50);
  const key = (a: Float32Array) =>
    Array.from({ length: 50 }, (_, i) => `${a[2 * i]},${a[2 * i + 1]}`)
      .sort()
      .join("|");
  assert.equal(key(got), key(ax));
  assert.notDeepEqual(Array.from(got), Array.from(ax)); // shuffled
});

test("resume after an interruption continues exactly: identical subsequent losses and weights", async () => {
  const full = join(root, "full");
  const r = await trainClt({ config: cfg(), outDir: full, source: src() });
  assert.equal(r.steps, 24);
  const m = readMetrics(full);
  assert.equal(m.length, 8);
  assert.ok(m.at(-1)!.mse < m[0]!.mse * 0.8, `loss did not go down: ${m[0]!.mse} → ${m.at(-1)!.mse}`);

  // killed after step 13 (last checkpoint at step 10; lines up to step 12 were written)
  const cut = join(root, "cut");
  const r1 = await trainClt({
    config: cfg(),
    outDir: cut,
    source: src(),
    maxStepsThisRun: 13,
    checkpointOnExit: false,
  });
  assert.equal(r1.interrupted, true);
  assert.equal(readMetrics(cut).length, 4);
  assert.ok(!existsSync(join(cut, "clt.safetensors")));
  // graceful stop of the resumed run after 6 more steps (checkpoint at 16), then resume again
  const r2 = await trainClt({ config: cfg(), outDir: cut, source: src(), resume: true, maxStepsThisRun: 6 });
  assert.equal(r2.steps, 16);
  const r3 = await trainClt({
    config: cfg({ logEvery: 3, checkpointEvery: 7 }),
    outDir: cut,
    source: src(),
    resume: true,
  });
  assert.equal(r3.steps, 24);
  assert.deepEqual(readMetrics(cut).map(strip), m.map(strip));
  const a = readSafetensors(join(full, "clt.safetensors"));
  const b = readSafetensors(join(cut, "clt.safetensors"));
  for (const [name, t] of a.tensors) assert.deepEqual(b.tensors.get(name)!.data, t.data, name);
});

test("run dir: effective config, metrics fields; circuit-tracer export → import round trip is identical", async () => {
  const run = join(root, "full");
  const rc = JSON.parse(readFileSync(join(run, "config.json"), "utf8"));
  assert.equal(rc.kind, "clt");
  assert.equal(rc.train.featuresPerLayer, 64);
  assert.equal(rc.train.lambda, 0.05);
  assert.deepEqual(rc.shape, { nLayers: L, dModel: d, nFeatures: 64 });
  const line = readMetrics(run)[0]!;
  for (const k of ["loss", "mse", "sparsity", "pre_act", "fvu", "l0", "dead_fraction", "lambda", "lr"])
    assert.ok(k in line, k);
  assert.equal(line.l0.per_layer.length, L);
  // no normalization fields in the weights: the file is exactly the circuit-tracer tensor set
  const names = [...readSafetensors(join(run, "clt.safetensors")).tensors.keys()].sort();
  const want = Array.from({ length: L }, (_, l) => [
    `W_enc_${l}`,
    `b_enc_${l}`,
    `threshold_${l}`,
    `b_dec_${l}`,
    `W_dec_${l}`,
  ])
    .flat()
    .sort();
  assert.deepEqual(names, want);

  const w = loadWeights(join(run, "clt.safetensors"));
  const ct = join(root, "ct");
  exportCircuitTracer(w, ct, "synthetic-model");
  const files = readdirSync(ct).sort();
  assert.deepEqual(
    files,
    [
      "config.yaml",
      ...Array.from({ length: L }, (_, l) => [`W_dec_${l}.safetensors`, `W_enc_${l}.safetensors`]).flat(),
    ].sort(),
  );
  const yml = parseYaml(readFileSync(join(ct, "config.yaml"), "utf8"));
  assert.deepEqual(yml, {
    model_name: "synthetic-model",
    model_kind: "cross_layer_transcoder",
    feature_input_hook: "hook_resid_mid",
    feature_output_hook: "hook_mlp_out",
  });
  const enc1 = readSafetensors(join(ct, "W_enc_1.safetensors")).tensors;
  assert.deepEqual([...enc1.keys()].sort(), ["W_enc_1", "b_dec_1", "b_enc_1", "threshold_1"]);
  assert.deepEqual(enc1.get("W_enc_1")!.shape, [64, d]);
  assert.deepEqual(readSafetensors(join(ct, "W_dec_1.safetensors")).tensors.get("W_dec_1")!.shape, [64, L - 1, d]);

  const back = importCircuitTracer(ct);
  assert.equal(back.modelName, "synthetic-model");
  const run2 = join(root, "imported");
  await writeRunDir(run2, back.weights, { model: null, modelName: back.modelName });
  const w2 = CLT.load(run2).weights;
  for (const k of ["wEnc", "bEnc", "threshold", "wDec", "bDec"] as const) {
    for (let l = 0; l < L; l++) assert.deepEqual(w2[k][l], w[k][l], `${k}[${l}]`);
  }
  // and a second export of the import is byte-identical
  const ct2 = join(root, "ct2");
  exportCircuitTracer(w2, ct2, "synthetic-model");
  for (const f of files) assert.deepEqual(readFileSync(join(ct2, f)), readFileSync(join(ct, f)), f);
});

class NanAfter implements ActivationSource {
  readonly nLayers = L;
  readonly dModel = d;
  constructor(
    private inner: SyntheticSource,
    private at: number,
    private pos = 0,
  ) {}
  async read(n: number, x: Float32Array, y: Float32Array): Promise<number> {
    const m = await this.inner.read(n, x, y);
    for (let t = 0; t < m; t++) if (this.pos + t >= this.at) y[t * L * d] = Number.NaN;
    this.pos += m;
    return m;
  }
  state(): unknown {
    return { inner: this.inner.state(), pos: this.pos };
  }
  async restore(s: unknown): Promise<void> {
    const v = s as { inner: unknown; pos: number };
    await this.inner.restore(v.inner);
    this.pos = v.pos;
  }
}

test("bad input: NaN loss keeps the last good checkpoint; too few tokens; bad config; resume mismatches", async () => {
  const dir = join(root, "nan");
  await assert.rejects(
    trainClt({ config: cfg({ bufferTokens: 64 * 4 }), outDir: dir, source: new NanAfter(src(), 64 * 12) }),
    /diverged at step 12: loss NaN.*last good checkpoint/,
  );
  const st = JSON.parse(readFileSync(join(dir, "checkpoint", "state.json"), "utf8"));
  assert.equal(st.step, 10);
  const p = readSafetensors(join(dir, "checkpoint", "params.safetensors"));
  for (const [name, t] of p.tensors) assert.ok((t.data as Float32Array).every(Number.isFinite), name);

  await assert.rejects(
    trainClt({ config: cfg(), outDir: join(root, "short"), source: src({ tokens: 64 * 10 }) }),
    /ran out after 640 tokens, fewer than the requested 1536/,
  );
  assert.throws(
    () => parseTrainConfig({ model: "m", corpus: "c", featuresPerLayer: -4, tokens: 10 }),
    /featuresPerLayer/,
  );
  assert.throws(
    () => parseTrainConfig({ model: "m", corpus: "c", featuresPerLayer: 4, tokens: 10, bogus: 1 }),
    /bogus/,
  );
  await assert.rejects(
    trainClt({ config: cfg(), outDir: join(root, "none"), source: src(), resume: true }),
    /no checkpoint/,
  );
  await assert.rejects(
    trainClt({ config: cfg(), outDir: join(root, "full"), source: src() }),
    /already holds a checkpoint/,
  );
  await assert.rejects(
    trainClt({ config: cfg({ lr: 3e-2 }), outDir: join(root, "full"), source: src(), resume: true }),
    /option lr is 0.03 but the run was started with 0.01/,
  );
});

test("the tfjs reference engine follows the fused engine's trajectory", async () => {
  const a = join(root, "eng-fused");
  const b = join(root, "eng-tfjs");
  const over = { tokens: 64 * 6, logEvery: 1, checkpointEvery: 0 };
  await trainClt({ config: cfg(over), outDir: a, source: src() });
  await trainClt({ config: cfg({ ...over, engine: "tfjs" }), outDir: b, source: src() });
  const ma = readMetrics(a);
  const mb = readMetrics(b);
  assert.equal(mb.length, 6);
  ma.forEach((m, i) => {
    const r = mb[i]!;
    assert.ok(Math.abs(m.loss - r.loss) <= 1e-3 * m.loss, `step ${i + 1}: loss ${m.loss} vs ${r.loss}`);
    assert.deepEqual(r.l0.per_layer.length, m.l0.per_layer.length);
  });
});
