// Our graph JSON against the published contracts (circuit-tracer's pydantic graph models and
// Neuronpedia's graph schema, checked by the independent validators in graph-json-validators.ts),
// Neuronpedia's standard metadata fields, and a reader that accepts what Neuronpedia accepts.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { attribute } from "../src/attribution/index.ts";
import { initBackend } from "../src/backend/index.ts";
import {
  type CircuitTracerGraph,
  GRAPH_GENERATOR,
  parseCircuitTracerJson,
  pruneGraph,
  toCircuitTracerJson,
} from "../src/graph/index.ts";
import { randomClt, tinyModel } from "./attribution-helpers.ts";
import { randomGraph } from "./graph-helpers.ts";
import { circuitTracerViolations, neuronpediaViolations } from "./graph-json-validators.ts";

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe("graph JSON: circuit-tracer and Neuronpedia contracts", () => {
  let attributed: CircuitTracerGraph;
  const g = randomGraph(5, { nLayers: 3, nPos: 5, featuresPerSite: 2, nLogits: 2 });
  const fromRandom = toCircuitTracerJson(g, pruneGraph(g, { nodeThreshold: 0.7, edgeThreshold: 0.9 }), {
    slug: "rand-5",
  });

  before(async () => {
    await initBackend(undefined, { quiet: true });
    const r = await attribute(tinyModel(2), randomClt(4, 3, 16, 24), [50256, 5, 9, 17, 3], {
      maxFeatureNodes: 30,
      batchSize: 16,
      maxLogits: 3,
      desiredLogitProb: 0.9,
      scan: "tiny-clt",
      modelName: "tiny",
      checkAdditivity: false,
    });
    const prune = pruneGraph(r.graph, { nodeThreshold: 0.8, edgeThreshold: 0.95 });
    attributed = toCircuitTracerJson(r.graph, prune, { slug: "tiny", info: { description: "a test graph" } });
  });

  test("what we write is valid for both (string layers, integer features, every qParams field)", () => {
    for (const json of [fromRandom, attributed]) {
      assert.deepEqual(circuitTracerViolations(json), []);
      assert.deepEqual(neuronpediaViolations(json), []);
      assert.ok(json.nodes.every((n) => typeof n.layer === "string" && Number.isInteger(n.feature)));
      assert.deepEqual(Object.keys(json.qParams).sort(), [
        "clickedId",
        "linkType",
        "pinnedIds",
        "sg_pos",
        "supernodes",
      ]);
    }
  });

  test("Neuronpedia's standard metadata fields carry the settings", () => {
    const m = attributed.metadata;
    assert.deepEqual(m.generation_settings, {
      max_n_logits: 3,
      desired_logit_prob: 0.9,
      batch_size: 16,
      max_feature_nodes: 30,
    });
    assert.deepEqual(m.pruning_settings, { node_threshold: 0.8, edge_threshold: 0.95 });
    assert.equal(m.node_threshold, 0.8);
    assert.deepEqual(m.info, { description: "a test graph", generator: GRAPH_GENERATOR });
    assert.match(GRAPH_GENERATOR.version, /^\d+\.\d+\.\d+/);
    assert.equal(m.atlas, undefined, "nothing private unless asked");
    assert.deepEqual(fromRandom.metadata.pruning_settings, { node_threshold: 0.7, edge_threshold: 0.9 });
    assert.equal(fromRandom.metadata.generation_settings, undefined, "a graph without recorded settings has none");
  });

  test("the validators catch what each contract rejects", () => {
    const base = attributed;
    const cases: [string, (x: CircuitTracerGraph) => void, boolean, boolean][] = [
      // [label, mutation, valid for circuit-tracer, valid for Neuronpedia]
      ["integer layer", (x) => Object.assign(x.nodes[0]!, { layer: 1 }), false, true],
      ["null feature", (x) => Object.assign(x.nodes[0]!, { feature: null }), false, true],
      ["qParams without sg_pos", (x) => delete (x.qParams as Partial<typeof x.qParams>).sg_pos, false, true],
      ["no transcoder_list", (x) => delete x.metadata.transcoder_list, false, true],
      ["node without clerp", (x) => delete x.nodes[0]!.clerp, true, false],
      ["fractional ctx_idx", (x) => Object.assign(x.nodes[0]!, { ctx_idx: 1.5 }), false, false],
      ["string weight", (x) => Object.assign(x.links[0]!, { weight: "0.5" }), false, false],
      ["no prompt", (x) => delete (x.metadata as Partial<typeof x.metadata>).prompt, false, false],
      [
        "string max_n_logits",
        (x) => Object.assign(x.metadata.generation_settings!, { max_n_logits: "3" }),
        true,
        false,
      ],
    ];
    assert.ok(base.links.length > 0);
    for (const [label, mutate, ct, np] of cases) {
      const x = clone(base);
      mutate(x);
      assert.equal(
        circuitTracerViolations(x).length === 0,
        ct,
        `${label}: circuit-tracer ${circuitTracerViolations(x)}`,
      );
      assert.equal(neuronpediaViolations(x).length === 0, np, `${label}: Neuronpedia ${neuronpediaViolations(x)}`);
    }
  });

  test("the reader accepts what Neuronpedia accepts and returns the writer's shape", () => {
    assert.deepEqual(parseCircuitTracerJson(JSON.stringify(attributed)), attributed);
    const np = clone(attributed) as unknown as {
      metadata: Record<string, unknown>;
      qParams: Record<string, unknown>;
      nodes: Record<string, unknown>[];
    };
    delete np.metadata.transcoder_list;
    delete np.metadata.schema_version;
    np.qParams = {};
    const feat = np.nodes.findIndex((n) => n.feature_type === "cross layer transcoder");
    const err = np.nodes.findIndex((n) => n.feature_type === "mlp reconstruction error");
    np.nodes[feat]!.layer = Number(np.nodes[feat]!.layer);
    np.nodes[err]!.feature = null;
    delete np.nodes[err]!.clerp;
    delete np.nodes[err]!.token_prob;
    assert.deepEqual(
      neuronpediaViolations({ ...np, nodes: np.nodes.map((n, i) => (i === err ? { ...n, clerp: "" } : n)) }),
      [],
    );
    const r = parseCircuitTracerJson(JSON.stringify(np), "np.json");
    assert.equal(r.nodes[feat]!.layer, attributed.nodes[feat]!.layer);
    assert.equal(r.nodes[err]!.feature, null);
    assert.equal(r.nodes[err]!.clerp, "");
    assert.deepEqual(r.qParams, { pinnedIds: [], supernodes: [], linkType: "both", clickedId: "", sg_pos: "" });
    // ... and rejects what it does not: a fractional layer, a string feature, a dangling link.
    const bad: [string, (x: typeof np) => void, RegExp][] = [
      ["layer 1.5", (x) => Object.assign(x.nodes[feat]!, { layer: 1.5 }), /np\.json .*nodes\.\d+\.layer/],
      ["feature '3'", (x) => Object.assign(x.nodes[feat]!, { feature: "3" }), /nodes\.\d+\.feature/],
      [
        "dangling link",
        (x) =>
          (x as unknown as { links: { source: string }[] }).links.push({ ...attributed.links[0]!, source: "9_9_9" }),
        /link source 9_9_9 is not a node/,
      ],
    ];
    for (const [label, mutate, re] of bad) {
      const x = clone(np);
      mutate(x);
      assert.throws(() => parseCircuitTracerJson(JSON.stringify(x), "np.json"), re, label);
    }
  });
});
