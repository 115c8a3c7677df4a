// The offline labeler: deterministic labels from the statistics alone (no LLM), marked
// `source: "heuristic"`. Rules, first match wins for the activation side:
//   greater-than  the study ranked the feature: its heatmap descriptors ("years 06–14 → promotes
//                 10–30", "even after odd", "promotes > 60", "round numbers")
//   numbers       most peak tokens are numbers: their range and the usual preceding token
//   tokens        the few peak tokens that cover most activations, ranked by lift over background
// plus the output side from the logit effects ("→ promotes …"). It also scores itself on the
// held-out examples with a token-match judge, so heuristic labels carry real (if crude) scores.
import { z } from "zod";
import type { FeatureExample, FeatureStats, LabelScore } from "../features/formats.ts";
import { classifyFeature, type FeatureDescriptors, featureDescriptors } from "../study/index.ts";
import { fuzzingItems, splitExamples } from "./examples.ts";
import { countJudgements, labelScore } from "./scoring.ts";

export const HEURISTIC_VERSION = "heuristic-v2";
export const HEURISTIC_JUDGE = "heuristic-token-match";

/** The part of a study feature (greater-than.json `features[]`) the labeler uses. */
export const StudyFeatureInputSchema = z.object({
  featureId: z.string(),
  types: z.array(z.string()),
  heatmap: z.array(z.array(z.number()).nullable()),
  activationProfile: z.array(z.number().nullable()).optional(),
});
export type StudyFeatureInput = z.infer<typeof StudyFeatureInputSchema>;

export interface HeuristicLabel {
  label: string;
  description: string;
  rule: "greater-than" | "numbers" | "tokens" | "logits";
  /** Tokens (trimmed text) the rule says the feature fires on; used by the token-match judge. */
  tokens: string[];
  examplesShown: string[];
  scores: LabelScore[];
}

const clean = (t: string) => t.replace(/\n/g, "⏎").trim();
const quote = (t: string) => `"${clean(t) || t.replace(/\n/g, "⏎")}"`;
const isNumber = (t: string) => /^\s?\d{1,4}$/.test(t);
const pad2 = (n: number) => String(n).padStart(2, "0");

function peaks(examples: FeatureExample[]): { token: string; prev: string | null; weight: number }[] {
  return examples
    .filter((e) => e.maxIndex >= 0)
    .map((e) => ({
      token: e.tokens[e.maxIndex]!,
      prev: e.maxIndex > 0 ? e.tokens[e.maxIndex - 1]! : null,
      weight: e.maxActivation,
    }));
}

/** Promoted output side: number ranges for numeric tokens, else the top three tokens. */
function promotes(s: FeatureStats): string | null {
  const top = s.logits.top.filter((l) => l.value > 0);
  if (!top.length) return null;
  // Two-digit number tokens (years' ZZ) read best as a range; other tokens are listed.
  const nums = top.slice(0, 5).filter((l) => /^\s?\d{1,2}$/.test(l.token));
  if (nums.length >= 3) {
    const v = nums.map((l) => Number(l.token.trim()));
    return `promotes ${Math.min(...v)}–${Math.max(...v)}`;
  }
  return `promotes ${top
    .slice(0, 2)
    .map((l) => quote(l.token))
    .join(", ")}`;
}

function heatmapDescriptors(f: StudyFeatureInput): { d: FeatureDescriptors; colMean: number[] } | null {
  if (f.heatmap.length !== 100 || f.heatmap.some((r) => r !== null && r.length !== 100)) return null;
  const values = new Float64Array(100 * 100).fill(Number.NaN);
  f.heatmap.forEach((r, y) => {
    if (r) values.set(r, y * 100);
  });
  const counts = Int32Array.from({ length: 100 }, (_, y) => (f.heatmap[y] ? 1 : 0));
  const act = f.activationProfile?.map((v) => v ?? 0);
  const d = featureDescriptors({ rows: 100, cols: 100, values, counts }, act);
  const colMean = Array.from({ length: 100 }, (_, z) => {
    let s = 0;
    for (const y of d.activeYY) s += values[y * 100 + z]!;
    return d.activeYY.length ? s / d.activeYY.length : 0;
  });
  return { d, colMean };
}

/** "years 06–14 → promotes 10–30", "even after odd", "promotes > 60" … from the study heatmap. */
function greaterThanLabel(f: StudyFeatureInput): { label: string; description: string } | null {
  const h = heatmapDescriptors(f);
  if (!h || h.d.activeYY.length === 0) return null;
  const { d, colMean } = h;
  const types = classifyFeature(d);
  const max = Math.max(...colMean);
  const promoted = colMean.flatMap((v, z) => (max > 0 && v >= 0.5 * max ? [z] : []));
  // A broadly active feature is described by what it does whatever the year; a narrow one by its years.
  const broad = d.activeFraction > 0.5;
  const yy = broad
    ? "any year"
    : d.yyMin === d.yyMax
      ? `year ${pad2(d.yyMin!)}`
      : `years ${pad2(d.yyMin!)}–${pad2(d.yyMax!)}`;
  const lo = promoted.length ? Math.min(...promoted) : 0;
  const hi = promoted.length ? Math.max(...promoted) : 0;
  const range = promoted.length && hi - lo <= 40 ? `promotes ${pad2(lo)}–${pad2(hi)}` : "";
  let out = "";
  // A cut near either end of 00–99 says nothing: fall through to the range then.
  if (types.includes("large-numbers") && promoted.length && lo >= 10 && lo <= 90) out = `promotes > ${pad2(lo)}`;
  else if (types.includes("small-numbers") && promoted.length && hi >= 10 && hi <= 90)
    out = `promotes < ${pad2(hi + 1)}`;
  else if (types.includes("greater-than")) out = broad || !range ? "promotes later years" : range;
  else if (types.includes("less-or-equal")) out = "promotes earlier years";
  else out = range;
  const parts: string[] = [];
  if (types.includes("parity")) {
    const odd = d.parityGivenOddYY;
    const even = d.parityGivenEvenYY;
    const strong = Math.abs(odd) >= Math.abs(even) ? { after: "odd", p: odd } : { after: "even", p: even };
    parts.push(`${strong.p > 0 ? "even" : "odd"} after ${strong.after}`);
  }
  if (types.includes("round-numbers")) parts.push("round numbers");
  // Without an output pattern the heatmap says too little: the caller falls back to the token rules.
  if (!out && !parts.length) return null;
  const head = out ? (types.includes("large-numbers") && broad ? out : `${yy} → ${out}`) : broad ? "" : yy;
  const label = [head, ...parts].filter(Boolean).join(", ");
  const kind = types.filter((t) => t !== "other").join(", ") || "year-related";
  return {
    label,
    description:
      `Greater-than feature (${kind}): at the end year's century token it is active for start years ` +
      `${pad2(d.yyMin!)}–${pad2(d.yyMax!)} (${Math.round(100 * d.activeFraction)}% of them, centre ${d.yyCenter?.toFixed(0) ?? "?"}) and most raises ` +
      `the end years ${promoted.length ? `${pad2(lo)}–${pad2(hi)}` : "?"} (greater-than score ${d.greaterThanScore.toFixed(2)}).`,
  };
}

/** Background frequency of each token text over all windows we have (negatives and examples). */
function background(s: FeatureStats): Map<string, number> {
  const m = new Map<string, number>();
  let n = 0;
  const add = (e: FeatureExample) => {
    for (const t of e.tokens) {
      m.set(clean(t), (m.get(clean(t)) ?? 0) + 1);
      n++;
    }
  };
  s.negativeExamples.forEach(add);
  s.topExamples.forEach(add);
  for (const q of s.quantiles) q.examples.forEach(add);
  for (const [k, v] of m) m.set(k, v / Math.max(1, n));
  return m;
}

function activationLabel(
  s: FeatureStats,
  shown: FeatureExample[],
): { label: string; description: string; rule: HeuristicLabel["rule"]; tokens: string[] } | null {
  const ps = peaks(shown);
  if (!ps.length) return null;
  const count = new Map<string, number>();
  for (const p of ps) count.set(clean(p.token), (count.get(clean(p.token)) ?? 0) + 1);
  const numeric = ps.filter((p) => isNumber(p.token));
  const prevOf = (list: typeof ps) => {
    const c = new Map<string, number>();
    for (const p of list) if (p.prev !== null) c.set(p.prev, (c.get(p.prev) ?? 0) + 1);
    const best = [...c.entries()].sort((a, b) => b[1] - a[1])[0];
    return best && best[1] >= 0.5 * list.length ? best[0] : null;
  };
  if (numeric.length >= 0.6 * ps.length) {
    const v = numeric.map((p) => p.token.trim());
    const nums = v.map(Number);
    const lo = v[nums.indexOf(Math.min(...nums))]!;
    const hi = v[nums.indexOf(Math.max(...nums))]!;
    const prev = prevOf(numeric);
    const range = lo === hi ? `number ${lo}` : `numbers ${lo}–${hi}`;
    return {
      label: prev ? `${range} after ${quote(prev)}` : range,
      description: `Fires on the number tokens ${lo}–${hi}${prev ? ` following ${quote(prev)}` : ""} (${numeric.length} of ${ps.length} peak tokens).`,
      rule: "numbers",
      tokens: [...new Set(v)],
    };
  }
  const bg = background(s);
  const ranked = [...count.entries()]
    .map(([t, c]) => ({ t, c, lift: c / ps.length / Math.max(bg.get(t) ?? 0, 1e-3) }))
    .sort((a, b) => b.c - a.c || b.lift - a.lift);
  const chosen: typeof ranked = [];
  let covered = 0;
  for (const r of ranked) {
    if (chosen.length === 3 || covered >= 0.6 * ps.length) break;
    chosen.push(r);
    covered += r.c;
  }
  const prev = prevOf(ps.filter((p) => chosen.some((c) => c.t === clean(p.token))));
  const list = chosen.map((c) => quote(c.t)).join(", ");
  const share = Math.round((100 * covered) / ps.length);
  return {
    label: `${list}${chosen.length < ranked.length ? " …" : ""}${prev ? ` after ${quote(prev)}` : ""}`,
    description:
      `Fires most on ${list} (${share}% of the strongest activations${ranked.length > chosen.length ? `, ${ranked.length} distinct peak tokens` : ""})` +
      `${prev ? `, usually after ${quote(prev)}` : ""}.`,
    rule: "tokens",
    tokens: chosen.map((c) => c.t),
  };
}

/** Token-match judges: detection = the window contains a rule token; fuzzing = every marked token is a rule token. */
function selfScores(s: FeatureStats, tokens: string[], seed: number): LabelScore[] {
  const set = new Set(tokens);
  const split = splitExamples(s);
  const has = (e: FeatureExample) => e.tokens.some((t) => set.has(clean(t)));
  const det = [...split.detectionPositives, ...split.negatives];
  const detTruth = det.map((_, i) => i < split.detectionPositives.length);
  const detCounts = countJudgements(detTruth, det.map(has));
  const fz = fuzzingItems(split.fuzzingExamples, seed);
  const fzCounts = countJudgements(
    fz.map((f) => f.correct),
    fz.map((f) => f.marked.size > 0 && [...f.marked].every((i) => set.has(clean(f.example.tokens[i]!)))),
  );
  const mk = (type: LabelScore["type"], c: ReturnType<typeof countJudgements>, ids: string[]) =>
    labelScore(type, c, HEURISTIC_JUDGE, HEURISTIC_VERSION, ids);
  return [
    mk(
      "detection",
      detCounts,
      det.map((e) => e.id),
    ),
    mk(
      "fuzzing",
      fzCounts,
      fz.map((f) => f.example.id),
    ),
  ].filter((x): x is LabelScore => x !== null);
}

/** A deterministic label for a live feature (null for a dead one). */
export function heuristicLabel(s: FeatureStats, study?: StudyFeatureInput, seed = 0): HeuristicLabel | null {
  if (s.activeTokens === 0) return null;
  const split = splitExamples(s);
  const act = activationLabel(s, split.shown);
  const gt = study ? greaterThanLabel(study) : null;
  const out = promotes(s);
  const examplesShown = split.shown.map((e) => e.id);
  if (gt) {
    const tokens = act?.tokens ?? [];
    return {
      label: gt.label,
      description: gt.description,
      rule: "greater-than",
      tokens,
      examplesShown,
      scores: selfScores(s, tokens, seed),
    };
  }
  if (!act) {
    return {
      label: out ?? "inactive",
      description: "No activating examples were kept.",
      rule: "logits",
      tokens: [],
      examplesShown,
      scores: [],
    };
  }
  const label = out ? `${act.label} → ${out}` : act.label;
  const description = out
    ? `${act.description.replace(/\.$/, "")}; ${out.replace("promotes", "promotes")} next.`
    : act.description;
  return {
    label,
    description,
    rule: act.rule,
    tokens: act.tokens,
    examplesShown,
    scores: selfScores(s, act.tokens, seed),
  };
}
