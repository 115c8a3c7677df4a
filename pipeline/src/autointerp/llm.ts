// The LLM explainer and the two scorers (detection, fuzzing) on held-out examples.
import { z } from "zod";
import { Rng } from "../data/index.ts";
import type { FeatureExample, FeatureStats, LabelScore } from "../features/formats.ts";
import { type LlmClient, LlmError, type Usage } from "./client.ts";
import { type ExampleSplit, fuzzingItems } from "./examples.ts";
import { explainerExample, fill, loadTemplate, markedText, numbered, PROMPT_VERSIONS } from "./prompts.ts";
import { countJudgements, labelScore } from "./scoring.ts";

export const ExplanationSchema = z.object({
  label: z.string().min(1),
  description: z.string(),
  confidence: z.number().min(0).max(1),
});
export type Explanation = z.infer<typeof ExplanationSchema>;

export const EXPLANATION_JSON_SCHEMA = {
  type: "object",
  properties: {
    label: { type: "string", description: "at most 6 words" },
    description: { type: "string", description: "one sentence" },
    confidence: { type: "number", minimum: 0, maximum: 1 },
  },
  required: ["label", "description", "confidence"],
  additionalProperties: false,
};

const AnswersSchema = z.object({ answers: z.array(z.union([z.literal(0), z.literal(1), z.boolean()])) });
export const ANSWERS_JSON_SCHEMA = {
  type: "object",
  properties: { answers: { type: "array", items: { type: "integer", enum: [0, 1] } } },
  required: ["answers"],
  additionalProperties: false,
};

export interface Failure {
  stage: "explain" | "detection" | "fuzzing";
  error: string;
  attempts: number;
}

const addUsage = (a: Usage, b: Usage) => {
  a.calls += b.calls;
  a.promptTokens += b.promptTokens;
  a.completionTokens += b.completionTokens;
};

export function explainerMessages(s: FeatureStats, shown: FeatureExample[]) {
  const t = loadTemplate(PROMPT_VERSIONS.explainer);
  const list = (xs: { token: string }[]) => xs.map((x) => JSON.stringify(x.token)).join(", ") || "(none)";
  return [
    { role: "system" as const, content: t.system },
    {
      role: "user" as const,
      content: fill(t.user, {
        feature: s.featureId,
        layer: String(s.layer),
        examples: numbered(shown.map((e) => explainerExample(e, s.maxActivation))),
        promoted: list(s.logits.top.filter((l) => l.value > 0)),
        suppressed: list(s.logits.bottom.filter((l) => l.value < 0)),
      }),
    },
  ];
}

export async function explain(
  client: LlmClient,
  s: FeatureStats,
  shown: FeatureExample[],
): Promise<{ explanation: Explanation; usage: Usage; cacheKey: string; cached: boolean }> {
  const r = await client.call(
    "feature_explanation",
    explainerMessages(s, shown),
    EXPLANATION_JSON_SCHEMA,
    ExplanationSchema,
  );
  return { explanation: r.value, usage: r.usage, cacheKey: r.cacheKey, cached: r.cached };
}

interface Item {
  text: string;
  truth: boolean;
  id: string;
}

/**
 * Judges items in shuffled batches of `batchSize`; a batch whose answer stays malformed or whose
 * request fails is left unjudged (and reported), the others still count.
 */
async function judge(
  client: LlmClient,
  kind: "detection" | "fuzzing",
  explanation: string,
  items: Item[],
  batchSize: number,
  seed: number,
  usage: Usage,
  failures: Failure[],
): Promise<LabelScore | null> {
  if (!items.length) return null;
  const t = loadTemplate(PROMPT_VERSIONS[kind]);
  const order = items.map((_, i) => i);
  const rng = new Rng(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const r = Math.floor(rng.next() * (i + 1));
    [order[i], order[r]] = [order[r]!, order[i]!];
  }
  const predicted: (boolean | null)[] = items.map(() => null);
  const batches: number[][] = [];
  for (let b = 0; b < order.length; b += batchSize) batches.push(order.slice(b, b + batchSize));
  await Promise.all(
    batches.map(async (batch) => {
      const messages = [
        { role: "system" as const, content: t.system },
        {
          role: "user" as const,
          content: fill(t.user, {
            explanation,
            examples: numbered(batch.map((i) => items[i]!.text)),
            count: String(batch.length),
          }),
        },
      ];
      try {
        const r = await client.call(`${kind}_answers`, messages, ANSWERS_JSON_SCHEMA, AnswersSchema, (v) =>
          v.answers.length === batch.length ? null : `expected ${batch.length} answers, got ${v.answers.length}`,
        );
        addUsage(usage, r.usage);
        r.value.answers.forEach((a, j) => {
          predicted[batch[j]!] = a === 1 || a === true;
        });
      } catch (e) {
        if (!(e instanceof LlmError)) throw e;
        const u = (e as LlmError & { usage?: Usage }).usage;
        if (u) addUsage(usage, u);
        failures.push({ stage: kind, error: e.message, attempts: e.attempts });
      }
    }),
  );
  const c = countJudgements(
    items.map((x) => x.truth),
    predicted,
  );
  return labelScore(
    kind,
    c,
    client.o.model,
    t.version,
    items.map((x) => x.id),
  );
}

export async function score(
  client: LlmClient,
  explanation: Explanation,
  split: ExampleSplit,
  seed: number,
  batchSize = 5,
): Promise<{ scores: LabelScore[]; usage: Usage; failures: Failure[] }> {
  const usage: Usage = { calls: 0, promptTokens: 0, completionTokens: 0 };
  const failures: Failure[] = [];
  const text = `${explanation.label}: ${explanation.description}`;
  const plain = (e: FeatureExample) => markedText(e, () => false);
  const detItems: Item[] = [
    ...split.detectionPositives.map((e) => ({ text: plain(e), truth: true, id: e.id })),
    ...split.negatives.map((e) => ({ text: plain(e), truth: false, id: e.id })),
  ];
  const fzItems: Item[] = fuzzingItems(split.fuzzingExamples, seed).map((f) => ({
    text: markedText(f.example, (i) => f.marked.has(i)),
    truth: f.correct,
    id: f.example.id,
  }));
  const [det, fz] = await Promise.all([
    judge(client, "detection", text, detItems, batchSize, seed, usage, failures),
    judge(client, "fuzzing", text, fzItems, batchSize, seed + 1, usage, failures),
  ]);
  return { scores: [det, fz].filter((x): x is LabelScore => x !== null), usage, failures };
}
