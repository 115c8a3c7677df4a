// `atlas trace`, `atlas intervene` and `atlas study greater-than` end to end on the shipped demo
// model + demo CLT, with Goodfire's exact prompt: the public file contracts and their invariants.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { after, test } from "node:test";
import { readCircuitTracerJson, readGraphBinary } from "../src/graph/index.ts";
import { BOS_ID, decodeToken, encode } from "../src/tokenizer/index.ts";
import { circuitTracerViolations, jsonStrings, neuronpediaViolations } from "./graph-json-validators.ts";

const root = mkdtempSync(join(tmpdir(), "trace-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));
const bin = join(import.meta.dirname, "..", "bin", "atlas.mjs");
const clt = join(import.meta.dirname, "..", "assets", "demo-clt");
const model = join(import.meta.dirname, "..", "assets", "demo-model");
const PROMPT = "The war lasted from the year 1711 to 17";

function atlas(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 420_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("atlas trace: circuit-tracer JSON, full adjacency side file, validation in both settings", () => {
  const out = join(root, "war.json");
  const r = atlas("trace", "--clt", clt, "--prompt", PROMPT, "--out", out, "--validate", "8", "--quiet");
  assert.equal(r.code, 0, r.stderr);
  const g = readCircuitTracerJson(out); // zod-validated on read
  const tokens = [BOS_ID, ...encode(PROMPT)];
  const last = tokens.length - 1;
  assert.equal(g.metadata.prompt_tokens.length, tokens.length);

  const ids = new Set(g.nodes.map((n) => n.node_id));
  for (const l of g.links) assert.ok(ids.has(l.source) && ids.has(l.target), `dangling link ${l.source}→${l.target}`);
  // Node ids as circuit-tracer writes them; position 0 (BOS) never carries a feature or error node.
  for (const n of g.nodes) {
    if (n.feature_type === "embedding") assert.match(n.node_id, /^E_\d+_\d+$/);
    else if (n.feature_type === "logit") assert.match(n.node_id, new RegExp(`^5_\\d+_${last}$`));
    else if (n.feature_type === "mlp reconstruction error") assert.match(n.node_id, /^\d+_-1_\d+$/);
    else assert.match(n.node_id, /^\d+_\d+_\d+$/);
    if (n.feature_type !== "embedding" && n.feature_type !== "logit") assert.ok(n.ctx_idx > 0);
  }
  // Every embedding node names the real token at its position (GPT-2 ids, not compact-vocab ids).
  for (const n of g.nodes.filter((x) => x.feature_type === "embedding")) {
    const [, tok, pos] = n.node_id.split("_");
    assert.equal(Number(tok), tokens[Number(pos)]);
  }
  // The demo model answers with a two-digit year: the top logit node is one and is > 11.
  const top = g.nodes.find((n) => n.feature_type === "logit" && n.is_target_logit);
  assert.ok(top);
  const year = decodeToken(Number(top.node_id.split("_")[1]));
  assert.match(year, /^\d\d$/);
  assert.ok(Number(year) > 11, `top logit "${year}"`);

  // Published contracts (independent validators) and no local path anywhere: the model and the CLT
  // are named by folder name + sha256 of their weights, recomputed here.
  const raw = JSON.parse(readFileSync(out, "utf8"));
  assert.deepEqual(circuitTracerViolations(raw), []);
  assert.deepEqual(neuronpediaViolations(raw), []);
  for (const { path, value } of jsonStrings(raw)) {
    assert.ok(!isAbsolute(value) && !value.includes(root) && !value.includes(homedir()), `${path} is a path: ${value}`);
  }
  const sha = (...files: string[]) => {
    const h = createHash("sha256");
    for (const f of files) h.update(readFileSync(f));
    return h.digest("hex");
  };
  assert.deepEqual(
    [raw.metadata.atlas.model, raw.metadata.atlas.model_sha256, raw.metadata.atlas.clt, raw.metadata.atlas.clt_sha256],
    ["demo-model", sha(join(model, "model.safetensors")), "demo-clt", sha(join(clt, "clt.safetensors"))],
  );
  assert.equal(raw.metadata.scan, "demo-clt");
  assert.deepEqual(raw.metadata.pruning_settings, { node_threshold: 0.8, edge_threshold: 0.98 });
  assert.equal(raw.metadata.generation_settings.max_feature_nodes, 7500);

  const side = readGraphBinary(out.replace(/\.json$/, ".graph.safetensors"));
  assert.equal(side.metadata.model, "demo-model");
  assert.ok(side.graph.features.length >= g.nodes.filter((n) => n.feature_type === "cross layer transcoder").length);

  const v = JSON.parse(readFileSync(out.replace(/\.json$/, ".validation.json"), "utf8"));
  assert.equal(v.live.entries.length, 8);
  assert.equal(v.frozen.entries.length, 8);
  // In the frozen local replacement the graph's linear prediction of an ablation is (nearly) exact.
  assert.ok(v.frozen.spearman > 0.8, `frozen Spearman ${v.frozen.spearman}`);
});

test("atlas trace: a prompt with words outside the demo vocabulary traces through <unk>", () => {
  // " pand" and "emic" are not among the demo model's 1 146 rows: they map to the learned <unk> row.
  const prompt = "The pandemic lasted from the year 1711 to 17";
  const out = join(root, "pandemic.json");
  const r = atlas("trace", "--clt", clt, "--prompt", prompt, "--out", out, "--quiet");
  assert.equal(r.code, 0, r.stderr);
  const g = readCircuitTracerJson(out);
  assert.deepEqual(g.metadata.prompt_tokens.slice(0, 5), ["<|endoftext|>", "The", "<unk>", "<unk>", " lasted"]);
  // Embedding nodes carry the reserved id 50257 at <unk> positions, the real GPT-2 id elsewhere.
  const gpt2 = [BOS_ID, ...encode(prompt)];
  for (const n of g.nodes.filter((x) => x.feature_type === "embedding")) {
    const [, tok, pos] = n.node_id.split("_").map(Number) as [number, number, number];
    assert.equal(tok, pos === 2 || pos === 3 ? 50257 : gpt2[pos]);
  }
  const top = g.nodes.find((n) => n.feature_type === "logit" && n.is_target_logit);
  assert.ok(top && Number(decodeToken(Number(top.node_id.split("_")[1]))) > 11);
});

test("atlas intervene: ×1 reproduces the clean logits; ×0 on a feature changes them", () => {
  const base = atlas("intervene", "--clt", clt, "--prompt", PROMPT, "--feature", "0:10*1", "--json");
  assert.equal(base.code, 0, base.stderr);
  const b = JSON.parse(base.stdout);
  const ablate = atlas("intervene", "--clt", clt, "--prompt", PROMPT, "--feature", "0:10*0", "--json");
  assert.equal(ablate.code, 0, ablate.stderr);
  const a = JSON.parse(ablate.stdout);
  type Row = { tokenId: number; before: number; after: number };
  assert.ok(b.top.length > 0);
  for (const t of b.top as Row[]) assert.equal(t.after, t.before, `token ${t.tokenId} moved under ×1`);
  assert.ok(a.changes.length > 0, "0_10 is active on this prompt");
  const moved = (a.top as Row[]).reduce((m, t) => Math.max(m, Math.abs(t.after - t.before)), 0);
  assert.ok(moved > 1e-4, `ablating 0_10 moved no top token (max |Δp| ${moved})`);
  const bad = atlas("intervene", "--clt", clt, "--prompt", PROMPT, "--feature", "9:10*0");
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /^atlas: error: .*layer/m);
});

test("atlas study greater-than: report, JSON and images on a small run", () => {
  const out = join(root, "study");
  const r = atlas(
    "study",
    "greater-than",
    "--clt",
    clt,
    "--out",
    out,
    "--prompts",
    "98",
    "--graphs",
    "6",
    "--heatmap-per-yy",
    "1",
    "--top",
    "12",
    "--svg-features",
    "2",
    "--quiet",
  );
  assert.equal(r.code, 0, r.stderr);
  for (const f of ["report.md", "greater-than.json", "original.png", "replacement.png", "original.svg"])
    assert.ok(existsSync(join(out, f)), f);
  const report = readFileSync(join(out, "report.md"), "utf8");
  // Pinned to what the shipped demo model + demo CLT produce on this small run (12 features from 6
  // graphs): none of Goodfire's feature types yet. Re-pin when the demo assets are retrained.
  assert.match(report, /\*\*This run does not reproduce Goodfire's picture\.\*\*/);
  const json = JSON.parse(readFileSync(join(out, "greater-than.json"), "utf8"));
  assert.deepEqual(
    [json.verdict.narrowComparators, json.verdict.largeNumberFeatures, json.verdict.parityFeatures],
    [0, 0, 0],
  );
  const pd = /\| original \| ([-\d.]+) \|/.exec(report);
  assert.ok(pd && Number(pd[1]) > 0.5, `original PD ${pd?.[1]}`);
});
