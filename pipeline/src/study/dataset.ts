// The greater-than dataset after Hanna, Liu & Variengien (2023):
//   "The {noun} lasted from the year {XX}{YY} to the year {XX}"  with BOS (50256) prepended.
// Only years whose " XXYY" tokenizes as [" XX", "YY"] with GPT-2's tokenizer are used, YY ∈ 02..98
// (the first and last year of a century are left out as in the paper). The model's answer is the
// next two-digit token ZZ ("00".."99", no leading space). The "01-corrupted" variant replaces YY by
// 01 (the patching baseline of the paper). Token ids here are GPT-2 ids.

import { Rng } from "@circuit-atlas/util";
import { BOS_ID, decodeToken, encode } from "../tokenizer/index.ts";

export interface Tokenizer {
  encode(text: string): number[];
  decodeToken(id: number): string;
}

export const gpt2Tokenizer: Tokenizer = { encode, decodeToken };

/**
 * Event-like nouns in the style of the paper's list (our own selection, each one GPT-2 token with a
 * leading space). Used for GPT-2 small; the demo model uses the demo corpus's held-out nouns.
 */
export const HANNA_STYLE_NOUNS: readonly string[] = [
  "war",
  "accord",
  "agreement",
  "alliance",
  "blockade",
  "boycott",
  "campaign",
  "ceasefire",
  "conflict",
  "conspiracy",
  "contract",
  "crisis",
  "crusade",
  "deal",
  "dispute",
  "dynasty",
  "empire",
  "epidemic",
  "expedition",
  "famine",
  "feud",
  "festival",
  "fight",
  "investigation",
  "journey",
  "marriage",
  "mission",
  "monarchy",
  "occupation",
  "operation",
  "pact",
  "partnership",
  "plague",
  "project",
  "protest",
  "rebellion",
  "regime",
  "reign",
  "relationship",
  "revolution",
  "riot",
  "rivalry",
  "rule",
  "scandal",
  "siege",
  "strike",
  "struggle",
  "survey",
  "tour",
  "trial",
  "treaty",
  "truce",
  "tradition",
  "voyage",
  "drought",
  "exile",
  "ban",
  "embargo",
  "mandate",
  "program",
];

export interface GreaterThanOptions {
  nouns: readonly string[];
  /** Two-digit century prefixes XX; default 11..18 (the paper's 1000–1899 without 10xx, where the
   * corrupted year 1001 does not split as [" 10", "01"]). */
  centuries?: readonly number[];
  /** Inclusive YY range; default [2, 98]. */
  yyRange?: readonly [number, number];
  /** Drop nouns that are not one token with a leading space (keeps every prompt the same length). */
  requireSingleTokenNoun?: boolean;
  tokenizer?: Tokenizer;
}

export interface GreaterThanPrompt {
  noun: string;
  century: number;
  yy: number;
  text: string;
  /** GPT-2 ids, BOS first. */
  tokens: number[];
  /** Same sentence with YY = 01. */
  corruptedText: string;
  corruptedTokens: number[];
  /** Position of the YY token (in `tokens`, BOS = 0). */
  yyPosition: number;
  /** Last position: the second " XX" token, where the answer ZZ is predicted. */
  finalPosition: number;
}

export interface GreaterThanDataset {
  prompts: GreaterThanPrompt[];
  /** Valid YY values per century. */
  validYears: Map<number, number[]>;
  nouns: string[];
  droppedNouns: string[];
  /** GPT-2 ids of "00".."99". */
  yearTokenIds: number[];
}

export const pad2 = (n: number): string => String(n).padStart(2, "0");

export function promptText(noun: string, century: number, yy: number): string {
  return `The ${noun} lasted from the year ${century}${pad2(yy)} to the year ${century}`;
}

/** True when " XXYY" tokenizes as exactly [" XX", "YY"]. */
export function yearSplits(century: number, yy: number, tok: Tokenizer = gpt2Tokenizer): boolean {
  const ids = tok.encode(` ${century}${pad2(yy)}`);
  return ids.length === 2 && tok.decodeToken(ids[0]!) === ` ${century}` && tok.decodeToken(ids[1]!) === pad2(yy);
}

/** GPT-2 ids of the 100 two-digit tokens "00".."99". */
export function twoDigitTokenIds(tok: Tokenizer = gpt2Tokenizer): number[] {
  return Array.from({ length: 100 }, (_, zz) => {
    const ids = tok.encode(pad2(zz));
    if (ids.length !== 1) throw new Error(`"${pad2(zz)}" is not a single token`);
    return ids[0]!;
  });
}

export function validYears(century: number, range: readonly [number, number] = [2, 98], tok = gpt2Tokenizer): number[] {
  const out: number[] = [];
  for (let yy = range[0]; yy <= range[1]; yy++) if (yearSplits(century, yy, tok)) out.push(yy);
  return out;
}

export function greaterThanDataset(options: GreaterThanOptions): GreaterThanDataset {
  const tok = options.tokenizer ?? gpt2Tokenizer;
  const centuries = options.centuries ?? [11, 12, 13, 14, 15, 16, 17, 18];
  const range = options.yyRange ?? [2, 98];
  if (!(range[0] >= 0 && range[1] <= 99 && range[0] <= range[1])) throw new Error(`bad YY range ${range.join("..")}`);
  for (const c of centuries) {
    if (!(Number.isInteger(c) && c >= 10 && c <= 99)) throw new Error(`century prefix must be 10..99, got ${c}`);
    if (!yearSplits(c, 1, tok)) throw new Error(`the corrupted year ${c}01 does not tokenize as [" ${c}", "01"]`);
  }
  const requireSingle = options.requireSingleTokenNoun ?? true;
  const nouns: string[] = [];
  const droppedNouns: string[] = [];
  for (const noun of options.nouns) {
    if (requireSingle && tok.encode(` ${noun}`).length !== 1) droppedNouns.push(noun);
    else nouns.push(noun);
  }
  if (nouns.length === 0) throw new Error("no usable nouns for the greater-than dataset");
  const years = new Map<number, number[]>();
  for (const c of centuries) years.set(c, validYears(c, range, tok));

  const prompts: GreaterThanPrompt[] = [];
  for (const noun of nouns) {
    const prefix = [BOS_ID, ...tok.encode(`The ${noun} lasted from the year`)];
    for (const c of centuries) {
      for (const yy of years.get(c)!) {
        const text = promptText(noun, c, yy);
        const tokens = [BOS_ID, ...tok.encode(text)];
        const corruptedText = promptText(noun, c, 1);
        const corruptedTokens = [BOS_ID, ...tok.encode(corruptedText)];
        const yyPosition = prefix.length + 1;
        // The year must sit right after the prefix as [" XX", "YY"] in the full prompt too.
        if (tok.decodeToken(tokens[yyPosition]!) !== pad2(yy) || corruptedTokens.length !== tokens.length) {
          throw new Error(`prompt "${text}" does not tokenize as expected`);
        }
        prompts.push({
          noun,
          century: c,
          yy,
          text,
          tokens,
          corruptedText,
          corruptedTokens,
          yyPosition,
          finalPosition: tokens.length - 1,
        });
      }
    }
  }
  return { prompts, validYears: years, nouns, droppedNouns, yearTokenIds: twoDigitTokenIds(tok) };
}

/** n prompts with YY cycling through the valid years (balanced, as the paper's YearDataset), nouns
 * and centuries drawn with a seeded generator. */
export function sampleBalanced(ds: GreaterThanDataset, n: number, seed = 0): GreaterThanPrompt[] {
  const rand = new Rng(seed).uniform;
  const byYY = new Map<number, GreaterThanPrompt[]>();
  for (const p of ds.prompts) {
    const list = byYY.get(p.yy) ?? [];
    list.push(p);
    byYY.set(p.yy, list);
  }
  const yys = [...byYY.keys()].sort((a, b) => a - b);
  if (yys.length === 0) throw new Error("empty greater-than dataset");
  const out: GreaterThanPrompt[] = [];
  for (let i = 0; i < n; i++) {
    const list = byYY.get(yys[i % yys.length]!)!;
    out.push(list[Math.floor(rand() * list.length)]!);
  }
  return out;
}
