// The end-of-build summary: what was built and how good it is, read back from the run's own files
// (so a fully skipped rerun prints the same numbers), plus the per-stage timings of this run.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { currentLabels, readLabels } from "../features/index.ts";
import type { PlanContext } from "./plan.ts";
import { runPaths } from "./plan.ts";
import type { StageReport } from "./run.ts";

export interface BuildSummary {
  model: string;
  features: { layers: number; perLayer: number; total: number } | null;
  eval: { fvuMean: number; l0Total: number; top1Agreement: number; ceRecovered: number } | null;
  study: { pdModel: number; pdReplacement: number; verdict: string } | null;
  graphs: number;
  labels: number;
  stages: StageReport[];
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

export async function buildSummary(ctx: PlanContext, stages: StageReport[]): Promise<BuildSummary> {
  const p = runPaths(ctx.out, ctx.name);
  const labels = [];
  for await (const r of readLabels(p.clt)) labels.push(r);
  const cfg = readJson<CltConfigFile>(join(p.clt, "config.json"));
  const ev = readJson<EvalFile>(join(p.clt, "eval.json"));
  const st = readJson<StudyFile>(join(p.study, "greater-than.json"));
  const shape = cfg?.shape;
  return {
    model: ctx.modelDir,
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
    labels: currentLabels(labels).size,
    stages,
  };
}

export function formatSummary(s: BuildSummary, urls: string[] = []): string {
  const f = (x: number, d = 3) => x.toFixed(d);
  const lines = [
    "── Circuit Atlas build ──",
    `model      ${s.model}`,
    s.features
      ? `CLT        ${s.features.layers} layers × ${s.features.perLayer} features = ${s.features.total}`
      : "CLT        —",
    s.eval
      ? `quality    FVU ${f(s.eval.fvuMean)}, L0 ${s.eval.l0Total.toFixed(1)} (all layers), top-1 agreement ${(100 * s.eval.top1Agreement).toFixed(1)} %, CE recovered ${(100 * s.eval.ceRecovered).toFixed(1)} %`
      : "quality    —",
    s.study
      ? `greater-than  PD model ${f(s.study.pdModel)}, replacement ${f(s.study.pdReplacement)}; ${s.study.verdict}`
      : "greater-than  (study disabled)",
    `graphs     ${s.graphs}`,
    `labels     ${s.labels} features labeled`,
    `stages     ${s.stages.map((r) => `${r.name} ${r.action === "skip" ? "skipped" : `${r.seconds.toFixed(0)} s`}`).join(", ")}`,
    ...urls,
  ];
  return lines.join("\n");
}
