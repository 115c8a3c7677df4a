// `labelFeatures`: label the features of a statistics run, heuristically (offline) or with an LLM
// explainer + scorers. Streams the feature files, keeps at most `concurrency` features in flight,
// appends one LabelRecord per finished feature (so an interrupted run resumes where it stopped),
// skips features already labeled from the same inputs (LLM: same cache key; heuristic: same stats
// and rule version), writes per-feature failures and stops starting features at the budget cap.
import { createHash } from "node:crypto";
import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
} from "node:fs";
import { join } from "node:path";
import {
  type FeatureStats,
  type FeatureStatsManifest,
  LABEL_FAILURES_FILE,
  LABEL_FORMAT_VERSION,
  LABELS_DIR,
  LABELS_FILE,
  type LabelFailure,
  type LabelRecord,
  type LabelSource,
  readFeatureManifest,
  readFeatureStats,
  readLabels,
} from "../features/formats.ts";
import { StepProgress } from "../lm/progress.ts";
import { LlmClient, LlmError, type LlmOptions, type Usage } from "./client.ts";
import { splitExamples } from "./examples.ts";
import { HEURISTIC_VERSION, heuristicLabel, type StudyFeatureInput } from "./heuristic.ts";
import { explain, score } from "./llm.ts";
import { PROMPT_VERSIONS } from "./prompts.ts";

export interface LabelRunOptions {
  runDir: string;
  /** "heuristic" = offline labeler; "llm" = explainer + scorers at an OpenAI-compatible endpoint. */
  mode: "heuristic" | "llm";
  /** Only these feature ids ("{layer}_{featureIndex}"). */
  features?: string[];
  /** At most this many features labeled in this run (after skipping finished ones). */
  limit?: number;
  /** Explainer settings (LLM mode). */
  llm?: LlmOptions;
  /** Scorer model (default: the explainer model). */
  scorerModel?: string;
  seed?: number;
  /** Label again even if a label from the same inputs exists (appends; history is kept). */
  relabel?: boolean;
  /** Stop starting features once this many tokens (prompt + completion) or this cost is used. */
  maxTokens?: number;
  maxCostUsd?: number;
  /** USD per 1M prompt / completion tokens, for the cost estimate. */
  priceIn?: number;
  priceOut?: number;
  /** Features labeled concurrently (LLM mode). */
  concurrency?: number;
  /** Greater-than study features (greater-than.json `features`) for the heuristic labeler. */
  study?: StudyFeatureInput[];
  quiet?: boolean;
}

export interface LabelRunSummary {
  labeled: number;
  skipped: number;
  failed: number;
  usage: Usage & { costUsd: number | null };
  budgetReached: boolean;
  elapsedSec: number;
  featuresPerSec: number;
}

const hash = (x: unknown) => createHash("sha256").update(JSON.stringify(x)).digest("hex");

/** Appends JSON lines; first cuts a torn last line left by a crash, so the file stays parseable. */
class JsonlAppender {
  constructor(readonly path: string) {
    if (!existsSync(path)) return;
    const fd = openSync(path, "r+");
    try {
      const size = fstatSync(fd).size;
      let end = size;
      const buf = Buffer.alloc(1);
      while (end > 0) {
        readSync(fd, buf, 0, 1, end - 1);
        if (buf[0] === 0x0a) break;
        end--;
      }
      if (end !== size) ftruncateSync(fd, end);
    } finally {
      closeSync(fd);
    }
  }
  append(value: unknown): void {
    appendFileSync(this.path, `${JSON.stringify(value)}\n`);
  }
}

export async function labelFeatures(o: LabelRunOptions): Promise<LabelRunSummary> {
  const manifest: FeatureStatsManifest = readFeatureManifest(o.runDir);
  if (!manifest.complete)
    throw new Error(`${o.runDir}: the feature statistics are not finished; resume \`atlas features\``);
  const dir = join(o.runDir, LABELS_DIR);
  mkdirSync(dir, { recursive: true });
  const seed = o.seed ?? 0;
  const source: LabelSource = o.mode === "llm" ? "llm" : "heuristic";
  const wanted = o.features ? new Set(o.features) : null;
  if (wanted) {
    for (const id of wanted) {
      const m = /^(\d+)_(\d+)$/.exec(id);
      if (!m || Number(m[1]) >= manifest.transcoder.nLayers || Number(m[2]) >= manifest.transcoder.nFeatures) {
        throw new Error(
          `--features: unknown feature id "${id}" (expected {layer}_{featureIndex} with layer < ${manifest.transcoder.nLayers}, index < ${manifest.transcoder.nFeatures})`,
        );
      }
    }
  }
  const study = new Map((o.study ?? []).map((f) => [f.featureId, f]));

  // Existing labels: what is done (same source and key) and the latest id per feature for `supersedes`.
  const doneKeys = new Set<string>();
  const latest = new Map<string, LabelRecord>();
  for await (const r of readLabels(o.runDir)) {
    if (r.source !== source) continue;
    if (r.provenance.cacheKey) doneKeys.add(`${r.featureId}|${r.provenance.cacheKey}`);
    const prev = latest.get(r.featureId);
    if (!prev || r.createdAt >= prev.createdAt) latest.set(r.featureId, r);
  }
  const labels = new JsonlAppender(join(dir, LABELS_FILE));
  const failuresOut = new JsonlAppender(join(dir, LABEL_FAILURES_FILE));

  const explainer =
    o.mode === "llm" ? new LlmClient({ cacheDir: join(dir, "cache"), ...o.llm!, refresh: o.relabel ?? false }) : null;
  const scorer =
    explainer && o.scorerModel && o.scorerModel !== o.llm!.model
      ? new LlmClient({ cacheDir: join(dir, "cache"), ...o.llm!, model: o.scorerModel, refresh: o.relabel ?? false })
      : explainer;
  const usage = { calls: 0, promptTokens: 0, completionTokens: 0 };
  const cost = () =>
    o.priceIn !== undefined || o.priceOut !== undefined
      ? (usage.promptTokens * (o.priceIn ?? 0) + usage.completionTokens * (o.priceOut ?? 0)) / 1e6
      : null;
  const budgetHit = () =>
    (o.maxTokens !== undefined && usage.promptTokens + usage.completionTokens >= o.maxTokens) ||
    (o.maxCostUsd !== undefined && (cost() ?? 0) >= o.maxCostUsd);

  const live = manifest.layers.reduce((a, e) => a + e.live, 0);
  const total = Math.min(wanted ? wanted.size : live, o.limit ?? Number.POSITIVE_INFINITY);
  const progress = o.quiet ? null : new StepProgress(total, 0);
  const t0 = Date.now();
  const summary = { labeled: 0, skipped: 0, failed: 0, budgetReached: false };
  const statsRef = { finishedAt: manifest.finishedAt, tokensSeen: manifest.tokensSeen };
  const now = () => new Date().toISOString();

  const write = (
    s: FeatureStats,
    fields: Omit<
      LabelRecord,
      "version" | "id" | "transcoder" | "featureId" | "layer" | "featureIndex" | "source" | "createdAt" | "supersedes"
    >,
  ) => {
    const createdAt = now();
    const prev = latest.get(s.featureId);
    const rec: LabelRecord = {
      version: LABEL_FORMAT_VERSION,
      id: hash({
        f: s.featureId,
        source,
        createdAt,
        label: fields.label,
        key: fields.provenance.cacheKey,
        rnd: Math.random(),
      }).slice(0, 16),
      transcoder: manifest.transcoder.id,
      featureId: s.featureId,
      layer: s.layer,
      featureIndex: s.featureIndex,
      source,
      ...fields,
      createdAt,
      supersedes: prev?.id ?? null,
    };
    labels.append(rec);
    latest.set(s.featureId, rec);
    summary.labeled++;
  };
  const fail = (s: FeatureStats, stage: LabelFailure["stage"], error: string, attempts: number) => {
    const f: LabelFailure = {
      transcoder: manifest.transcoder.id,
      featureId: s.featureId,
      stage,
      error,
      attempts,
      at: now(),
    };
    failuresOut.append(f);
  };

  const labelOne = async (s: FeatureStats): Promise<void> => {
    const startedAt = now();
    if (o.mode === "heuristic") {
      const h = heuristicLabel(s, study.get(s.featureId), seed);
      if (!h) return;
      write(s, {
        label: h.label,
        description: h.description,
        confidence: null,
        scores: h.scores,
        provenance: {
          explainer: { model: HEURISTIC_VERSION, endpoint: null, promptVersion: HEURISTIC_VERSION, temperature: null },
          scorer: h.scores.length
            ? { model: h.scores[0]!.scorerModel, endpoint: null, promptVersion: HEURISTIC_VERSION, temperature: null }
            : null,
          stats: statsRef,
          examplesShown: h.examplesShown,
          seed,
          usage: { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: null },
          cacheKey: hash({ v: HEURISTIC_VERSION, stats: statsRef, f: s.featureId, study: study.has(s.featureId) }),
          rule: h.rule,
          startedAt,
          finishedAt: now(),
        },
      });
      return;
    }
    const split = splitExamples(s);
    let ex: Awaited<ReturnType<typeof explain>>;
    try {
      ex = await explain(explainer!, s, split.shown);
    } catch (e) {
      if (!(e instanceof LlmError)) throw e;
      const u = (e as LlmError & { usage?: Usage }).usage;
      if (u) addTo(usage, u);
      fail(s, "explain", e.message, e.attempts);
      summary.failed++;
      return;
    }
    addTo(usage, ex.usage);
    const sc = await score(scorer!, ex.explanation, split, seed);
    addTo(usage, sc.usage);
    for (const f of sc.failures) fail(s, f.stage, f.error, f.attempts);
    const featureUsage = {
      calls: ex.usage.calls + sc.usage.calls,
      promptTokens: ex.usage.promptTokens + sc.usage.promptTokens,
      completionTokens: ex.usage.completionTokens + sc.usage.completionTokens,
    };
    write(s, {
      label: ex.explanation.label,
      description: ex.explanation.description,
      confidence: ex.explanation.confidence,
      scores: sc.scores,
      provenance: {
        explainer: {
          model: explainer!.o.model,
          endpoint: explainer!.endpoint,
          promptVersion: PROMPT_VERSIONS.explainer,
          temperature: explainer!.o.temperature ?? 0,
        },
        scorer: {
          model: scorer!.o.model,
          endpoint: scorer!.endpoint,
          promptVersion: `${PROMPT_VERSIONS.detection}+${PROMPT_VERSIONS.fuzzing}`,
          temperature: scorer!.o.temperature ?? 0,
        },
        stats: statsRef,
        examplesShown: split.shown.map((e) => e.id),
        seed,
        usage: {
          ...featureUsage,
          costUsd:
            o.priceIn !== undefined || o.priceOut !== undefined
              ? (featureUsage.promptTokens * (o.priceIn ?? 0) + featureUsage.completionTokens * (o.priceOut ?? 0)) / 1e6
              : null,
        },
        cacheKey: featureKey(s),
        rule: null,
        startedAt,
        finishedAt: now(),
      },
    });
  };
  // The feature-level key: the explainer request inputs and the scorer setup. Equal key = done.
  const featureKey = (s: FeatureStats) =>
    o.mode === "llm"
      ? hash({
          stats: statsRef,
          f: s.featureId,
          explainer: explainer!.o.model,
          endpoint: explainer!.endpoint,
          scorer: scorer!.o.model,
          prompts: PROMPT_VERSIONS,
          seed,
          temperature: explainer!.o.temperature ?? 0,
        })
      : hash({ v: HEURISTIC_VERSION, stats: statsRef, f: s.featureId, study: study.has(s.featureId) });

  const inFlight = new Set<Promise<void>>();
  const concurrency = o.mode === "llm" ? Math.max(1, o.concurrency ?? 4) : 1;
  let started = 0;
  for await (const s of readFeatureStats(o.runDir)) {
    if (s.activeTokens === 0) continue;
    if (wanted && !wanted.has(s.featureId)) continue;
    if (!o.relabel && doneKeys.has(`${s.featureId}|${featureKey(s)}`)) {
      summary.skipped++;
      continue;
    }
    if (o.limit !== undefined && started >= o.limit) break;
    if (budgetHit()) {
      summary.budgetReached = true;
      break;
    }
    started++;
    const p = labelOne(s).finally(() => {
      inFlight.delete(p);
      const dt = (Date.now() - t0) / 1000;
      progress?.update(
        summary.labeled + summary.failed,
        `${summary.labeled} labeled ${(summary.labeled / Math.max(dt, 1e-3)).toFixed(2)} features/s ${usage.promptTokens + usage.completionTokens} tokens`,
      );
    });
    inFlight.add(p);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  progress?.end();
  const elapsedSec = (Date.now() - t0) / 1000;
  return {
    ...summary,
    usage: { ...usage, costUsd: cost() },
    elapsedSec,
    featuresPerSec: summary.labeled / Math.max(elapsedSec, 1e-3),
  };
}

function addTo(a: Usage, b: Usage): void {
  a.calls += b.calls;
  a.promptTokens += b.promptTokens;
  a.completionTokens += b.completionTokens;
}
