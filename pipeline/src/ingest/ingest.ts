// `atlas ingest`: pipeline outputs into the atlas. Order: model + transcoder, features, labels,
// (virtual weights), graphs (batches of whole graphs per transaction, idempotent by content hash),
// studies. Every step is idempotent, so an interrupted ingest is completed by running it again.
// `--bulk` (empty local database only): model, transcoder, graphs and features go through Neo4j's
// offline importer instead (db BulkImport), the rest over Bolt as usual.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BulkSummary, FeatureRow, GraphInput } from "@circuit-atlas/db";
import {
  assertBulkTarget,
  BulkImport,
  ensureTranscoderFeatures,
  type GraphWriteResult,
  upsertFeatures,
  upsertLabels,
  upsertModels,
  upsertTranscoders,
  writeGraphs,
  writeStudy,
  writeVirtualWeights,
} from "@circuit-atlas/db";
import { createProgress } from "@circuit-atlas/util";
import { loadCltDir } from "../attribution/index.ts";
import {
  currentLabels,
  FEATURE_MANIFEST_FILE,
  FEATURES_DIR,
  LABELS_DIR,
  LABELS_FILE,
  readFeatureStats,
  readLabels,
} from "../features/formats.ts";
import {
  featureRowFromStats,
  labelInputFromRecord,
  readCltRun,
  readGraphFile,
  readGreaterThanStudy,
  scanRunDir,
} from "./sources.ts";
import { virtualWeights } from "./virtual.ts";

export interface IngestOptions {
  /** Graph JSON files (default: those found in the run dir). */
  graphs?: string[];
  /** CLT run dir (default: RUN_DIR when it is one). */
  clt?: string;
  /** Top-k virtual weights per feature (0 = skip). */
  virtualTopK?: number;
  /** Graph batches written at the same time (the server has few cores; default 1). */
  concurrency?: number;
  /** Graphs are written in transactions of whole graphs holding about this many edges (default 50,000). */
  edgesPerTx?: number;
  /**
   * First load of an empty local database through Neo4j's offline importer (model, transcoder,
   * features, graphs and their aggregates); labels, virtual weights and studies then go over Bolt.
   */
  bulk?: boolean;
  /** Where the bulk import's CSV files go (default: a temporary directory, removed afterwards). */
  bulkDir?: string;
  log?: (message: string) => void;
  progress?: boolean;
}

export interface IngestSummary {
  transcoderId: string;
  graphs: { created: number; replaced: number; unchanged: number; nodes: number; edges: number };
  studies: number;
  features: number;
  labels: number;
  virtualEdges: number;
  /** The offline import's sizes and phase times (with `bulk`). */
  bulk?: BulkSummary;
  seconds: number;
}

export async function ingestRunDir(runDir: string, o: IngestOptions = {}): Promise<IngestSummary> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const found = scanRunDir(runDir);
  const graphFiles = o.graphs ?? found.graphs;
  // Graphs name their CLT by id and content hash, not by a local path: the CLT dir comes from here.
  const cltDir = o.clt ?? found.cltDir;
  if (!cltDir) throw new Error(`ingest: ${runDir} is not a CLT run; pass --clt <dir>`);
  const { model, transcoder } = readCltRun(resolve(cltDir));
  const summary: IngestSummary["graphs"] = { created: 0, replaced: 0, unchanged: 0, nodes: 0, edges: 0 };
  const count = (rs: GraphWriteResult[]) => {
    for (const r of rs) {
      summary[r.status]++;
      summary.nodes += r.nodes;
      summary.edges += r.edges;
    }
  };
  const bar = createProgress({
    label: "ingest",
    total: graphFiles.length,
    unit: "graphs",
    quiet: !(o.progress && graphFiles.length > 0),
  });
  const tg = performance.now();
  const progress = (done: number, last: GraphWriteResult) => {
    const s = (performance.now() - tg) / 1000;
    bar.update(done, `${last.graphId} ${last.status}; ${Math.round(summary.edges / Math.max(s, 1e-3))} edges/s`);
  };
  const readGraph = (file: string) => {
    const src = readGraphFile(file, { transcoderId: transcoder.id });
    if (src.unmatchedValidation > 0) {
      log(`${file}: ${src.unmatchedValidation} validated nodes are not in the pruned graph (not stored)`);
    }
    return src.input;
  };

  let features = 0;
  let bulkSummary: BulkSummary | undefined;
  if (o.bulk) {
    await assertBulkTarget();
    const dir = o.bulkDir ?? mkdtempSync(join(tmpdir(), "atlas-bulk-"));
    try {
      const bulk = new BulkImport(dir);
      bulk.addModel(model);
      bulk.addTranscoder(transcoder);
      graphFiles.forEach((file, i) => {
        const r = bulk.addGraph(readGraph(file));
        count([r]);
        progress(i + 1, r);
      });
      bar.stop();
      features = await readFeatureRows(cltDir, transcoder.id, async (rows) => bulk.addFeatures(rows));
      bulkSummary = await bulk.run({ log });
      log(
        `bulk import: ${bulkSummary.nodes} nodes, ${bulkSummary.relationships} relationships; CSV ` +
          `${bulkSummary.csvSeconds.toFixed(1)} s, server stop ${bulkSummary.stopSeconds.toFixed(1)} s, ` +
          `import ${bulkSummary.importSeconds.toFixed(1)} s, server start ${bulkSummary.startSeconds.toFixed(1)} s, ` +
          `migrations ${bulkSummary.migrateSeconds.toFixed(1)} s, summaries ${bulkSummary.finishSeconds.toFixed(1)} s`,
      );
    } finally {
      if (o.bulkDir === undefined) rmSync(dir, { recursive: true, force: true });
    }
  } else {
    await upsertModels([model]);
    await upsertTranscoders([transcoder]);
    const stubs = await ensureTranscoderFeatures(transcoder.id);
    log(
      `transcoder ${transcoder.id} (${transcoder.nLayers}×${transcoder.nFeatures} features, ${stubs} new) on model ${model.id}`,
    );
    const tf = performance.now();
    features = await readFeatureRows(cltDir, transcoder.id, (rows) =>
      upsertFeatures(rows, { batchSize: rows.length }).then(() => undefined),
    );
    if (features > 0) {
      log(`feature statistics: ${features} features (${Math.round(features / ((performance.now() - tf) / 1000))}/s)`);
    }
  }

  let labels = 0;
  if (existsSync(join(cltDir, LABELS_DIR, LABELS_FILE))) {
    const records = [];
    for await (const r of readLabels(cltDir)) records.push(r);
    const current = new Set([...currentLabels(records).values()].map((r) => r.id));
    labels = await upsertLabels(records.map((r) => labelInputFromRecord(transcoder.id, r, current.has(r.id))));
    log(`labels: ${labels} (${current.size} current)`);
  }

  let virtualEdges = 0;
  if ((o.virtualTopK ?? 0) > 0) {
    const { clt } = loadCltDir(cltDir);
    const edges = virtualWeights(clt, transcoder.id, o.virtualTopK!);
    virtualEdges = await writeVirtualWeights(transcoder.id, edges);
    log(`virtual weights: ${virtualEdges} edges (top ${o.virtualTopK} per feature)`);
  }

  if (!o.bulk) {
    let next = 0;
    let done = 0;
    const edgesPerTx = o.edgesPerTx ?? 50_000;
    const worker = async () => {
      while (next < graphFiles.length) {
        // One transaction per batch of whole graphs (the batch's INFLUENCES pairs are summed once).
        const batch: GraphInput[] = [];
        let batchEdges = 0;
        while (next < graphFiles.length && (batch.length === 0 || batchEdges < edgesPerTx)) {
          const input = readGraph(graphFiles[next++]!);
          batch.push(input);
          batchEdges += input.edges.length;
        }
        const rs = await writeGraphs(batch);
        count(rs);
        done += rs.length;
        progress(done, rs.at(-1)!);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 1) }, worker));
    bar.stop();
  }
  if (graphFiles.length > 0) {
    log(
      `graphs: ${summary.created} created, ${summary.replaced} replaced, ${summary.unchanged} unchanged ` +
        `(${summary.nodes} nodes, ${summary.edges} edges)`,
    );
  }

  for (const file of found.studies) {
    const n = await writeStudy(readGreaterThanStudy(file, { transcoderId: transcoder.id }));
    log(`study ${file}: ${n} features`);
  }
  return {
    transcoderId: transcoder.id,
    graphs: summary,
    studies: found.studies.length,
    features,
    labels,
    virtualEdges,
    ...(bulkSummary ? { bulk: bulkSummary } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Streams the CLT dir's feature statistics (if any) as FeatureRows in batches of 1,000 to `sink`. */
async function readFeatureRows(
  cltDir: string,
  transcoderId: string,
  sink: (rows: FeatureRow[]) => Promise<void>,
): Promise<number> {
  if (!existsSync(join(cltDir, FEATURES_DIR, FEATURE_MANIFEST_FILE))) return 0;
  let n = 0;
  let batch: FeatureRow[] = [];
  for await (const f of readFeatureStats(cltDir)) {
    batch.push(featureRowFromStats(transcoderId, f));
    if (batch.length === 1000) {
      await sink(batch);
      n += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) await sink(batch);
  return n + batch.length;
}
