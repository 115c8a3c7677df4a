// Versioned prompt templates (prompts/<name>-v<N>.txt: system text, a "---user---" line, user text
// with {{placeholders}}) and the example formatting shared by the explainer and the scorers.
import { readFileSync } from "node:fs";
import type { FeatureExample } from "../features/formats.ts";

export const PROMPT_VERSIONS = { explainer: "explainer-v1", detection: "detection-v1", fuzzing: "fuzzing-v1" } as const;

export interface Template {
  version: string;
  system: string;
  user: string;
}

const cache = new Map<string, Template>();

export function loadTemplate(version: string): Template {
  let t = cache.get(version);
  if (!t) {
    const path = new URL(`./prompts/${version}.txt`, import.meta.url);
    const text = readFileSync(path, "utf8");
    const [system, user] = text.split(/^---user---$/m);
    if (system === undefined || user === undefined)
      throw new Error(`prompt template ${version} has no ---user--- line`);
    t = { version, system: system.trim(), user: user.trim() };
    cache.set(version, t);
  }
  return t;
}

export function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`prompt placeholder ${m} has no value`);
    return v;
  });
}

/** Excerpt text with the tokens at `marked` wrapped in << >> (newlines shown as ⏎ to keep one line). */
export function markedText(ex: FeatureExample, marked: (i: number) => boolean): string {
  return ex.tokens
    .map((t, i) => (marked(i) ? `<<${t}>>` : t))
    .join("")
    .replace(/\n/g, "⏎");
}

/** The explainer's view of an example: marked text + "token (strength 0–10)" list. */
export function explainerExample(ex: FeatureExample, maxActivation: number): string {
  const active = ex.acts.map((a, i) => [i, a] as const).filter(([, a]) => a > 0);
  const strengths = active
    .map(([i, a]) => `${JSON.stringify(ex.tokens[i])} (${Math.max(1, Math.round((10 * a) / (maxActivation || 1)))})`)
    .join(", ");
  return `${markedText(ex, (i) => ex.acts[i]! > 0)}\n   active: ${strengths}`;
}

export const numbered = (items: string[]): string => items.map((s, i) => `${i + 1}. ${s}`).join("\n");
