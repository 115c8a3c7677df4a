// The stages of `atlas build`, from raw text to an ingested atlas. A stage is a list of `atlas`
// commands plus what identifies its result: its inputs (config slice + the keys of the stages it
// reads) hash into its key, so a changed setting reruns that stage and, through the chain, every
// stage after it — and nothing before.
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { FEATURE_MANIFEST_FILE, FEATURES_DIR, LABELS_DIR, LABELS_FILE } from "../features/index.ts";
import type { BuildConfig } from "./config.ts";

export interface Stage {
  name: StageName;
  /** What the user sees in the progress lines. */
  title: string;
  /** Stages whose outputs this one reads (their keys are part of this one's). */
  after: StageName[];
  /** Everything besides upstream results that decides the outputs. */
  inputs: unknown;
  /** Files that must exist for a finished stage to count as done. */
  outputs: string[];
  /** `atlas` argv lists, run in order; `resume` replaces the first one when a partial run exists. */
  commands: string[][];
  /** Folders that belong to this stage alone: emptied before a fresh (non-resumed) run. */
  owns: string[];
  /** When the folder holds a checkpoint of an interrupted run of the same key: the resuming argv. */
  resume?: { marker: string; command: string[] };
}

export const STAGE_NAMES = ["corpus", "clt", "eval", "graphs", "study", "features", "labels", "ingest"] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export interface PlanContext {
  /** Absolute run folder. */
  out: string;
  /** The atlas name: the CLT folder (= transcoder id in feature ids, Neo4j and URLs) is `<name>-clt`, graph ids `<name>-prompt-NN`. */
  name: string;
  /** Model folder (the demo model, a local folder, or the hub snapshot `model pull` resolved). */
  modelDir: string;
  /** What identifies the model's weights (sha256 for local folders, the commit for hub snapshots). */
  modelKey: string;
  /** OPENAI_BASE_URL is set: `labels.mode: auto` uses the LLM. */
  llmAvailable: boolean;
}

/** Paths of a run folder, one place for every stage and the summary. */
export function runPaths(out: string, name: string) {
  return {
    corpus: join(out, "corpus"),
    trainCorpus: join(out, "corpus", "train"),
    heldoutCorpus: join(out, "corpus", "heldout"),
    clt: join(out, `${name}-clt`),
    graphs: join(out, "graphs"),
    features: join(out, `${name}-clt`, FEATURES_DIR),
    labels: join(out, `${name}-clt`, LABELS_DIR, LABELS_FILE),
    study: join(out, "greater-than"),
    state: join(out, "build-state.json"),
    /** Each stage's whole output, `logs/<stage>.log` (the display shows only its latest line). */
    logs: join(out, "logs"),
  };
}

export function graphSlug(name: string, i: number): string {
  return `${name}-prompt-${String(i + 1).padStart(2, "0")}`;
}

/** The ordered stages for `cfg`; disabled ones (study, ingest) are left out. */
export function planStages(cfg: BuildConfig, ctx: PlanContext): Stage[] {
  const p = runPaths(ctx.out, ctx.name);
  const demoTrain = cfg.corpus.train === "demo";
  const demoHeldout = cfg.corpus.heldout === "demo";
  const trainCorpus = demoTrain ? join(p.trainCorpus, "train.jsonl") : resolve(cfg.corpus.train);
  const heldoutCorpus = demoHeldout ? join(p.heldoutCorpus, "heldout.jsonl") : resolve(cfg.corpus.heldout);
  const studyJson = join(p.study, "greater-than.json");
  const useLlm = cfg.labels.mode === "llm" || (cfg.labels.mode === "auto" && ctx.llmAvailable);

  const stages: Stage[] = [
    {
      name: "corpus",
      title: "text corpora",
      after: [],
      // A user corpus is named by its files' sizes and times (hashing 100 GB of shards would take
      // longer than the stages it guards); the demo corpus by its generator settings.
      inputs: {
        train: demoTrain ? { demo: cfg.corpus.demoTokens } : fileStamp(cfg.corpus.train),
        heldout: demoHeldout ? "demo" : fileStamp(cfg.corpus.heldout),
      },
      outputs: [...(demoTrain ? [trainCorpus] : []), ...(demoHeldout ? [heldoutCorpus] : [])],
      commands: [
        ...(demoTrain
          ? [["corpus", "demo", "--out", p.trainCorpus, "--tokens", String(cfg.corpus.demoTokens), "--seed", "1"]]
          : []),
        ...(demoHeldout
          ? [["corpus", "demo", "--out", p.heldoutCorpus, "--tokens", "200000", "--seed", "2", "--split", "heldout"]]
          : []),
      ],
      owns: [p.corpus],
    },
    {
      name: "clt",
      title: "train the CLT",
      after: ["corpus"],
      inputs: { model: ctx.modelKey, clt: cfg.clt },
      outputs: [join(p.clt, "clt.safetensors"), join(p.clt, "config.json")],
      commands: [
        [
          "clt",
          "train",
          "--model",
          ctx.modelDir,
          "--corpus",
          trainCorpus,
          "--features-per-layer",
          String(cfg.clt.featuresPerLayer),
          "--tokens",
          String(cfg.clt.tokens),
          ...(cfg.clt.batchTokens ? ["--batch-tokens", String(cfg.clt.batchTokens)] : []),
          ...cfg.clt.extraArgs,
          "--out",
          p.clt,
        ],
      ],
      owns: [p.clt],
      resume: { marker: join(p.clt, "checkpoint"), command: ["clt", "train", "--resume", "--out", p.clt] },
    },
    {
      name: "eval",
      title: "evaluate the CLT",
      after: ["clt"],
      inputs: cfg.eval,
      outputs: [join(p.clt, "eval.json")],
      // --force: a changed eval config replaces the evaluation this stage wrote before.
      commands: [["clt", "eval", p.clt, "--corpus", heldoutCorpus, "--tokens", String(cfg.eval.tokens), "--force"]],
      owns: [],
    },
    {
      name: "graphs",
      title: `attribution graphs (${cfg.prompts.length} prompts)`,
      after: ["clt"],
      inputs: { prompts: cfg.prompts, trace: cfg.trace },
      outputs: cfg.prompts.map((_, i) => join(p.graphs, `${graphSlug(ctx.name, i)}.json`)),
      commands: cfg.prompts.map((prompt, i) => [
        "trace",
        "--clt",
        p.clt,
        "--prompt",
        prompt,
        "--out",
        join(p.graphs, `${graphSlug(ctx.name, i)}.json`),
        "--max-feature-nodes",
        String(cfg.trace.maxFeatureNodes),
        ...(cfg.trace.validate > 0 ? ["--validate", String(cfg.trace.validate)] : []),
        "--quiet",
      ]),
      owns: [p.graphs],
    },
  ];
  if (cfg.study.enabled)
    stages.push({
      name: "study",
      title: "greater-than study",
      after: ["clt"],
      inputs: cfg.study,
      outputs: [studyJson],
      commands: [
        [
          "study",
          "greater-than",
          "--clt",
          p.clt,
          "--out",
          p.study,
          "--prompts",
          String(cfg.study.prompts),
          "--graphs",
          String(cfg.study.graphs),
          "--top",
          String(cfg.study.top),
        ],
      ],
      owns: [p.study],
    });
  const featuresArgs = ["features", "--clt", p.clt, "--corpus", heldoutCorpus, "--tokens", String(cfg.features.tokens)];
  stages.push(
    {
      name: "features",
      title: "feature statistics (dashboards)",
      after: ["clt", "corpus"],
      inputs: cfg.features,
      outputs: [join(p.features, FEATURE_MANIFEST_FILE)],
      commands: [featuresArgs],
      owns: [p.features],
      resume: { marker: join(p.features, "state"), command: [...featuresArgs, "--resume"] },
    },
    {
      name: "labels",
      title: useLlm ? "labels (LLM, scored)" : "labels (offline heuristic)",
      after: cfg.study.enabled ? ["features", "study"] : ["features"],
      inputs: { ...cfg.labels, useLlm, endpoint: useLlm ? (process.env.OPENAI_BASE_URL ?? null) : null },
      outputs: [p.labels],
      commands: [
        [
          "label",
          "--clt",
          p.clt,
          ...(useLlm ? (cfg.labels.llmModel ? ["--llm", cfg.labels.llmModel] : []) : ["--offline"]),
          ...(cfg.study.enabled ? ["--study", studyJson] : []),
          ...(cfg.labels.limit ? ["--limit", String(cfg.labels.limit)] : []),
        ],
      ],
      owns: [dirname(p.labels)],
    },
  );
  if (cfg.ingest.enabled)
    stages.push({
      name: "ingest",
      title: "ingest into Neo4j",
      after: cfg.study.enabled ? ["eval", "graphs", "study", "labels"] : ["eval", "graphs", "labels"],
      // The database is part of the result: a different server means ingesting again.
      inputs: { ...cfg.ingest, neo4j: process.env.NEO4J_URI ?? "local" },
      outputs: [],
      commands: [["ingest", ctx.out, "--clt", p.clt, "--virtual-top-k", String(cfg.ingest.virtualTopK)]],
      owns: [],
    });
  return stages;
}

/** A stage's key: its inputs and the keys of the stages it reads. */
export function stageKey(stage: Stage, upstream: Record<string, string>): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ name: stage.name, inputs: stage.inputs, commands: stage.commands }));
  for (const dep of stage.after) h.update(`${dep}:${upstream[dep] ?? "missing"}`);
  return h.digest("hex").slice(0, 16);
}

function fileStamp(path: string): unknown {
  const abs = resolve(path);
  if (!existsSync(abs)) return { path: abs }; // globs: the corpus reader resolves and checks them
  const s = statSync(abs);
  return { path: abs, size: s.size, mtimeMs: s.mtimeMs };
}
