// First load of an empty atlas through Neo4j's offline importer (`neo4j-admin database import full`):
// the rows the Bolt writers would send are written as CSV files instead (the same encodeRow /
// encodeGraph checks, the same property types), INFLUENCES and Feature.graphCount are aggregated in
// memory over all graphs, then the local server is stopped, the store is built by the importer,
// the server restarts, migrations create the constraints and indexes, and the ablation summaries
// are computed by the same Cypher as the Bolt path. Only for the local managed server and an empty
// database; everything else (labels, studies, virtual weights, later graphs) goes through Bolt.
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type Integer, isInt } from "neo4j-driver";
import type { z } from "zod";
import { loadConfig } from "../config.ts";
import { readTx, writeTx } from "../driver.ts";
import { DbError } from "../errors.ts";
import { importLocalStore, type Log } from "../server/commands.ts";
import { int } from "../values.ts";
import { FeatureRow, GraphNodeRow, GraphRow, ModelRow, TranscoderRow } from "./model.ts";
import {
  encodeGraph,
  encodeRow,
  type GraphInput,
  type GraphWriteResult,
  influencesKey,
  refreshAblationSummaries,
} from "./write.ts";

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
    /** Leading id columns (`id:ID(Feature)`, `:START_ID(GraphNode)`, …), given by the caller per row. */
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

  add(ids: string[], row: Row): void {
    const out = ids.map(quote);
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
    for (const [c, t] of Object.entries(types)) this.types.set(c, t);
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

/** Growable numeric columns for the INFLUENCES aggregates (tens of millions of pairs fit). */
class PairSums {
  private readonly index = new Map<number, number>();
  a = new Int32Array(1 << 16);
  b = new Int32Array(1 << 16);
  s = new Float64Array(1 << 16);
  sa = new Float64Array(1 << 16);
  c = new Int32Array(1 << 16);
  g = new Int32Array(1 << 16);
  size = 0;

  add(a: number, b: number, s: number, sa: number, c: number): void {
    const key = a * 2 ** 26 + b;
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.size++;
      if (i === this.a.length) this.grow();
      this.index.set(key, i);
      this.a[i] = a;
      this.b[i] = b;
    }
    this.s[i]! += s;
    this.sa[i]! += sa;
    this.c[i]! += c;
    this.g[i]! += 1;
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
  }
}

const keysOf = (schema: z.ZodObject) => Object.keys(schema.shape);

export interface BulkSummary {
  nodes: number;
  relationships: number;
  influences: number;
  /** Seconds: writing the CSV files (graph reading included), the offline import, restart + migrations + summaries. */
  csvSeconds: number;
  importSeconds: number;
  finishSeconds: number;
}

/**
 * Collects an empty atlas's first load as CSV files in `dir`, then `run()` imports them. Add the
 * model, transcoders and graphs first, then the feature statistics (`addFeatures`; a feature's
 * graphCount comes from the graphs added before); every transcoder feature without statistics gets
 * the same stub as `ensureTranscoderFeatures`.
 */
export class BulkImport {
  private readonly t: Record<string, CsvTable>;
  private readonly featureSlot = new Map<string, number>();
  private readonly featureIds: string[] = [];
  private graphCount = new Int32Array(1 << 16);
  private readonly featureWritten = new Set<string>();
  private readonly transcoders = new Map<string, { nLayers: number; nFeatures: number }>();
  private readonly graphIds = new Set<string>();
  private readonly validated = new Set<string>();
  private readonly pairs = new PairSums();
  private readonly ingestedAt = new Date().toISOString();
  private readonly t0 = performance.now();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    const node = (name: string, label: string, schema: z.ZodObject) =>
      new CsvTable(
        dir,
        name,
        [`id:ID(${label})`],
        keysOf(schema).filter((k) => k !== "id"),
      );
    const rel = (name: string, from: string, to: string, columns: string[] = []) =>
      new CsvTable(dir, name, [`:START_ID(${from})`, `:END_ID(${to})`], columns);
    this.t = {
      Model: node("model", "Model", ModelRow),
      Transcoder: node("transcoder", "Transcoder", TranscoderRow),
      Feature: node("feature", "Feature", FeatureRow),
      Graph: node("graph", "Graph", GraphRow),
      GraphNode: node("graph-node", "GraphNode", GraphNodeRow),
      FOR_MODEL: rel("for-model", "Transcoder", "Model"),
      USES: rel("uses", "Graph", "Transcoder"),
      HAS_NODE: rel("has-node", "Graph", "GraphNode"),
      OF: rel("of", "GraphNode", "Feature"),
      ATTRIBUTES: rel("attributes", "GraphNode", "GraphNode", ["weight"]),
      INFLUENCES: rel("influences", "Feature", "Feature", ["key", "weightSum", "weightAbsSum", "count", "graphs"]),
    };
  }

  addModel(row: ModelRow): void {
    const r = encodeRow(ModelRow, row, "Model", `model ${row.id}`);
    this.t.Model!.add([r.id as string], r);
  }

  addTranscoder(row: TranscoderRow): void {
    const r = encodeRow(TranscoderRow, row, "Transcoder", `transcoder ${row.id}`);
    this.t.Transcoder!.add([r.id as string], r);
    this.t.FOR_MODEL!.add([r.id as string, r.modelId as string], {});
    this.transcoders.set(row.id, { nLayers: row.nLayers, nFeatures: row.nFeatures });
  }

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

  /** One graph (as `writeGraph` takes it); its transcoder must have been added. */
  addGraph(input: GraphInput): GraphWriteResult {
    const enc = encodeGraph(input, this.ingestedAt);
    const gid = enc.graph.id as string;
    if (this.graphIds.has(gid)) throw new DbError(`graph ${gid} is given twice`);
    if (!this.transcoders.has(enc.graph.transcoderId as string)) {
      throw new DbError(`graph ${gid}: transcoder ${enc.graph.transcoderId as string} is not in the import`);
    }
    this.graphIds.add(gid);
    this.t.Graph!.add([gid], enc.graph);
    this.t.USES!.add([gid, enc.graph.transcoderId as string], {});
    const inGraph = new Set<number>();
    for (const n of enc.nodes) {
      const nid = n.id as string;
      this.t.GraphNode!.add([nid], n);
      this.t.HAS_NODE!.add([gid, nid], {});
      if (n.kind !== "feature") continue;
      const fid = n.featureId as string;
      this.t.OF!.add([nid, fid], {});
      const s = this.slot(fid);
      if (!inGraph.has(s)) {
        inGraph.add(s);
        this.graphCount[s]!++;
      }
      if (n.ablationPredicted !== undefined) this.validated.add(fid);
    }
    // Edges are most of the data: formatted directly (a JS number prints as its shortest round-trip form).
    const q = enc.nodes.map((n) => quote(n.id as string));
    const lines: string[] = new Array(enc.w.length);
    for (let i = 0; i < enc.w.length; i++) lines[i] = `${q[enc.src[i]!]},${q[enc.dst[i]!]},${enc.w[i]}\n`;
    if (lines.length > 0) this.t.ATTRIBUTES!.addLines(lines.join(""), lines.length, { weight: "double" });
    for (const p of enc.pairs.values()) this.pairs.add(this.slot(p.a), this.slot(p.b), p.s, p.sa, p.c);
    return { graphId: gid, status: "created", nodes: enc.nodes.length, edges: enc.w.length, pairs: enc.pairs.size };
  }

  private addFeatureRow(r: Row): void {
    const id = r.id as string;
    if (this.featureWritten.has(id)) throw new DbError(`feature ${id} is given twice`);
    this.featureWritten.add(id);
    const s = this.featureSlot.get(id);
    const gc = s === undefined ? 0 : this.graphCount[s]!;
    this.t.Feature!.add([id], gc > 0 ? { ...r, graphCount: int(gc) } : r);
  }

  /** Feature statistics rows (as `upsertFeatures` takes them). */
  addFeatures(rows: FeatureRow[]): void {
    rows.forEach((row, i) => {
      this.addFeatureRow(encodeRow(FeatureRow, row, "Feature", `feature ${i} (${row.id})`));
    });
  }

  private stub(transcoderId: string, layer: number, featureIndex: number): void {
    const id = `${transcoderId}/${layer}_${featureIndex}`;
    if (this.featureWritten.has(id)) return;
    this.addFeatureRow({
      id,
      transcoderId,
      layer: int(layer),
      featureIndex: int(featureIndex),
      featureId: `${layer}_${featureIndex}`,
    });
  }

  /** Writes the remaining rows and headers; the importer's --nodes/--relationships arguments. */
  private close(): { args: string[]; influences: number; nodes: number; relationships: number } {
    for (const [tid, t] of this.transcoders) {
      for (let l = 0; l < t.nLayers; l++) for (let i = 0; i < t.nFeatures; i++) this.stub(tid, l, i);
    }
    // Features that graphs name outside their transcoder's declared range (Bolt creates them on the fly).
    for (const id of this.featureIds) {
      if (this.featureWritten.has(id)) continue;
      const m = /^(.*)\/(\d+)_(\d+)$/.exec(id)!;
      this.stub(m[1]!, Number(m[2]), Number(m[3]));
    }
    const p = this.pairs;
    for (let i = 0; i < p.size; i++) {
      const a = this.featureIds[p.a[i]!]!;
      const b = this.featureIds[p.b[i]!]!;
      this.t.INFLUENCES!.add([a, b], {
        key: influencesKey(a, b),
        weightSum: p.s[i],
        weightAbsSum: p.sa[i],
        count: int(p.c[i]!),
        graphs: int(p.g[i]!),
      });
    }
    const args: string[] = [];
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
    const t1 = performance.now();
    await importLocalStore([...args, `--report-file=${join(this.dir, "import.report")}`], { log });
    const importSeconds = (performance.now() - t1) / 1000;
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
      importSeconds,
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
