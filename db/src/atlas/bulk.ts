// First load of an empty atlas through Neo4j's offline importer (`neo4j-admin database import full`):
// the rows the Bolt writers would send are written as CSV files instead (the same encodeRow /
// encodeGraph checks, the same property types), INFLUENCES and Feature.graphCount are aggregated in
// memory over all graphs, then the local server is stopped, the store is built by the importer,
// the server restarts, the migrations' final constraints and indexes are created at once
// (`migrateImported`), and the ablation summaries are computed by the same Cypher as the Bolt
// path. Only for the local managed server and an empty database; everything else (labels,
// studies, virtual weights, later graphs) goes through Bolt.
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type Integer, isInt } from "neo4j-driver";
import type { z } from "zod";
import { loadConfig } from "../config.ts";
import { readTx, writeTx } from "../driver.ts";
import { DbError } from "../errors.ts";
import { importLocalStore, type Log } from "../server/commands.ts";
import { int } from "../values.ts";
import {
  FeatureRow,
  GraphNodeKind,
  type GraphNodeRow,
  GraphRow,
  ModelRow,
  parseFeatureId,
  TranscoderRow,
} from "./model.ts";
import { encodeRow, type GraphInput, type GraphWriteResult, influencesKey, refreshAblationSummaries } from "./write.ts";

type Row = Record<string, unknown>;

/** Separates array elements inside one CSV field (a control character no atlas string holds). */
const ARRAY_DELIMITER = "\u001f";

/** Neo4j import type of a value as encodeRow produces it (driver Integer → long, JS number → double). */
function importType(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (isInt(v)) return "long";
  if (typeof v === "number") return "double";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  if (Array.isArray(v)) {
    const t = v.length > 0 ? importType(v[0]) : null;
    return t === null ? null : `${t}[]`;
  }
  throw new DbError(`bulk import: unsupported property value ${String(v)}`);
}

function quote(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

function field(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return quote(v);
  if (isInt(v)) return (v as Integer).toString();
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) {
    const parts = v.map((x) => {
      const s = isInt(x) ? (x as Integer).toString() : String(x);
      if (s.includes(ARRAY_DELIMITER)) throw new DbError("bulk import: an array element contains U+001F");
      return s;
    });
    return quote(parts.join(ARRAY_DELIMITER));
  }
  throw new DbError(`bulk import: unsupported property value ${String(v)}`);
}

/** One CSV body file (header written separately at the end, once every column's type is known). */
class CsvTable {
  private readonly fd: number;
  private buf: string[] = [];
  private bufLen = 0;
  readonly types = new Map<string, string>();
  multiline = false;
  rows = 0;

  constructor(
    readonly dir: string,
    readonly name: string,
    /** Leading id columns (`:ID(Feature)`, `:START_ID(GraphNode)`, …): compact integers, given by the caller per row. */
    readonly ids: string[],
    readonly columns: string[],
  ) {
    this.fd = openSync(this.bodyPath, "w");
  }

  get bodyPath(): string {
    return join(this.dir, `${this.name}.csv`);
  }
  get headerPath(): string {
    return join(this.dir, `${this.name}.header.csv`);
  }

  add(ids: number[], row: Row): void {
    const out: string[] = ids.map(String);
    for (const c of this.columns) {
      const v = row[c];
      const t = importType(v);
      if (t !== null) {
        const known = this.types.get(c);
        if (known === undefined) this.types.set(c, t);
        else if (known !== t) throw new DbError(`bulk import: ${this.name}.${c} is both ${known} and ${t}`);
        if (typeof v === "string" && /[\r\n]/.test(v)) this.multiline = true;
        if (Array.isArray(v) && v.some((x) => typeof x === "string" && /[\r\n]/.test(x))) this.multiline = true;
      }
      out.push(field(v));
    }
    const line = `${out.join(",")}\n`;
    this.buf.push(line);
    this.bufLen += line.length;
    this.rows++;
    if (this.bufLen > 1 << 20) this.flush();
  }

  /** Pre-formatted rows (the hot per-edge path), `n` of them; `types` for the columns they fill. */
  addLines(text: string, n: number, types: Record<string, string> = {}): void {
    for (const [c, t] of Object.entries(types)) {
      const known = this.types.get(c);
      if (known === undefined) this.types.set(c, t);
      else if (known !== t) throw new DbError(`bulk import: ${this.name}.${c} is both ${known} and ${t}`);
    }
    this.buf.push(text);
    this.bufLen += text.length;
    this.rows += n;
    if (this.bufLen > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.buf.length > 0) writeSync(this.fd, this.buf.join(""));
    this.buf = [];
    this.bufLen = 0;
  }

  /** Writes the header file and closes the body. */
  close(): void {
    this.flush();
    closeSync(this.fd);
    const header = [...this.ids, ...this.columns.map((c) => `${c}:${this.types.get(c) ?? "string"}`)].join(",");
    const fd = openSync(this.headerPath, "w");
    writeSync(fd, `${header}\n`);
    closeSync(fd);
  }
}

/**
 * INFLUENCES aggregates over all graphs in growable numeric columns (tens of millions of pairs fit):
 * one `add` per feature→feature edge; `graphs` counts the distinct graphs a pair occurs in. Pairs
 * are found through an open-addressing table of (source slot, target slot, column index) triples,
 * so a lookup touches one table entry instead of hashing a double key in a JS Map (at 4.7M pairs the
 * Map was the bulk encoder's largest cost, most of it GC).
 */
export class PairSums {
  /** Stride 3: source slot + 1 (0 = empty), target slot, column index. Linear probing, load ≤ 1/2. */
  private table = new Int32Array(3 << 17);
  private mask = (1 << 17) - 1;
  a = new Int32Array(1 << 16);
  b = new Int32Array(1 << 16);
  s = new Float64Array(1 << 16);
  sa = new Float64Array(1 << 16);
  c = new Int32Array(1 << 16);
  g = new Int32Array(1 << 16);
  /** The last graph that touched each pair. */
  last = new Int32Array(1 << 16);
  size = 0;
  /** (pair, graph) occurrences so far. */
  touched = 0;

  private static hash(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    return h ^ (h >>> 12);
  }

  /** The column index of pair (a, b), added with zero sums when new. */
  private find(a: number, b: number): number {
    const t = this.table;
    let j = PairSums.hash(a, b) & this.mask;
    for (;;) {
      const k = t[3 * j]!;
      if (k === 0) break;
      if (k === a + 1 && t[3 * j + 1] === b) return t[3 * j + 2]!;
      j = (j + 1) & this.mask;
    }
    const i = this.size++;
    if (i === this.a.length) this.grow();
    t[3 * j] = a + 1;
    t[3 * j + 1] = b;
    t[3 * j + 2] = i;
    this.a[i] = a;
    this.b[i] = b;
    this.last[i] = -1;
    if (2 * this.size > this.mask) this.rehash();
    return i;
  }

  add(a: number, b: number, w: number, graph: number): void {
    const i = this.find(a, b);
    this.s[i]! += w;
    this.sa[i]! += Math.abs(w);
    this.c[i]! += 1;
    if (this.last[i] !== graph) {
      this.last[i] = graph;
      this.g[i]! += 1;
      this.touched++;
    }
  }

  private rehash(): void {
    const cap = 2 * (this.mask + 1);
    const t = new Int32Array(3 * cap);
    const mask = cap - 1;
    for (let i = 0; i < this.size; i++) {
      const a = this.a[i]!;
      const b = this.b[i]!;
      let j = PairSums.hash(a, b) & mask;
      while (t[3 * j] !== 0) j = (j + 1) & mask;
      t[3 * j] = a + 1;
      t[3 * j + 1] = b;
      t[3 * j + 2] = i;
    }
    this.table = t;
    this.mask = mask;
  }

  private grow(): void {
    const n = this.a.length * 2;
    const re = <T extends Int32Array | Float64Array>(x: T, C: new (n: number) => T): T => {
      const y = new C(n);
      y.set(x);
      return y;
    };
    this.a = re(this.a, Int32Array);
    this.b = re(this.b, Int32Array);
    this.s = re(this.s, Float64Array);
    this.sa = re(this.sa, Float64Array);
    this.c = re(this.c, Int32Array);
    this.g = re(this.g, Int32Array);
    this.last = re(this.last, Int32Array);
  }
}

const keysOf = (schema: z.ZodObject) => Object.keys(schema.shape);

export interface BulkSummary {
  nodes: number;
  relationships: number;
  influences: number;
  /** Seconds: writing the CSV files (graph reading included), then the phases of the import. */
  csvSeconds: number;
  stopSeconds: number;
  /** The offline importer alone (its JVM included). */
  importSeconds: number;
  /** The importer's stages as it reports them ("Node import", "Relationship import", …), in seconds. */
  importStages: Record<string, number>;
  startSeconds: number;
  /** The migrations' final constraints, indexes and full-text indexes over the imported data (`migrateImported`). */
  migrateSeconds: number;
  /** Ablation summaries (Bolt). */
  finishSeconds: number;
}

/**
 * Column types of GraphNode rows as `encodeRow` stores them (`int` → long, `finite` → double); keyed
 * by the schema's own keys, so a column added to GraphNodeRow does not compile until it is typed here.
 */
const GRAPH_NODE_TYPES: Record<keyof GraphNodeRow, "string" | "long" | "double" | "boolean"> = {
  id: "string",
  graphId: "string",
  nodeId: "string",
  kind: "string",
  layer: "long",
  position: "long",
  featureIndex: "long",
  featureId: "string",
  tokenId: "long",
  token: "string",
  activation: "double",
  influence: "double",
  probability: "double",
  isTarget: "boolean",
  ablationPredicted: "double",
  ablationMeasuredLive: "double",
  ablationMeasuredFrozen: "double",
};
const GRAPH_NODE_COLUMNS = Object.keys(GRAPH_NODE_TYPES) as (keyof GraphNodeRow)[];
const NODE_KINDS = new Set<string>(GraphNodeKind.options);
const INFLUENCES_TYPES = { key: "string", weightSum: "double", weightAbsSum: "double", count: "long", graphs: "long" };

/**
 * Collects an empty atlas's first load as CSV files in `dir`, then `run()` imports them. Add the
 * model, transcoders and graphs first, then the feature statistics (`addFeatures`; a feature's
 * graphCount comes from the graphs added before); every transcoder feature without statistics gets
 * the same stub as `ensureTranscoderFeatures`.
 *
 * The importer addresses nodes by compact integer ids (`--id-type=integer`; not stored), so the
 * relationship files, most of the data, hold short numbers instead of repeated string keys; every
 * node's `id` property is an ordinary column.
 */
export class BulkImport {
  private readonly t: Record<string, CsvTable>;
  private readonly featureSlot = new Map<string, number>();
  private readonly featureIds: string[] = [];
  private graphCount = new Int32Array(1 << 16);
  private readonly featureWritten = new Set<string>();
  private readonly models = new Map<string, number>();
  private readonly transcoders = new Map<string, { n: number; nLayers: number; nFeatures: number }>();
  private readonly graphIds = new Map<string, number>();
  /** Next GraphNode import id (a running counter over all graphs). */
  private nextNode = 0;
  private readonly validated = new Set<string>();
  private readonly pairs = new PairSums();
  private readonly ingestedAt = new Date().toISOString();
  private readonly t0 = performance.now();
  private readonly featureColumns = keysOf(FeatureRow);

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    const node = (name: string, label: string, columns: string[]) =>
      new CsvTable(dir, name, [`:ID(${label})`], columns);
    const rel = (name: string, from: string, to: string, columns: string[] = []) =>
      new CsvTable(dir, name, [`:START_ID(${from})`, `:END_ID(${to})`], columns);
    this.t = {
      Model: node("model", "Model", keysOf(ModelRow)),
      Transcoder: node("transcoder", "Transcoder", keysOf(TranscoderRow)),
      Feature: node("feature", "Feature", this.featureColumns),
      Graph: node("graph", "Graph", keysOf(GraphRow)),
      GraphNode: node("graph-node", "GraphNode", GRAPH_NODE_COLUMNS),
      FOR_MODEL: rel("for-model", "Transcoder", "Model"),
      USES: rel("uses", "Graph", "Transcoder"),
      HAS_NODE: rel("has-node", "Graph", "GraphNode"),
      OF: rel("of", "GraphNode", "Feature"),
      ATTRIBUTES: rel("attributes", "GraphNode", "GraphNode", ["weight"]),
      INFLUENCES: rel("influences", "Feature", "Feature", Object.keys(INFLUENCES_TYPES)),
    };
  }

  addModel(row: ModelRow): void {
    const r = encodeRow(ModelRow, row, "Model", `model ${row.id}`);
    if (this.models.has(row.id)) throw new DbError(`model ${row.id} is given twice`);
    const n = this.models.size;
    this.models.set(row.id, n);
    this.t.Model!.add([n], r);
  }

  addTranscoder(row: TranscoderRow): void {
    const r = encodeRow(TranscoderRow, row, "Transcoder", `transcoder ${row.id}`);
    if (this.transcoders.has(row.id)) throw new DbError(`transcoder ${row.id} is given twice`);
    const m = this.models.get(row.modelId);
    if (m === undefined) throw new DbError(`transcoder ${row.id}: model ${row.modelId} is not in the import`);
    const n = this.transcoders.size;
    this.t.Transcoder!.add([n], r);
    this.t.FOR_MODEL!.add([n, m], {});
    this.transcoders.set(row.id, { n, nLayers: row.nLayers, nFeatures: row.nFeatures });
  }

  /** The Feature's import id (its slot), allocated on first sight. */
  private slot(featureId: string): number {
    let i = this.featureSlot.get(featureId);
    if (i === undefined) {
      i = this.featureIds.length;
      this.featureIds.push(featureId);
      this.featureSlot.set(featureId, i);
      if (i === this.graphCount.length) {
        const g = new Int32Array(i * 2);
        g.set(this.graphCount);
        this.graphCount = g;
      }
    }
    return i;
  }

  /**
   * One graph (as `writeGraph` takes it, already checked at the file edge by the ingest's zod
   * schemas); its transcoder must have been added. The Graph row goes through `encodeRow`; the
   * per-node and per-edge rows are checked and formatted by plain loops (the hot path).
   */
  addGraph(input: GraphInput): GraphWriteResult {
    const g = input.graph;
    const gid = g.id;
    const where = `graph ${gid}`;
    if (this.graphIds.has(gid)) throw new DbError(`graph ${gid} is given twice`);
    const tr = this.transcoders.get(g.transcoderId);
    if (!tr) throw new DbError(`${where}: transcoder ${g.transcoderId} is not in the import`);
    const graph = encodeRow(
      GraphRow,
      { ...g, ingestedAt: this.ingestedAt, nNodes: input.nodes.length, nEdges: input.edges.length },
      "Graph",
      where,
    );
    const gn = this.graphIds.size;
    this.graphIds.set(gid, gn);
    this.t.Graph!.add([gn], graph);
    this.t.USES!.add([gn, tr.n], {});

    const nodes = input.nodes;
    const N = nodes.length;
    const base = this.nextNode;
    const fslot = new Int32Array(N).fill(-1);
    const seen = new Set<string>();
    const qg = quote(gid);
    const prefix = `${gid}/`;
    let nodeLines = "";
    let hasLines = "";
    let ofLines = "";
    let ofRows = 0;
    for (let i = 0; i < N; i++) {
      const n = nodes[i]!;
      const at = `${where} node ${i}`;
      if (typeof n.nodeId !== "string") throw new DbError(`${at}: nodeId must be a string`);
      if (seen.has(n.nodeId)) throw new DbError(`${where}: duplicate node ${n.nodeId}`);
      seen.add(n.nodeId);
      if (!NODE_KINDS.has(n.kind)) throw new DbError(`${at}: kind must be one of ${[...NODE_KINDS].join("|")}`);
      const id = base + i;
      let line = `${id},${quote(prefix + n.nodeId)},${qg},${quote(n.nodeId)},${n.kind}`;
      for (let c = 4; c < GRAPH_NODE_COLUMNS.length; c++) {
        const col = GRAPH_NODE_COLUMNS[c]!;
        const v = n[col as keyof typeof n];
        line += ",";
        if (v === undefined) continue;
        const t = GRAPH_NODE_TYPES[col];
        if (t === "long") {
          if (!Number.isSafeInteger(v) || ((col === "position" || col === "featureIndex") && (v as number) < 0)) {
            throw new DbError(
              `${at}: ${col} must be ${col === "layer" || col === "tokenId" ? "an" : "a nonnegative"} integer`,
            );
          }
          line += v;
        } else if (t === "double") {
          if (typeof v !== "number" || !Number.isFinite(v)) throw new DbError(`${at}: ${col} must be a finite number`);
          line += v;
        } else if (t === "boolean") {
          if (typeof v !== "boolean") throw new DbError(`${at}: ${col} must be a boolean`);
          line += v;
        } else {
          if (typeof v !== "string") throw new DbError(`${at}: ${col} must be a string`);
          line += quote(v);
        }
      }
      if (!this.t.GraphNode!.multiline && /[\r\n]/.test(line)) this.t.GraphNode!.multiline = true;
      nodeLines += `${line}\n`;
      hasLines += `${gn},${id}\n`;
      if (n.kind !== "feature") continue;
      const f = n.featureId === undefined ? null : parseFeatureId(n.featureId);
      if (!f || f.transcoderId !== g.transcoderId || f.layer !== n.layer || f.featureIndex !== n.featureIndex) {
        throw new DbError(
          `${where}: feature node ${n.nodeId} needs featureId "${g.transcoderId}/${n.layer}_${n.featureIndex}"`,
        );
      }
      const s = this.slot(n.featureId!);
      fslot[i] = s;
      ofLines += `${id},${s}\n`;
      ofRows++;
      if (n.ablationPredicted !== undefined) this.validated.add(n.featureId!);
    }
    const colTypes = Object.fromEntries(
      GRAPH_NODE_COLUMNS.filter((c) => nodes.some((n) => n[c as keyof typeof n] !== undefined)).map((c) => [
        c,
        GRAPH_NODE_TYPES[c],
      ]),
    );
    this.t.GraphNode!.addLines(nodeLines, N, { id: "string", graphId: "string", ...colTypes });
    this.t.HAS_NODE!.addLines(hasLines, N);
    this.t.OF!.addLines(ofLines, ofRows);
    // graphCount: once per distinct feature of the graph
    const counted = new Set<number>();
    for (let i = 0; i < N; i++) {
      const s = fslot[i]!;
      if (s >= 0 && !counted.has(s)) {
        counted.add(s);
        this.graphCount[s]!++;
      }
    }
    // Edges are most of the data: numbers only (a JS number prints as its shortest round-trip form).
    const edges = input.edges;
    const pairsBefore = this.pairs.touched;
    let edgeLines = "";
    for (let i = 0; i < edges.length; i++) {
      const e = edges[i]!;
      const a = e.source;
      const b = e.target;
      const w = e.weight;
      if (!(Number.isInteger(a) && a >= 0 && a < N && Number.isInteger(b) && b >= 0 && b < N)) {
        throw new DbError(`${where}: edge ${i} refers to a node index outside 0..${N - 1}`);
      }
      if (typeof w !== "number" || !Number.isFinite(w))
        throw new DbError(`${where}: edge ${i} has a non-finite weight`);
      edgeLines += `${base + a},${base + b},${w}\n`;
      const fa = fslot[a]!;
      const fb = fslot[b]!;
      if (fa >= 0 && fb >= 0) this.pairs.add(fa, fb, w, gn);
      if (edgeLines.length > 1 << 20) {
        this.t.ATTRIBUTES!.addLines(edgeLines, 0, { weight: "double" });
        edgeLines = "";
      }
    }
    this.t.ATTRIBUTES!.addLines(edgeLines, edges.length, { weight: "double" });
    this.nextNode += N;
    return { graphId: gid, status: "created", nodes: N, edges: edges.length, pairs: this.pairs.touched - pairsBefore };
  }

  private addFeatureRow(r: Row): void {
    const id = r.id as string;
    if (this.featureWritten.has(id)) throw new DbError(`feature ${id} is given twice`);
    this.featureWritten.add(id);
    const s = this.slot(id);
    const gc = this.graphCount[s]!;
    this.t.Feature!.add([s], gc > 0 ? { ...r, graphCount: int(gc) } : r);
  }

  /** Feature statistics rows (as `upsertFeatures` takes them). */
  addFeatures(rows: FeatureRow[]): void {
    rows.forEach((row, i) => {
      this.addFeatureRow(encodeRow(FeatureRow, row, "Feature", `feature ${i} (${row.id})`));
    });
  }

  /** A feature without statistics: the stub `ensureTranscoderFeatures` creates, formatted directly. */
  private stubs(transcoderId: string, layer: number, from: number, to: number): void {
    const cols = this.featureColumns;
    const iId = cols.indexOf("id");
    const iT = cols.indexOf("transcoderId");
    const iL = cols.indexOf("layer");
    const iF = cols.indexOf("featureIndex");
    const iFid = cols.indexOf("featureId");
    const iG = cols.indexOf("graphCount");
    const fields = new Array<string>(cols.length + 1).fill("");
    const qt = quote(transcoderId);
    let text = "";
    let n = 0;
    let withCount = false;
    for (let i = from; i < to; i++) {
      const id = `${transcoderId}/${layer}_${i}`;
      if (this.featureWritten.has(id)) continue;
      this.featureWritten.add(id);
      const s = this.slot(id);
      const gc = this.graphCount[s]!;
      fields[0] = String(s);
      fields[1 + iId] = quote(id);
      fields[1 + iT] = qt;
      fields[1 + iL] = String(layer);
      fields[1 + iF] = String(i);
      fields[1 + iFid] = `"${layer}_${i}"`;
      fields[1 + iG] = gc > 0 ? String(gc) : "";
      if (gc > 0) withCount = true;
      text += `${fields.join(",")}\n`;
      n++;
    }
    const types: Record<string, string> = {
      id: "string",
      transcoderId: "string",
      layer: "long",
      featureIndex: "long",
      featureId: "string",
    };
    if (withCount) types.graphCount = "long";
    this.t.Feature!.addLines(text, n, types);
  }

  /** Writes the remaining rows and headers; the importer's --nodes/--relationships arguments. */
  private close(): { args: string[]; influences: number; nodes: number; relationships: number } {
    for (const [tid, t] of this.transcoders) {
      for (let l = 0; l < t.nLayers; l++) {
        for (let i = 0; i < t.nFeatures; i += 10_000) this.stubs(tid, l, i, Math.min(t.nFeatures, i + 10_000));
      }
    }
    // Features that graphs name outside their transcoder's declared range (Bolt creates them on the fly).
    for (const id of [...this.featureIds]) {
      if (this.featureWritten.has(id)) continue;
      const f = parseFeatureId(id)!;
      this.stubs(f.transcoderId, f.layer, f.featureIndex, f.featureIndex + 1);
    }
    const p = this.pairs;
    let text = "";
    for (let i = 0; i < p.size; i++) {
      const a = this.featureIds[p.a[i]!]!;
      const b = this.featureIds[p.b[i]!]!;
      text += `${p.a[i]},${p.b[i]},${quote(influencesKey(a, b))},${p.s[i]},${p.sa[i]},${p.c[i]},${p.g[i]}\n`;
      if (text.length > 1 << 20 || i === p.size - 1) {
        this.t.INFLUENCES!.addLines(text, 0, INFLUENCES_TYPES);
        text = "";
      }
    }
    this.t.INFLUENCES!.rows += p.size;
    const args: string[] = ["--id-type=integer"];
    const multiline: string[] = [];
    let nodes = 0;
    let relationships = 0;
    for (const [name, table] of Object.entries(this.t)) {
      table.close();
      if (table.multiline) multiline.push(table.bodyPath);
      const isNode = table.ids.length === 1;
      if (isNode) nodes += table.rows;
      else relationships += table.rows;
      if (table.rows === 0) continue;
      args.push(`--${isNode ? "nodes" : "relationships"}=${name}=${table.headerPath},${table.bodyPath}`);
    }
    if (multiline.length > 0) args.push("--multiline-fields-format=v2", `--multiline-fields=${multiline.join(",")}`);
    args.push(`--array-delimiter=U+001F`);
    return { args, influences: p.size, nodes, relationships };
  }

  /**
   * Imports everything added into the local server's (empty) database: stop, import, start,
   * migrate, then the ablation summaries of the features with validated nodes.
   */
  async run(opts: { log?: Log } = {}): Promise<BulkSummary> {
    const log = opts.log ?? (() => {});
    await assertBulkTarget();
    const { args, influences, nodes, relationships } = this.close();
    const csvSeconds = (performance.now() - this.t0) / 1000;
    log(
      `bulk: ${nodes} nodes, ${relationships} relationships (${influences} INFLUENCES) as CSV in ${csvSeconds.toFixed(1)} s`,
    );
    const imp = await importLocalStore([...args, `--report-file=${join(this.dir, "import.report")}`], {
      log,
      // 0003's backfill of INFLUENCES.key: every imported INFLUENCES row carries its key
      dataWrittenByImport: ["0003:1"],
    });
    const t2 = performance.now();
    const ids = [...this.validated].sort();
    for (let i = 0; i < ids.length; i += 5000) {
      await writeTx((tx) => refreshAblationSummaries(tx, ids.slice(i, i + 5000)));
    }
    return {
      nodes,
      relationships,
      influences,
      csvSeconds,
      stopSeconds: imp.stopMs / 1000,
      importSeconds: imp.importMs / 1000,
      importStages: Object.fromEntries(Object.entries(imp.importStages).map(([k, ms]) => [k, ms / 1000])),
      startSeconds: (imp.startMs ?? 0) / 1000,
      migrateSeconds: imp.migrateMs / 1000,
      finishSeconds: (performance.now() - t2) / 1000,
    };
  }
}

/** Throws one sentence unless NEO4J_URI is the local managed server and its database holds no atlas data. */
export async function assertBulkTarget(): Promise<void> {
  const config = loadConfig();
  if (!config.local) {
    throw new DbError(
      `bulk import builds the store of the local managed server offline, but NEO4J_URI=${config.uri} is another server: ingest without --bulk`,
    );
  }
  const any = await readTx((tx) =>
    tx.maybeOne<{ l: string[] }>("MATCH (n) WHERE NOT n:Migration RETURN labels(n) AS l LIMIT 1"),
  );
  if (any) {
    throw new DbError(
      `bulk import needs an empty database, but ${config.uri} already holds atlas data (a ${any.l.join(":")} node): ingest without --bulk, or npm run db:reset first`,
    );
  }
}
