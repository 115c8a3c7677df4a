// Labels ⇄ Neuronpedia's explanation shape (JSONL, one Explanation row per line).
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import {
  currentLabels,
  featureId,
  LABEL_FORMAT_VERSION,
  LABELS_DIR,
  LABELS_FILE,
  type LabelRecord,
  type NeuronpediaExplanation,
  NeuronpediaExplanationSchema,
  readFeatureManifest,
  readJsonLines,
  readLabels,
} from "../features/formats.ts";
import { writeFileAtomic } from "../transcoder/io.ts";

export function toNeuronpedia(r: LabelRecord, modelId: string): NeuronpediaExplanation {
  return NeuronpediaExplanationSchema.parse({
    modelId,
    layer: `${r.layer}-${r.transcoder}`,
    index: String(r.featureIndex),
    description: r.description || r.label,
    typeName: `atlas-${r.source}-${r.provenance.explainer.promptVersion}`,
    explanationModelName: r.source === "heuristic" ? "heuristic" : r.provenance.explainer.model,
    scores: r.scores.map((s) => ({
      explanationScoreTypeName: `atlas_${s.type}`,
      explanationScoreModelName: s.scorerModel,
      value: s.value,
      jsonDetails: JSON.stringify({
        ci95: s.ci95,
        positives: s.positives,
        negatives: s.negatives,
        truePositives: s.truePositives,
        trueNegatives: s.trueNegatives,
        unjudged: s.unjudged,
        promptVersion: s.promptVersion,
      }),
    })),
    notes: r.label,
    createdAt: r.createdAt,
  });
}

/** Writes the current label of every feature (or the whole history) as Neuronpedia JSONL; returns the count. */
export async function exportNeuronpedia(
  runDir: string,
  out: string,
  o: { modelId: string; history?: boolean },
): Promise<number> {
  const all: LabelRecord[] = [];
  for await (const r of readLabels(runDir)) all.push(r);
  const rows = o.history ? all : [...currentLabels(all).values()];
  rows.sort((a, b) => a.layer - b.layer || a.featureIndex - b.featureIndex || a.createdAt.localeCompare(b.createdAt));
  mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(out, rows.map((r) => `${JSON.stringify(toNeuronpedia(r, o.modelId))}\n`).join(""));
  return rows.length;
}

/** What an import accepts: Neuronpedia exports carry at least layer, index and description. */
const ImportRowSchema = z.object({
  layer: z.string().regex(/^\d+(-.*)?$/, 'layer must start with the layer number, e.g. "2-demo-clt"'),
  index: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()]),
  description: z.string().min(1),
  explanationModelName: z.string().nullish(),
  typeName: z.string().nullish(),
  notes: z.string().nullish(),
  scores: NeuronpediaExplanationSchema.shape.scores.optional(),
});

/** Appends the rows of a Neuronpedia JSONL file as `source: "imported"` labels; returns the count. */
export async function importNeuronpedia(runDir: string, file: string): Promise<number> {
  const m = readFeatureManifest(runDir);
  const records: LabelRecord[] = [];
  let n = 0;
  const at = new Date().toISOString();
  for await (const row of readJsonLines(file, ImportRowSchema, false)) {
    n++;
    const layer = Number.parseInt(row.layer, 10);
    const index = Number(row.index);
    if (layer >= m.transcoder.nLayers || index >= m.transcoder.nFeatures) {
      throw new Error(
        `${file} row ${n}: feature ${layer}_${index} is outside this transcoder (${m.transcoder.nLayers} layers × ${m.transcoder.nFeatures})`,
      );
    }
    const words = row.description.split(/\s+/);
    const label = row.notes || (words.length > 6 ? `${words.slice(0, 6).join(" ")} …` : row.description);
    records.push({
      version: LABEL_FORMAT_VERSION,
      id: createHash("sha256")
        .update(`${file}|${n}|${at}|${JSON.stringify(row)}`)
        .digest("hex")
        .slice(0, 16),
      transcoder: m.transcoder.id,
      featureId: featureId(layer, index),
      layer,
      featureIndex: index,
      source: "imported",
      label,
      description: row.description,
      confidence: null,
      scores: [],
      provenance: {
        explainer: {
          model: row.explanationModelName ?? "unknown",
          endpoint: null,
          promptVersion: row.typeName ?? "unknown",
          temperature: null,
        },
        scorer: null,
        stats: { finishedAt: m.finishedAt, tokensSeen: m.tokensSeen },
        examplesShown: [],
        seed: 0,
        usage: { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: null },
        cacheKey: null,
        rule: `import:${basename(file)}`,
        startedAt: at,
        finishedAt: at,
      },
      createdAt: at,
      supersedes: null,
    });
  }
  // All rows are validated before anything is written: a bad file adds nothing.
  mkdirSync(join(runDir, LABELS_DIR), { recursive: true });
  if (records.length)
    writeFileSync(join(runDir, LABELS_DIR, LABELS_FILE), records.map((r) => `${JSON.stringify(r)}\n`).join(""), {
      flag: "a",
    });
  return records.length;
}
