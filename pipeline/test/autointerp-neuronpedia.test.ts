// Labels → Neuronpedia explanation JSONL → labels; a bad import file adds nothing.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { exportNeuronpedia, importNeuronpedia, labelFeatures } from "../src/autointerp/index.ts";
import { currentLabels, type LabelRecord, NeuronpediaExplanationSchema, readLabels } from "../src/features/formats.ts";
import { syntheticFeatureRun } from "./helpers/feature-stats.ts";

async function all(dir: string): Promise<LabelRecord[]> {
  const out: LabelRecord[] = [];
  for await (const r of readLabels(dir)) out.push(r);
  return out;
}

test("neuronpedia: export the current labels, import them into another run", async () => {
  const a = syntheticFeatureRun(3);
  const s = await labelFeatures({ runDir: a, mode: "heuristic", quiet: true });
  assert.equal(s.labeled, 3);
  const out = join(a, "np.jsonl");
  assert.equal(await exportNeuronpedia(a, out, { modelId: "demo-model" }), 3);
  const rows = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map((l) => NeuronpediaExplanationSchema.parse(JSON.parse(l)));
  const labels = await all(a);
  assert.deepEqual(
    rows.map((r) => [r.modelId, r.layer, r.index, r.explanationModelName]),
    [0, 1, 2].map((i) => ["demo-model", "0-synthetic", String(i), "heuristic"]),
  );
  assert.equal(rows[0]!.notes, labels[0]!.label);
  assert.equal(rows[0]!.scores[0]!.explanationScoreTypeName, "atlas_detection");
  assert.deepEqual(JSON.parse(rows[0]!.scores[0]!.jsonDetails).ci95, labels[0]!.scores[0]!.ci95);

  const b = syntheticFeatureRun(3);
  assert.equal(await importNeuronpedia(b, out), 3);
  const imported = await all(b);
  assert.ok(imported.every((r) => r.source === "imported" && r.transcoder === "synthetic"));
  assert.deepEqual(
    imported.map((r) => [r.featureId, r.label, r.description]),
    labels.map((r) => [r.featureId, r.label, r.description]),
  );
  // an imported label is current until a better source exists; heuristic labels never replace it
  await labelFeatures({ runDir: b, mode: "heuristic", quiet: true });
  assert.ok([...currentLabels(await all(b)).values()].every((r) => r.source === "imported"));
});

test("neuronpedia: a bad row names the file and line, and nothing is imported", async () => {
  const b = syntheticFeatureRun(2);
  const bad = join(b, "bad.jsonl");
  writeFileSync(
    bad,
    `${JSON.stringify({ layer: "0-x", index: "1", description: "ok" })}\n{"layer": "zero", "index": "1", "description": "x"}\n`,
  );
  await assert.rejects(importNeuronpedia(b, bad), /bad\.jsonl line 2: .*layer/);
  writeFileSync(bad, `${JSON.stringify({ layer: "5-x", index: "1", description: "ok" })}\n`);
  await assert.rejects(importNeuronpedia(b, bad), /outside this transcoder/);
  assert.equal((await all(b)).length, 0);
});
