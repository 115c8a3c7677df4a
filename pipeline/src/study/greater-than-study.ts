// `greaterThanStudy`: the greater-than task on a model + CLT, after Hanna et al. (2023) and
// Goodfire's CLT replication on GPT-2 small.
//  1. task metrics (PD, cutoff sharpness, YY×ZZ probability heatmap) of the original model and of
//     the replacement model (every MLP output at positions ≥ 1 replaced by the CLT reconstruction,
//     no error terms, attention live; position 0 keeps its true MLP output as in the graphs);
//  2. attribution graphs of a balanced sample of prompts; features ranked by their node influence
//     at the final position, summed over graphs; the top N are studied;
//  3. per feature, the YY×ZZ heatmap of its direct effect on logit ZZ at the final position (the
//     graph edge feature → logit ZZ, raw logit direction through the frozen ln_final), averaged
//     over the prompts of each YY (0 where the feature is inactive), its mean activation per YY,
//     descriptors and types;
//  4. JSON for the database, PNG/SVG images and a Markdown report.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Rng, writeFileAtomic } from "@circuit-atlas/util";
import * as tf from "@tensorflow/tfjs";
import { attribute, buildContext, type CltLike, featureLogitEffects } from "../attribution/index.ts";
import { graphScores, nodeInfluence } from "../graph/index.ts";
import type { GPT2 } from "../model/index.ts";
import { replacementHooks } from "../transcoder/index.ts";
import { type GreaterThanDataset, type GreaterThanPrompt, greaterThanDataset, sampleBalanced } from "./dataset.ts";
import { classifyFeature, featureDescriptors } from "./descriptors.ts";
import {
  emptyHeatmap,
  type GreaterThanMetrics,
  greaterThanMetrics,
  type Heatmap,
  yearProbabilities,
} from "./metrics.ts";
import { renderHeatmapPng, renderHeatmapSvg } from "./render.ts";
import { goodfireVerdict, greaterThanReport, type StudyFeatureSummary } from "./report.ts";

export interface GreaterThanStudyOptions {
  model: GPT2;
  clt: CltLike;
  modelName: string;
  cltName: string;
  nouns: readonly string[];
  centuries?: number[];
  yyRange?: [number, number];
  /** Prompts for the task metrics (balanced over YY). */
  metricPrompts?: number;
  /** Prompts whose attribution graphs rank the features. */
  graphPrompts?: number;
  /** Prompts per YY for the feature heatmaps. */
  heatmapPromptsPerYY?: number;
  topN?: number;
  /** Features that also get an SVG heatmap (all top N get a PNG). */
  svgFeatures?: number;
  maxFeatureNodes?: number;
  batchSize?: number;
  seed?: number;
  outDir: string;
  onProgress?: (message: string) => void;
}

export interface StudyFeature extends StudyFeatureSummary {
  graphsActive: number;
  /** 100×100, rows YY (null = no prompt with that YY), columns ZZ. */
  heatmap: (number[] | null)[];
  /** Mean activation at the final position per YY (null = no data). */
  activationProfile: (number | null)[];
}

export interface GreaterThanStudyResult {
  model: string;
  clt: string;
  dataset: { nouns: string[]; centuries: number[]; prompts: number; droppedNouns: string[] };
  metrics: { original: MetricsJson; replacement: MetricsJson };
  graphs: { n: number; meanReplacementScore: number; meanCompletenessScore: number };
  features: StudyFeature[];
  verdict: ReturnType<typeof goodfireVerdict>;
  files: { json: string; report: string; images: string[] };
}

interface MetricsJson {
  n: number;
  probabilityDifference: number;
  cutoffSharpness: number;
  yearMass: number;
  heatmap: (number[] | null)[];
}

const round = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(5)) : x);

function heatmapJson(h: Heatmap): (number[] | null)[] {
  return Array.from({ length: h.rows }, (_, y) =>
    h.counts[y]! > 0 ? Array.from(h.values.subarray(y * h.cols, (y + 1) * h.cols), round) : null,
  );
}

function metricsJson(m: GreaterThanMetrics): MetricsJson {
  return {
    n: m.n,
    probabilityDifference: m.probabilityDifference,
    cutoffSharpness: m.cutoffSharpness,
    yearMass: m.yearMass,
    heatmap: heatmapJson(m.heatmap),
  };
}

/** p("00".."99") at the final position of every prompt (same length), original or replacement model. */
async function yearProbs(
  model: GPT2,
  clt: CltLike | null,
  prompts: readonly GreaterThanPrompt[],
  yearIds: number[],
  batch = 32,
): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  const V = model.config.vocabSize;
  for (let s = 0; s < prompts.length; s += batch) {
    const chunk = prompts.slice(s, s + batch);
    const ids = chunk.map((p) => model.toModelIds(p.tokens));
    const T = ids[0]!.length;
    const { logits } = model.run(
      ids,
      clt ? { hooks: replacementHooks(clt, { batch: chunk.length, positions: T }) } : {},
    );
    const last = tf.tidy(() =>
      tf.softmax(logits!.slice([0, T - 1, 0], [chunk.length, 1, V]).reshape([chunk.length, V])),
    );
    logits!.dispose();
    const p = (await last.data()) as Float32Array;
    last.dispose();
    chunk.forEach((_, b) => {
      out.push(yearProbabilities(p.subarray(b * V, (b + 1) * V), yearIds));
    });
  }
  return out;
}

export async function greaterThanStudy(o: GreaterThanStudyOptions): Promise<GreaterThanStudyResult> {
  const log = o.onProgress ?? (() => {});
  const seed = o.seed ?? 0;
  const { ds, yearIds } = studyDataset(o);
  log(`${ds.prompts.length} prompts (${ds.nouns.length} nouns, centuries ${[...ds.validYears.keys()].join(",")})`);
  const task = await taskMetrics(o, ds, yearIds, seed);
  log(
    `original PD ${task.original.probabilityDifference.toFixed(3)}, sharpness ${task.original.cutoffSharpness.toFixed(3)}; ` +
      `replacement PD ${task.replacement.probabilityDifference.toFixed(3)}, sharpness ${task.replacement.cutoffSharpness.toFixed(3)}`,
  );
  const ranking = await rankFeatures(o, ds, seed + 1, log);
  log(`${ranking.activeFeatures} features active at the final position; studying the top ${ranking.ranked.length}`);
  const heat = await heatmapSums(o, ds, ranking.ranked, yearIds, seed + 2, log);
  return writeStudyFiles(o, ds, task, ranking, heat);
}

/** The dataset, restricted to the prompts the model's vocabulary can encode, and the model ids of "00".."99". */
function studyDataset(o: GreaterThanStudyOptions): { ds: GreaterThanDataset; yearIds: number[] } {
  const { model } = o;
  const inVocab = (ids: number[]) => {
    try {
      model.toModelIds(ids);
      return true;
    } catch {
      return false;
    }
  };
  const dsOpts: Parameters<typeof greaterThanDataset>[0] = { nouns: o.nouns };
  if (o.centuries) dsOpts.centuries = o.centuries;
  if (o.yyRange) dsOpts.yyRange = o.yyRange;
  const ds0 = greaterThanDataset(dsOpts);
  const prompts = ds0.prompts.filter((p) => inVocab(p.tokens));
  if (prompts.length === 0) throw new Error("no greater-than prompt fits the model's vocabulary");
  const ds = { ...ds0, prompts };
  return { ds, yearIds: model.toModelIds(ds.yearTokenIds) };
}

interface TaskMetrics {
  prompts: GreaterThanPrompt[];
  original: GreaterThanMetrics;
  replacement: GreaterThanMetrics;
}

/** 1. PD, sharpness and the YY×ZZ heatmap of the original and the replacement model on a balanced sample. */
async function taskMetrics(
  o: GreaterThanStudyOptions,
  ds: GreaterThanDataset,
  yearIds: number[],
  seed: number,
): Promise<TaskMetrics> {
  const prompts = sampleBalanced(ds, o.metricPrompts ?? 490, seed);
  const orig = await yearProbs(o.model, null, prompts, yearIds);
  const repl = await yearProbs(o.model, o.clt, prompts, yearIds);
  return {
    prompts,
    original: greaterThanMetrics(prompts.map((p, i) => ({ yy: p.yy, p100: orig[i]! }))),
    replacement: greaterThanMetrics(prompts.map((p, i) => ({ yy: p.yy, p100: repl[i]! }))),
  };
}

interface RankedFeature {
  featureId: string;
  layer: number;
  featureIndex: number;
  /** Node influence at the final position, averaged over the graphs. */
  influence: number;
  /** Graphs in which the feature is active at the final position. */
  graphs: number;
}

interface FeatureRanking {
  nGraphs: number;
  meanReplacementScore: number;
  meanCompletenessScore: number;
  /** Features active at the final position in some graph. */
  activeFeatures: number;
  /** The top N by influence. */
  ranked: RankedFeature[];
}

/** 2. Attribution graphs of a balanced sample; features ranked by their influence at the final position. */
async function rankFeatures(
  o: GreaterThanStudyOptions,
  ds: GreaterThanDataset,
  seed: number,
  log: (message: string) => void,
): Promise<FeatureRanking> {
  const graphSet = sampleBalanced(ds, o.graphPrompts ?? 40, seed);
  const agg = new Map<string, { layer: number; featureIndex: number; influence: number; graphs: number }>();
  let sumRepl = 0;
  let sumCompl = 0;
  for (const [gi, p] of graphSet.entries()) {
    const r = await attribute(o.model, o.clt, p.tokens, {
      maxFeatureNodes: o.maxFeatureNodes ?? 7500,
      batchSize: o.batchSize ?? 64,
      checkAdditivity: false,
    });
    const g = r.graph;
    const inf = nodeInfluence(g);
    const sc = graphScores(g);
    sumRepl += sc.replacement;
    sumCompl += sc.completeness;
    g.features.forEach((f, i) => {
      if (f.position !== p.finalPosition) return;
      const key = `${f.layer}_${f.featureIndex}`;
      const e = agg.get(key) ?? { layer: f.layer, featureIndex: f.featureIndex, influence: 0, graphs: 0 };
      e.influence += inf[i]!;
      e.graphs++;
      agg.set(key, e);
    });
    if ((gi + 1) % 10 === 0 || gi + 1 === graphSet.length) log(`graphs: ${gi + 1}/${graphSet.length}`);
  }
  const ranked = [...agg.entries()]
    .map(([featureId, e]) => ({ featureId, ...e, influence: e.influence / graphSet.length }))
    .sort((a, b) => b.influence - a.influence)
    .slice(0, o.topN ?? 160);
  return {
    nGraphs: graphSet.length,
    meanReplacementScore: sumRepl / graphSet.length,
    meanCompletenessScore: sumCompl / graphSet.length,
    activeFeatures: agg.size,
    ranked,
  };
}

interface HeatmapSums {
  nPrompts: number;
  perYY: number;
  /** Per ranked feature: Σ over prompts of its direct effect on logit ZZ, [YY·100 + ZZ]. */
  sums: Float64Array[];
  /** Per ranked feature: Σ of its activation at the final position, per YY. */
  actSums: Float64Array[];
  /** Prompts per YY. */
  counts: Int32Array;
}

/** 3. The ranked features' direct effects on logit ZZ and activations, summed over `perYY` random prompts of each YY. */
async function heatmapSums(
  o: GreaterThanStudyOptions,
  ds: GreaterThanDataset,
  ranked: RankedFeature[],
  yearIds: number[],
  seed: number,
  log: (message: string) => void,
): Promise<HeatmapSums> {
  const { model, clt } = o;
  const rand = new Rng(seed).uniform;
  const perYY = o.heatmapPromptsPerYY ?? 6;
  const byYY = new Map<number, GreaterThanPrompt[]>();
  for (const p of ds.prompts) byYY.set(p.yy, [...(byYY.get(p.yy) ?? []), p]);
  const heatSet: GreaterThanPrompt[] = [];
  for (const [, list] of [...byYY.entries()].sort((a, b) => a[0] - b[0])) {
    const pool = [...list];
    for (let k = 0; k < Math.min(perYY, pool.length); k++)
      heatSet.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]!);
  }
  const index = new Map(ranked.map((f, i) => [f.featureId, i]));
  const sums = ranked.map(() => new Float64Array(100 * 100));
  const actSums = ranked.map(() => new Float64Array(100));
  const counts = new Int32Array(100);
  for (const [hi, p] of heatSet.entries()) {
    const ctx = await buildContext(model, clt, model.toModelIds(p.tokens));
    counts[p.yy]!++;
    const { features, effects } = featureLogitEffects(ctx, yearIds, ctx.T - 1);
    features.forEach((f, i) => {
      const k = index.get(`${f.layer}_${f.featureIndex}`);
      if (k === undefined) return;
      actSums[k]![p.yy]! += f.activation;
      for (let zz = 0; zz < 100; zz++) sums[k]![p.yy * 100 + zz]! += effects[zz * features.length + i]!;
    });
    if ((hi + 1) % 50 === 0 || hi + 1 === heatSet.length) log(`heatmap prompts: ${hi + 1}/${heatSet.length}`);
  }
  return { nPrompts: heatSet.length, perYY, sums, actSums, counts };
}

/** The k-th ranked feature's mean heatmap and activation profile per YY, descriptors, types and images. */
function studyFeature(
  f: RankedFeature,
  k: number,
  heat: HeatmapSums,
  svg: boolean,
  writeImage: (rel: string, data: string | Uint8Array) => void,
): StudyFeature {
  const { sums, actSums, counts } = heat;
  const h = emptyHeatmap();
  const act = new Float64Array(100);
  for (let y = 0; y < 100; y++) {
    h.counts[y] = counts[y]!;
    if (counts[y]! === 0) continue;
    act[y] = actSums[k]![y]! / counts[y]!;
    for (let z = 0; z < 100; z++) h.values[y * 100 + z] = sums[k]![y * 100 + z]! / counts[y]!;
  }
  const descriptors = featureDescriptors(h, act);
  const types = classifyFeature(descriptors);
  const image = `features/${f.featureId}.png`;
  const opts = { title: `feature ${f.featureId}: effect on logit ZZ`, xLabel: "ZZ", yLabel: "YY", signed: true };
  writeImage(image, renderHeatmapPng(h, opts));
  if (svg) writeImage(`features/${f.featureId}.svg`, renderHeatmapSvg(h, opts));
  return {
    featureId: f.featureId,
    layer: f.layer,
    featureIndex: f.featureIndex,
    influence: f.influence,
    graphsActive: f.graphs,
    types,
    descriptors,
    image,
    heatmap: heatmapJson(h),
    activationProfile: Array.from(act, (v, y) => (counts[y]! > 0 ? round(v) : null)),
  };
}

/** 4. Images of both models' heatmaps and of every studied feature, the JSON and the report. */
function writeStudyFiles(
  o: GreaterThanStudyOptions,
  ds: GreaterThanDataset,
  task: TaskMetrics,
  ranking: FeatureRanking,
  heat: HeatmapSums,
): GreaterThanStudyResult {
  mkdirSync(join(o.outDir, "features"), { recursive: true });
  const images: string[] = [];
  const writeImage = (rel: string, data: string | Uint8Array) => {
    writeFileAtomic(join(o.outDir, rel), data);
    images.push(rel);
  };
  for (const [name, m] of [
    ["original", task.original],
    ["replacement", task.replacement],
  ] as const) {
    const opts = {
      title: `${name} model p(ZZ | YY)`,
      xLabel: "ZZ (predicted year)",
      yLabel: "YY (start year)",
      signed: false,
    };
    writeImage(`${name}.png`, renderHeatmapPng(m.heatmap, opts));
    writeImage(`${name}.svg`, renderHeatmapSvg(m.heatmap, opts));
  }
  const features = ranking.ranked.map((f, k) => studyFeature(f, k, heat, k < (o.svgFeatures ?? 16), writeImage));
  const verdict = goodfireVerdict(features);
  const jsonPath = join(o.outDir, "greater-than.json");
  const reportPath = join(o.outDir, "report.md");
  const result: GreaterThanStudyResult = {
    model: o.modelName,
    clt: o.cltName,
    dataset: {
      nouns: ds.nouns,
      centuries: [...ds.validYears.keys()],
      prompts: ds.prompts.length,
      droppedNouns: ds.droppedNouns,
    },
    metrics: { original: metricsJson(task.original), replacement: metricsJson(task.replacement) },
    graphs: {
      n: ranking.nGraphs,
      meanReplacementScore: ranking.meanReplacementScore,
      meanCompletenessScore: ranking.meanCompletenessScore,
    },
    features,
    verdict,
    files: { json: jsonPath, report: reportPath, images },
  };
  writeFileAtomic(jsonPath, JSON.stringify(result));
  writeFileAtomic(
    reportPath,
    greaterThanReport({
      title: "Greater-than study",
      model: o.modelName,
      clt: o.cltName,
      nPrompts: task.prompts.length,
      nGraphs: ranking.nGraphs,
      original: task.original,
      replacement: task.replacement,
      images: { original: "original.png", replacement: "replacement.png" },
      graphScores: {
        replacement: result.graphs.meanReplacementScore,
        completeness: result.graphs.meanCompletenessScore,
      },
      features,
      notes: [
        `Feature heatmaps: direct effect of the feature on logit ZZ at the final position (graph edge through frozen attention and ln_final), mean over ${heat.nPrompts} prompts (${heat.perYY} per YY), 0 where inactive.`,
        `Features ranked by node influence at the final position, averaged over ${ranking.nGraphs} attribution graphs.`,
        "Replacement model: MLP outputs at positions ≥ 1 replaced by the CLT reconstruction (no error terms), attention live.",
      ],
    }),
  );
  return result;
}
