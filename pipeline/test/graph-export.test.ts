import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  cantorPair,
  circuitTracerGraphSchema,
  graphLayout,
  nodeId,
  nodeInfluence,
  parseCircuitTracerJson,
  pruneGraph,
  readCircuitTracerJson,
  readGraphBinary,
  toCircuitTracerJson,
  toDense,
  writeCircuitTracerJson,
  writeGraphBinary,
} from "../src/graph/index.ts";
import { randomGraph } from "./graph-helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "atlas-graph-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("circuit-tracer JSON export", () => {
  const g = randomGraph(3, { nLayers: 3, nPos: 5, featuresPerSite: 2, nLogits: 2 });
  const layout = graphLayout(g);
  const prune = pruneGraph(g, { nodeThreshold: 0.8, edgeThreshold: 0.98 });
  const json = toCircuitTracerJson(g, prune, { slug: "rand-3", atlas: { replacement: 0.5 } });

  test("top-level structure, metadata and qParams", () => {
    assert.deepEqual(Object.keys(json), ["metadata", "qParams", "nodes", "links"]);
    assert.equal(json.metadata.slug, "rand-3");
    assert.equal(json.metadata.scan, "test-scan");
    assert.equal(json.metadata.schema_version, 1);
    assert.equal(json.metadata.node_threshold, 0.8);
    assert.deepEqual(json.metadata.prompt_tokens, g.tokenStrings);
    assert.equal(json.metadata.prompt, "random");
    assert.deepEqual(json.metadata.atlas, { replacement: 0.5 });
    assert.deepEqual(json.qParams, { pinnedIds: [], supernodes: [], linkType: "both", clickedId: "", sg_pos: "" });
  });

  test("node fields follow circuit-tracer's conventions", () => {
    const byType = (t: string) => json.nodes.filter((n) => n.feature_type === t);
    const emb = byType("embedding");
    assert.equal(emb.length, layout.nPos, "all embedding nodes kept");
    assert.deepEqual(
      emb.map((n) => [n.node_id, n.layer, n.feature, n.jsNodeId]),
      g.inputTokens.map((t, p) => [`E_${t}_${p}`, "E", p, `E_${t}-${p}`]),
    );
    const logits = byType("logit");
    assert.equal(logits.length, 2);
    assert.equal(logits[0]!.node_id, `4_100_${layout.nPos - 1}`);
    assert.equal(logits[0]!.layer, "4");
    assert.equal(logits[0]!.is_target_logit, true);
    assert.equal(logits[1]!.is_target_logit, false);
    assert.equal(logits[0]!.token_prob, g.logits[0]!.probability);
    assert.match(logits[0]!.clerp!, /^Output "t0" \(p=0\.540\)$/);
    assert.equal(logits[0]!.influence, null);
    const feats = byType("cross layer transcoder");
    assert.ok(feats.length > 0);
    for (const n of feats) {
      const [layer, index, pos] = n.node_id.split("_").map(Number) as [number, number, number];
      const f = g.features.find((x) => x.layer === layer && x.featureIndex === index && x.position === pos)!;
      assert.ok(f, `feature ${n.node_id} exists`);
      assert.equal(n.feature, cantorPair(layer, index));
      assert.equal(n.layer, String(layer));
      assert.equal(n.ctx_idx, pos);
      assert.equal(n.jsNodeId, `${layer}_${index}-0`);
      assert.equal(n.activation, f.activation);
      assert.ok(n.influence! > 0 && n.influence! <= 1);
    }
    for (const n of byType("mlp reconstruction error")) {
      assert.match(n.node_id, /^\d+_-1_\d+$/);
      assert.equal(n.feature, -1);
      assert.equal(n.jsNodeId, `${n.layer}_-1-${n.ctx_idx}`);
    }
    assert.equal(cantorPair(3, 5), 41);
  });

  test("links carry the raw signed A[t, s] of the kept edges", () => {
    assert.equal(json.links.length, prune.edgeTargets.length);
    const d = toDense(g.adjacency).data;
    const ids = new Map<string, number>();
    for (let i = 0; i < layout.size; i++) ids.set(nodeId(g, i), i);
    let negative = 0;
    for (const link of json.links) {
      const t = ids.get(link.target)!;
      const s = ids.get(link.source)!;
      assert.equal(link.weight, d[t * layout.size + s]);
      if (link.weight < 0) negative++;
    }
    assert.ok(negative > 0, "signed weights are kept");
  });

  test("influence field is the cumulative rank fraction (most influential node smallest)", () => {
    const inf = nodeInfluence(g);
    let best = 0;
    for (let i = 0; i < layout.size; i++) if (inf[i]! > inf[best]!) best = i;
    const node = json.nodes.find((n) => n.node_id === nodeId(g, best))!;
    assert.ok(node, "most influential node exported");
    const min = Math.min(...json.nodes.filter((n) => n.influence != null).map((n) => n.influence!));
    assert.equal(node.influence, min);
  });

  test("write / read round trip and schema errors", () => {
    const path = join(dir, "g.json");
    writeCircuitTracerJson(path, json);
    const back = readCircuitTracerJson(path);
    assert.deepEqual(back, JSON.parse(readFileSync(path, "utf8")));
    assert.equal(back.nodes.length, json.nodes.length);

    const broken = structuredClone(json);
    broken.links.push({ source: "99_1_1", target: broken.nodes[0]!.node_id, weight: 1 });
    assert.equal(circuitTracerGraphSchema.safeParse(broken).success, false);
    const badId = structuredClone(json);
    badId.nodes[0]!.node_id = "E_x";
    assert.throws(() => parseCircuitTracerJson(JSON.stringify(badId)), /does not match feature_type|link/);
    assert.throws(() => parseCircuitTracerJson("{"), /not valid JSON/);
    assert.throws(() => parseCircuitTracerJson('{"metadata":{}}'), /not a circuit-tracer graph: metadata\.slug/);
    writeFileSync(join(dir, "bad.json"), "[]");
    assert.throws(() => readCircuitTracerJson(join(dir, "bad.json")), /bad\.json is not a circuit-tracer graph/);
  });
});

describe("binary side file", () => {
  test("round trip of the full unpruned graph", () => {
    const g = randomGraph(9, { nLayers: 2, nPos: 4, featuresPerSite: 3, nLogits: 2 });
    g.logits.forEach((l, k) => {
      l.target = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - k);
    });
    g.model = "demo-model";
    const inf = nodeInfluence(g);
    const path = join(dir, "g.graph.safetensors");
    writeGraphBinary(path, g, { influence: inf });
    const { graph: h, influence, metadata } = readGraphBinary(path);
    assert.equal(metadata.format, "circuit-atlas-graph");
    assert.equal(h.prompt, g.prompt);
    assert.deepEqual(h.inputTokens, g.inputTokens);
    assert.deepEqual(h.tokenStrings, g.tokenStrings);
    assert.equal(h.nLayers, g.nLayers);
    assert.equal(h.scan, "test-scan");
    assert.equal(h.model, "demo-model");
    assert.deepEqual(
      h.features,
      g.features.map((f) => ({ ...f, activation: Math.fround(f.activation) })),
    );
    assert.deepEqual(
      h.logits.map((l) => [l.tokenId, l.token, l.probability, Array.from(l.target!)]),
      g.logits.map((l) => [l.tokenId, l.token, Math.fround(l.probability), Array.from(l.target!)]),
    );
    assert.deepEqual(Array.from(toDense(h.adjacency).data), Array.from(toDense(g.adjacency).data));
    assert.deepEqual(Array.from(influence!), Array.from(inf, Math.fround));
    // The data section starts 8-byte aligned (safetensors convention).
    const buf = readFileSync(path);
    assert.equal((8 + Number(buf.readBigUInt64LE(0))) % 8, 0);
  });

  test("rejects files that are not graph side files", () => {
    const p = join(dir, "junk.bin");
    writeFileSync(p, Buffer.from([1, 2, 3]));
    assert.throws(() => readGraphBinary(p), /too short/);
    const hdr = Buffer.from(JSON.stringify({ __metadata__: { format: "other" } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hdr.length));
    writeFileSync(p, Buffer.concat([len, hdr]));
    assert.throws(() => readGraphBinary(p), /not a circuit-atlas-graph file/);
  });
});
