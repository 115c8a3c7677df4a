// Independent checks of a graph JSON against the two published contracts, written from reading them
// (not generated from, and not sharing code with, our zod schemas in src/graph/json.ts):
//  - circuit-tracer's pydantic models (circuit_tracer/frontend/graph_models.py: Metadata, QParams,
//    Node, Link, Model), as pydantic v2 validates JSON: required fields must be present, `str` fields
//    take only strings, `int` only integral numbers, `float` any number, `X | None` also null;
//    fields with defaults may be missing;
//  - Neuronpedia's graph JSON schema (apps/webapp/app/api/graph/graph-schema.json, draft-07):
//    required metadata {slug, scan, prompt_tokens, prompt}, qParams with optional fields, nodes
//    {node_id, feature: integer|null, layer: string|integer, ctx_idx, feature_type, jsNodeId, clerp},
//    links {source, target, weight}, and the optional info / generation_settings / pruning_settings.
// Each returns the list of violations (empty = valid).

type Json = unknown;
type Kind = "str" | "int" | "float" | "bool" | "list[str]" | "list[list[str]]" | "object" | "array";

const isObj = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);

function ofKind(v: Json, k: Kind): boolean {
  switch (k) {
    case "str":
      return typeof v === "string";
    case "int":
      return typeof v === "number" && Number.isInteger(v);
    case "float":
      return typeof v === "number" && Number.isFinite(v);
    case "bool":
      return typeof v === "boolean";
    case "list[str]":
      return Array.isArray(v) && v.every((x) => typeof x === "string");
    case "list[list[str]]":
      return Array.isArray(v) && v.every((x) => ofKind(x, "list[str]"));
    case "object":
      return isObj(v);
    case "array":
      return Array.isArray(v);
  }
}

/** One field rule: kinds accepted, null allowed, required. */
interface Field {
  kinds: Kind[];
  nullable?: boolean;
  required?: boolean;
}

function checkFields(obj: Json, fields: Record<string, Field>, where: string, out: string[]): void {
  if (!isObj(obj)) {
    out.push(`${where}: not an object`);
    return;
  }
  for (const [name, f] of Object.entries(fields)) {
    if (!(name in obj)) {
      if (f.required) out.push(`${where}.${name}: missing`);
      continue;
    }
    const v = obj[name];
    if (v === null) {
      if (!f.nullable) out.push(`${where}.${name}: null`);
      continue;
    }
    if (!f.kinds.some((k) => ofKind(v, k)))
      out.push(`${where}.${name}: ${JSON.stringify(v)} is not ${f.kinds.join("|")}`);
  }
}

const req = (...kinds: Kind[]): Field => ({ kinds, required: true });
const opt = (...kinds: Kind[]): Field => ({ kinds });

/** circuit-tracer's `Model` (pydantic) validation of a graph JSON. */
export function circuitTracerViolations(g: Json): string[] {
  const out: string[] = [];
  checkFields(
    g,
    { metadata: req("object"), qParams: req("object"), nodes: req("array"), links: req("array") },
    "",
    out,
  );
  if (out.length || !isObj(g)) return out;
  checkFields(
    g.metadata,
    {
      slug: req("str"),
      scan: req("str"),
      transcoder_list: req("list[str]"),
      prompt_tokens: req("list[str]"),
      prompt: req("str"),
      node_threshold: { kinds: ["float"], nullable: true },
      schema_version: { kinds: ["int"], nullable: true },
    },
    "metadata",
    out,
  );
  checkFields(
    g.qParams,
    {
      pinnedIds: req("list[str]"),
      supernodes: req("list[list[str]]"),
      linkType: req("str"),
      clickedId: req("str"),
      sg_pos: req("str"),
    },
    "qParams",
    out,
  );
  for (const [i, n] of (g.nodes as Json[]).entries())
    checkFields(
      n,
      {
        node_id: req("str"),
        feature: req("int"),
        layer: req("str"),
        ctx_idx: req("int"),
        feature_type: req("str"),
        token_prob: opt("float"),
        is_target_logit: opt("bool"),
        run_idx: opt("int"),
        reverse_ctx_idx: opt("int"),
        // jsNodeId is required but filled from node_id when missing (Node.__init__)
        jsNodeId: opt("str"),
        clerp: opt("str"),
        influence: { kinds: ["float"], nullable: true },
        activation: { kinds: ["float"], nullable: true },
      },
      `nodes[${i}]`,
      out,
    );
  for (const [i, l] of (g.links as Json[]).entries())
    checkFields(l, { source: req("str"), target: req("str"), weight: req("float") }, `links[${i}]`, out);
  return out;
}

/** Neuronpedia's graph JSON schema validation of a graph JSON. */
export function neuronpediaViolations(g: Json): string[] {
  const out: string[] = [];
  checkFields(
    g,
    { metadata: req("object"), qParams: req("object"), nodes: req("array"), links: req("array") },
    "",
    out,
  );
  if (out.length || !isObj(g)) return out;
  const m = g.metadata;
  checkFields(
    m,
    {
      slug: req("str"),
      scan: req("str"),
      prompt_tokens: req("list[str]"),
      prompt: req("str"),
      feature_details: opt("object"),
      node_threshold: opt("float"),
      info: opt("object"),
      generation_settings: opt("object"),
      pruning_settings: opt("object"),
    },
    "metadata",
    out,
  );
  if (isObj(m)) {
    checkFields(
      m.info ?? {},
      {
        description: opt("str"),
        creator_name: opt("str"),
        creator_url: opt("str"),
        source_urls: opt("array"),
        generator: opt("object"),
        create_time_ms: opt("float"),
      },
      "metadata.info",
      out,
    );
    if (isObj(m.info) && m.info.generator !== undefined)
      checkFields(
        m.info.generator,
        { name: opt("str"), version: opt("str"), url: opt("str"), email: opt("str") },
        "metadata.info.generator",
        out,
      );
    checkFields(
      m.generation_settings ?? {},
      {
        max_n_logits: opt("int"),
        desired_logit_prob: opt("float"),
        batch_size: opt("int"),
        max_feature_nodes: opt("int"),
      },
      "metadata.generation_settings",
      out,
    );
    checkFields(
      m.pruning_settings ?? {},
      { node_threshold: opt("float"), edge_threshold: opt("float") },
      "metadata.pruning_settings",
      out,
    );
  }
  checkFields(
    g.qParams,
    {
      pinnedIds: opt("list[str]"),
      supernodes: opt("array"),
      linkType: opt("str"),
      clickedId: opt("str"),
      sg_pos: opt("str"),
    },
    "qParams",
    out,
  );
  for (const [i, n] of (g.nodes as Json[]).entries())
    checkFields(
      n,
      {
        node_id: req("str"),
        feature: { kinds: ["int"], nullable: true, required: true },
        layer: req("str", "int"),
        ctx_idx: req("int"),
        feature_type: req("str"),
        jsNodeId: req("str"),
        clerp: req("str"),
        influence: { kinds: ["float"], nullable: true },
        activation: { kinds: ["float"], nullable: true },
      },
      `nodes[${i}]`,
      out,
    );
  for (const [i, l] of (g.links as Json[]).entries())
    checkFields(l, { source: req("str"), target: req("str"), weight: req("float") }, `links[${i}]`, out);
  return out;
}

/** Every string anywhere in a JSON value (keys excluded), with its path. */
export function jsonStrings(v: Json, path = ""): { path: string; value: string }[] {
  if (typeof v === "string") return [{ path, value: v }];
  if (Array.isArray(v)) return v.flatMap((x, i) => jsonStrings(x, `${path}[${i}]`));
  if (isObj(v)) return Object.entries(v).flatMap(([k, x]) => jsonStrings(x, `${path}.${k}`));
  return [];
}
