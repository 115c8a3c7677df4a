// Markdown report of a greater-than study, including a plain statement of whether the features
// found match the picture Goodfire reported for GPT-2 small (narrow-context comparison features,
// features that promote larger numbers regardless of the input, a parity detector).
import type { FeatureDescriptors, FeatureType } from "./descriptors.ts";

export interface ModelMetrics {
  probabilityDifference: number;
  cutoffSharpness: number;
  yearMass: number;
}

export interface StudyFeatureSummary {
  /** "{layer}_{featureIndex}" */
  featureId: string;
  layer: number;
  featureIndex: number;
  /** Aggregated node influence at the final position (over all prompts' graphs). */
  influence: number;
  types: FeatureType[];
  descriptors: FeatureDescriptors;
  /** Relative path of the feature's heatmap image, if written. */
  image?: string;
}

export interface StudyReportInput {
  title?: string;
  model: string;
  clt: string;
  nPrompts: number;
  nGraphs: number;
  original: ModelMetrics;
  replacement?: ModelMetrics;
  images?: { original?: string; replacement?: string };
  graphScores?: { replacement: number; completeness: number };
  features: StudyFeatureSummary[];
  notes?: string[];
}

export interface GoodfireVerdict {
  verdict: "reproduces" | "partially reproduces" | "does not reproduce";
  narrowComparators: number;
  largeNumberFeatures: number;
  parityFeatures: number;
  reasons: string[];
}

export function goodfireVerdict(features: readonly StudyFeatureSummary[]): GoodfireVerdict {
  const has = (f: StudyFeatureSummary, t: FeatureType) => f.types.includes(t);
  const narrowComparators = features.filter((f) => has(f, "narrow-context") && has(f, "greater-than")).length;
  const largeNumberFeatures = features.filter((f) => has(f, "large-numbers")).length;
  const parityFeatures = features.filter((f) => has(f, "parity")).length;
  const reasons = [
    `${narrowComparators} feature(s) active only for a narrow YY range that promote ZZ > YY (Goodfire: e.g. a feature for years near 11 that suppresses outputs ≤ 11)`,
    `${largeNumberFeatures} feature(s) that promote larger ZZ whatever YY is (Goodfire: "better than chance, but often wrong")`,
    `${parityFeatures} feature(s) with a parity preference (Goodfire: a parity detector promoting even outputs given odd inputs)`,
  ];
  const core = (narrowComparators > 0 ? 1 : 0) + (largeNumberFeatures > 0 ? 1 : 0);
  const verdict =
    core === 2 && parityFeatures > 0 ? "reproduces" : core >= 1 ? "partially reproduces" : "does not reproduce";
  return { verdict, narrowComparators, largeNumberFeatures, parityFeatures, reasons };
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");

export function greaterThanReport(input: StudyReportInput): string {
  const lines: string[] = [];
  lines.push(`# ${input.title ?? "Greater-than study"}`, "");
  lines.push(`- model: \`${input.model}\``, `- CLT: \`${input.clt}\``);
  lines.push(`- prompts: ${input.nPrompts} (metrics), graphs: ${input.nGraphs} (feature ranking)`, "");
  lines.push("## Task metrics", "");
  lines.push("| model | probability difference | cutoff sharpness | mass on year tokens |", "|---|---|---|---|");
  const row = (name: string, m: ModelMetrics) =>
    `| ${name} | ${f3(m.probabilityDifference)} | ${f3(m.cutoffSharpness)} | ${f3(m.yearMass)} |`;
  lines.push(row("original", input.original));
  if (input.replacement) lines.push(row("replacement (CLT, no error terms)", input.replacement));
  lines.push("", "For reference, GPT-2 small: PD 0.817, cutoff sharpness 0.059 (Hanna et al. 2023).", "");
  if (input.images?.original) lines.push(`![original model p(ZZ | YY)](${input.images.original})`);
  if (input.images?.replacement) lines.push(`![replacement model p(ZZ | YY)](${input.images.replacement})`);
  if (input.graphScores) {
    lines.push(
      "",
      `Mean graph scores (unpruned): replacement ${f3(input.graphScores.replacement)}, completeness ${f3(input.graphScores.completeness)}.`,
    );
  }
  lines.push("", "## Feature types", "");
  const counts = new Map<FeatureType, number>();
  for (const f of input.features) for (const t of f.types) counts.set(t, (counts.get(t) ?? 0) + 1);
  lines.push("| type | features |", "|---|---|");
  for (const [t, c] of [...counts.entries()].sort((a, b) => b[1] - a[1])) lines.push(`| ${t} | ${c} |`);
  const v = goodfireVerdict(input.features);
  lines.push("", "## Comparison with Goodfire's picture", "");
  lines.push(`**This run ${v.verdict} Goodfire's picture.**`, "");
  if (input.original.probabilityDifference < 0.2) {
    lines.push(
      `Note: the model itself does not do the task well (probability difference ${f3(input.original.probabilityDifference)}), so its features need not show a comparison mechanism.`,
      "",
    );
  }
  for (const r of v.reasons) lines.push(`- ${r}`);
  lines.push("", "## Top features", "");
  lines.push(
    "| # | feature | influence | types | GT score | active YY | parity (odd YY) | ×10 pref | large-ZZ corr |",
    "|---|---|---|---|---|---|---|---|---|",
  );
  input.features.slice(0, 40).forEach((f, i) => {
    const d = f.descriptors;
    const range = d.yyMin === null ? "none" : `${d.yyMin}–${d.yyMax} (${Math.round(d.activeFraction * 100)}%)`;
    const name = f.image ? `[${f.featureId}](${f.image})` : f.featureId;
    lines.push(
      `| ${i + 1} | ${name} | ${f3(f.influence)} | ${f.types.join(", ")} | ${f3(d.greaterThanScore)} | ${range} | ${f3(d.parityGivenOddYY)} | ${f3(d.multipleOf10Preference)} | ${f3(d.largeZZCorrelation)} |`,
    );
  });
  if (input.features.length > 40) lines.push("", `(${input.features.length - 40} more in the JSON output.)`);
  if (input.notes?.length) {
    lines.push("", "## Notes", "");
    for (const n of input.notes) lines.push(`- ${n}`);
  }
  lines.push("");
  return lines.join("\n");
}
