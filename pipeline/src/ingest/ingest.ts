// `atlas ingest`: pipeline outputs into the atlas. Order: model + transcoder, (virtual weights),
// graphs (one transaction each, idempotent by content hash), studies. Every step is idempotent,
// so an interrupted ingest is completed by running it again.

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { FeatureRow } from "@circuit-atlas/db";
import {
  ensureTranscoderFeatures,
  type GraphWriteResult,
  upsertFeatures,
  upsertLabels,
  upsertModels,
  upsertTranscoders,
  writeGraph,
  writeStudy,
  writeVirtualWeights,
} from "@circuit-atlas/db";
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
import { StepProgress } from "../lm/progress.ts";
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
  /** Graphs written at the same time (the server has few cores; default 1). */
  concurrency?: number;
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
  await upsertModels([model]);
  await upsertTranscoders([transcoder]);
  const stubs = await ensureTranscoderFeatures(transcoder.id);
  log(
    `transcoder ${transcoder.id} (${transcoder.nLayers}×${transcoder.nFeatures} features, ${stubs} new) on model ${model.id}`,
  );

  let features = 0;
  if (existsSync(join(cltDir, FEATURES_DIR, FEATURE_MANIFEST_FILE))) {
    const tf = performance.now();
    let batch: FeatureRow[] = [];
    const flush = async () => {
      features += await upsertFeatures(batch, { batchSize: batch.length });
      batch = [];
    };
    for await (const f of readFeatureStats(cltDir)) {
      batch.push(featureRowFromStats(transcoder.id, f));
      if (batch.length === 1000) await flush();
    }
    await flush();
    log(`feature statistics: ${features} features (${Math.round(features / ((performance.now() - tf) / 1000))}/s)`);
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

  const summary: IngestSummary["graphs"] = { created: 0, replaced: 0, unchanged: 0, nodes: 0, edges: 0 };
  const bar = o.progress && graphFiles.length > 0 ? new StepProgress(graphFiles.length, 0) : null;
  let next = 0;
  let done = 0;
  const tg = performance.now();
  const worker = async () => {
    while (next < graphFiles.length) {
      const file = graphFiles[next++]!;
      const src = readGraphFile(file, { transcoderId: transcoder.id });
      if (src.unmatchedValidation > 0) {
        log(`${file}: ${src.unmatchedValidation} validated nodes are not in the pruned graph (not stored)`);
      }
      const r: GraphWriteResult = await writeGraph(src.input);
      summary[r.status]++;
      summary.nodes += r.nodes;
      summary.edges += r.edges;
      done++;
      const s = (performance.now() - tg) / 1000;
      bar?.update(done, `${r.graphId} ${r.status}; ${Math.round(summary.edges / Math.max(s, 1e-3))} edges/s`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 1) }, worker));
  bar?.end();
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
    seconds: (performance.now() - t0) / 1000,
  };
}
