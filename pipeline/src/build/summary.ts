// The end-of-build summary: what was built and how good it is, read back from the run's own files
// (so a fully skipped rerun prints the same numbers), plus the per-stage timings of this run.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { formatDuration } from "@circuit-atlas/util";
import { currentLabels, readLabels } from "../features/index.ts";
import type { PlanContext } from "./plan.ts";
import { runPaths } from "./plan.ts";
import type { StageReport } from "./run.ts";

export interface BuildSummary {
  /** The model as the config names it ("demo", a hub id or a folder). */
  model: string;
  /** The resolved model: its folder and content key. */
  modelDir: string;
  modelKey: string;
  features: { layers: number; perLayer: number; total: number } | null;
  eval: { fvuMean: number; l0Total: number; top1Agreement: number; ceRecovered: number } | null;
  study: { pdModel: number; pdReplacement: number; verdict: string } | null;
  graphs: number;
  labels: number;
  /** Current labels per source (heuristic, llm, human). */
  labelSources: Record<string, number>;
  /** Mean balanced accuracy per score type over the current labels that carry it. */
  labelScores: Record<string, { mean: number; labels: number }>;
  stages: StageReport[];
  /** Wall time of this run, seconds (stages run side by side, so less than their sum). */
  seconds: number;
}

// The shapes written by `clt train` (config.json), `clt eval` (eval.json) and the study, as far as read here.
interface CltConfigFile {
  shape: { nLayers: number; nFeatures: number };
}
interface EvalFile {
  fvu: { mean: number };
  l0: { total: number };
  replacement: { top1_agreement: number; ce_recovered: number };
}
interface StudyFile {
  metrics: { original: { probabilityDifference: number }; replacement: { probabilityDifference: number } };
  verdict?: { verdict: string };
}

function readJson<T>(path: string): T | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as T) : null;
}

export async function buildSummary(
  ctx: PlanContext,
  stages: StageReport[],
  run: { model: string; seconds: number },
): Promise<BuildSummary> {
  const p = runPaths(ctx.out, ctx.name);
  const labels = [];
  for await (const r of readLabels(p.clt)) labels.push(r);
  const cfg = readJson<CltConfigFile>(join(p.clt, "config.json"));
  const ev = readJson<EvalFile>(join(p.clt, "eval.json"));
  const st = readJson<StudyFile>(join(p.study, "greater-than.json"));
  const shape = cfg?.shape;
  const current = [...currentLabels(labels).values()];
  const labelSources: Record<string, number> = {};
  const sums: Record<string, { sum: number; labels: number }> = {};
  for (const l of current) {
    labelSources[l.source] = (labelSources[l.source] ?? 0) + 1;
    for (const sc of l.scores) {
      const acc = sums[sc.type] ?? { sum: 0, labels: 0 };
      acc.sum += sc.value;
      acc.labels++;
      sums[sc.type] = acc;
    }
  }
  return {
    model: run.model,
    modelDir: ctx.modelDir,
    modelKey: ctx.modelKey,
    features: shape
      ? { layers: shape.nLayers, perLayer: shape.nFeatures, total: shape.nLayers * shape.nFeatures }
      : null,
    eval: ev
      ? {
          fvuMean: ev.fvu.mean,
          l0Total: ev.l0.total,
          top1Agreement: ev.replacement.top1_agreement,
          ceRecovered: ev.replacement.ce_recovered,
        }
      : null,
    study: st
      ? {
          pdModel: st.metrics.original.probabilityDifference,
          pdReplacement: st.metrics.replacement.probabilityDifference,
          verdict: st.verdict?.verdict ?? "",
        }
      : null,
    graphs: existsSync(p.graphs) ? readdirSync(p.graphs).filter((f) => f.endsWith(".graph.safetensors")).length : 0,
    labels: current.length,
    labelSources,
    labelScores: Object.fromEntries(
      Object.entries(sums).map(([k, v]) => [k, { mean: v.sum / v.labels, labels: v.labels }]),
    ),
    stages,
    seconds: run.seconds,
  };
}

export function formatSummary(s: BuildSummary, urls: string[] = []): string {
  const f = (x: number, d = 3) => x.toFixed(d);
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const sources = Object.entries(s.labelSources)
    .map(([k, n]) => `${n} ${k}`)
    .join(", ");
  const scores = Object.entries(s.labelScores)
    .map(([k, v]) => `${k} ${f(v.mean, 2)} (${v.labels} labels)`)
    .join(", ");
  const lines = [
    "── Circuit Atlas build ──",
    `model         ${s.model === s.modelDir ? s.model : `${s.model} (${shortPath(s.modelDir)})`}, key ${s.modelKey.slice(0, 12)}`,
    s.features
      ? `CLT           ${s.features.layers} layers × ${s.features.perLayer} features = ${s.features.total}`
      : "CLT           —",
    s.eval
      ? `held-out      FVU ${f(s.eval.fvuMean)}, L0 ${s.eval.l0Total.toFixed(1)} (all layers), top-1 agreement ${pct(s.eval.top1Agreement)}, CE recovered ${pct(s.eval.ceRecovered)}`
      : "held-out      —",
    s.study
      ? `greater-than  PD model ${f(s.study.pdModel)}, replacement ${f(s.study.pdReplacement)}: ${s.study.verdict}`
      : "greater-than  (study disabled)",
    `graphs        ${s.graphs} attribution graphs`,
    `labels        ${s.labels} features labeled${sources ? ` (${sources})` : ""}; ${scores ? `scores: ${scores}` : "unscored (scores need an LLM judge: set OPENAI_BASE_URL)"}`,
    `stages        ${s.stages.map((r) => `${r.name} ${r.action === "skip" ? "skipped" : formatDuration(r.seconds)}`).join(", ")}`,
    `wall time     ${formatDuration(s.seconds)}`,
    ...urls,
  ];
  return lines.join("\n");
}

/** A path under the current directory as a relative one (what the user typed), others as given. */
function shortPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith("..") && !isAbsolute(r) ? r : p;
}
