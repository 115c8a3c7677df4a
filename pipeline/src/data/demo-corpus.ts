// A generated English corpus for the offline demo LM: varied template sentences (history, lifespans,
// prices, quantities, counting, lists, contrasts, dates, …) with many date ranges in the form of
// Hanna, Liu & Variengien's greater-than task ("The {noun} lasted from the year 1732 to the year
// 1745."), where the end year is later than the start year in the same century, mixed with lines
// whose years are not in increasing order (lifespans read backwards, unordered lists, archives that
// look back), so the comparison has to be learned from the pattern.
//
// Event nouns are split deterministically into a train list and a held-out list that never occurs
// in the train split; the greater-than study evaluates on the held-out nouns. "war" is held out too,
// so Goodfire's headline prompt ("The war lasted from the year 1711 to 17") tests the same
// generalisation as Hanna's held-out nouns. Both wordings of the end year occur in training: Hanna's
// "… to the year {XX}{ZZ}" and Goodfire's "… to {XX}{ZZ}". Date-range years are
// restricted to those GPT-2 tokenizes as [" XX", "YY"] (Hanna's `get_valid_years`: centuries
// 11..18, dropping each century's first and last valid year), so the answer is one two-digit token.
// Everything is a deterministic function of the seed.
import { existsSync, statfsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { checkTarget, Rng, writeFileAtomic } from "@circuit-atlas/util";
import { decodeToken, encode } from "../tokenizer/index.ts";

/** Hanna-style event nouns; the train/held-out split below is by index in this list. */
const BASE_NOUNS: readonly string[] = [
  "abduction",
  "accord",
  "affair",
  "agreement",
  "alliance",
  "appointment",
  "arrangement",
  "assault",
  "attack",
  "ban",
  "battle",
  "blockade",
  "boom",
  "boycott",
  "campaign",
  "ceasefire",
  "celebration",
  "ceremony",
  "clash",
  "coalition",
  "collapse",
  "conflict",
  "conquest",
  "conspiracy",
  "contract",
  "controversy",
  "convention",
  "coup",
  "crisis",
  "crusade",
  "decline",
  "depression",
  "deployment",
  "dispute",
  "drought",
  "dynasty",
  "embargo",
  "empire",
  "epidemic",
  "era",
  "exile",
  "exodus",
  "expansion",
  "expedition",
  "experiment",
  "exploration",
  "famine",
  "feud",
  "festival",
  "flood",
  "friendship",
  "government",
  "hunt",
  "imprisonment",
  "insurrection",
  "investigation",
  "journey",
  "kingdom",
  "marriage",
  "massacre",
  "migration",
  "mission",
  "monarchy",
  "movement",
  "mutiny",
  "negotiation",
  "occupation",
  "operation",
  "outbreak",
  "pact",
  "partnership",
  "period",
  "persecution",
  "pilgrimage",
  "plague",
  "presidency",
  "program",
  "project",
  "protest",
  "quarrel",
  "raid",
  "rebellion",
  "reconstruction",
  "reform",
  "regime",
  "reign",
  "renaissance",
  "republic",
  "revival",
  "revolt",
  "revolution",
  "riot",
  "rivalry",
  "rule",
  "scandal",
  "schism",
  "settlement",
  "siege",
  "slump",
  "stalemate",
  "strike",
  "struggle",
  "study",
  "succession",
  "surge",
  "survey",
  "tenure",
  "term",
  "tradition",
  "treaty",
  "trial",
  "truce",
  "tyranny",
  "union",
  "upheaval",
  "uprising",
  "venture",
  "voyage",
  "warfare",
  "work",
];

/** Nouns held out on top of the index split: "war" is the noun of Goodfire's headline prompt. */
const EXTRA_HELDOUT_NOUNS: readonly string[] = ["war"];

/**
 * Held-out nouns never appear in the train split: every fourth base noun (indices 1, 5, 9, …),
 * then "war".
 */
export const HELDOUT_NOUNS: readonly string[] = [...BASE_NOUNS.filter((_, i) => i % 4 === 1), ...EXTRA_HELDOUT_NOUNS];
export const TRAIN_NOUNS: readonly string[] = BASE_NOUNS.filter((_, i) => i % 4 !== 1);
/** All event nouns, train and held-out: the base list, then "war". */
export const EVENT_NOUNS: readonly string[] = [...BASE_NOUNS, ...EXTRA_HELDOUT_NOUNS];

/** Goodfire's headline prompt (circuit-tracing replication), without BOS. */
export const WAR_PROMPT = "The war lasted from the year 1711 to 17";

export interface ValidYears {
  /** Century prefix, e.g. 17 for 1700–1799. */
  century: number;
  /** Two-digit suffixes YY such that " {century}{YY}" is the GPT-2 tokens [" {century}", "YY"]. */
  yys: number[];
}

let validYearsCache: ValidYears[] | null = null;

/**
 * Hanna et al.'s valid years for centuries 11..18: years that tokenize as exactly [" XX", "YY"],
 * without each century's first and last valid year (so YY ∈ 02..98).
 */
export function validYears(): ValidYears[] {
  if (validYearsCache) return validYearsCache;
  const out: ValidYears[] = [];
  for (let century = 11; century <= 18; century++) {
    const yys: number[] = [];
    for (let yy = 0; yy < 100; yy++) {
      const two = String(yy).padStart(2, "0");
      const ids = encode(` ${century}${two}`);
      if (
        ids.length === 2 &&
        decodeToken(ids[0] as number) === ` ${century}` &&
        decodeToken(ids[1] as number) === two
      ) {
        yys.push(yy);
      }
    }
    out.push({ century, yys: yys.slice(1, -1) });
  }
  validYearsCache = out;
  return out;
}

/**
 * Wordings of the greater-than prompt: Hanna et al.'s "… to the year {XX}" and the variant of
 * Goodfire's circuit-tracing replication, "… to {XX}".
 */
export type GreaterThanTemplate = "hanna" | "goodfire";
export const GREATER_THAN_TEMPLATES: readonly GreaterThanTemplate[] = ["hanna", "goodfire"];

/**
 * The greater-than prompt (without BOS): "The {noun} lasted from the year {XX}{YY} to the year {XX}"
 * (hanna) or "The {noun} lasted from the year {XX}{YY} to {XX}" (goodfire).
 */
export function greaterThanPrompt(
  noun: string,
  century: number,
  yy: number,
  template: GreaterThanTemplate = "hanna",
): string {
  const to = template === "hanna" ? "to the year" : "to";
  return `The ${noun} lasted from the year ${century}${pad2(yy)} ${to} ${century}`;
}

export function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

// ---------------------------------------------------------------------------------------------
// Word lists (no event noun occurs in them: held-out nouns must stay out of the train split)

const NAMES = [
  "Anna",
  "Marta",
  "Johann",
  "Pierre",
  "Elena",
  "Tomas",
  "Isabel",
  "Henrik",
  "Clara",
  "Lucas",
  "Sofia",
  "Karl",
  "Maria",
  "Oskar",
  "Ingrid",
  "Pedro",
  "Helena",
  "Viktor",
  "Agnes",
  "Felix",
  "Rosa",
  "Anton",
  "Lena",
  "Hugo",
  "Beatrice",
  "Emil",
  "Nora",
  "Jakob",
  "Alma",
  "Otto",
  "Greta",
  "Luis",
  "Ada",
  "Paul",
  "Eva",
  "Simon",
];
const SURNAMES = [
  "Berg",
  "Laurent",
  "Fischer",
  "Moreau",
  "Novak",
  "Costa",
  "Lind",
  "Weber",
  "Rossi",
  "Dumont",
  "Horvat",
  "Keller",
  "Silva",
  "Brandt",
  "Marino",
  "Olsen",
  "Vogel",
  "Ferrari",
  "Hale",
  "Carter",
  "Ward",
  "Fleming",
];
const JOBS = [
  "painter",
  "merchant",
  "sailor",
  "poet",
  "doctor",
  "mason",
  "teacher",
  "weaver",
  "farmer",
  "printer",
  "composer",
  "lawyer",
  "baker",
  "builder",
  "scholar",
  "soldier",
  "priest",
  "banker",
  "potter",
  "clockmaker",
];
const PLACES = [
  "the valley",
  "the river town",
  "the northern province",
  "the old city",
  "the harbour",
  "the island",
  "the mountain villages",
  "the southern coast",
  "the capital",
  "the border region",
  "the eastern plains",
  "the free city",
  "the duchy",
  "the lowlands",
  "the forest district",
];
const PEOPLES = ["northern", "southern", "eastern", "western", "coastal", "inland", "royal", "local"];
const BUILDINGS = [
  "bridge",
  "cathedral",
  "castle",
  "library",
  "mill",
  "tower",
  "market hall",
  "school",
  "palace",
  "harbour wall",
  "chapel",
  "city gate",
  "lighthouse",
  "hospital",
  "theatre",
];
const GOODS = [
  ["loaf of bread", "loaves of bread"],
  ["pound of salt", "pounds of salt"],
  ["barrel of wine", "barrels of wine"],
  ["sack of grain", "sacks of grain"],
  ["pair of boots", "pairs of boots"],
  ["bolt of cloth", "bolts of cloth"],
  ["jar of honey", "jars of honey"],
  ["basket of apples", "baskets of apples"],
  ["candle", "candles"],
  ["horse", "horses"],
  ["cow", "cows"],
  ["book", "books"],
  ["lamp", "lamps"],
  ["coat", "coats"],
];
const ANIMALS = ["sheep", "goats", "cows", "hens", "horses", "pigs", "ducks", "geese", "rabbits", "dogs"];
const FRUITS = ["apples", "pears", "plums", "cherries", "grapes", "figs", "oranges", "lemons", "peaches", "melons"];
const TOOLS = ["hammers", "saws", "ropes", "nails", "spades", "buckets", "ladders", "knives", "needles", "axes"];
const COLORS = ["red", "blue", "green", "yellow", "white", "black", "grey", "brown"];
const ADJ_GOOD = ["cheap", "fast", "simple", "strong", "light", "quiet", "safe", "warm", "bright", "useful"];
const ADJ_BAD = ["fragile", "slow", "noisy", "heavy", "expensive", "cold", "dull", "awkward", "risky", "small"];
const THINGS = ["the new road", "the plan", "the old boat", "the machine", "the house", "the proposal", "the design"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const NUMBER_WORDS = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
];
const UNITS = ["dollars", "francs", "crowns", "pounds", "florins", "marks", "shillings"];

// ---------------------------------------------------------------------------------------------
// Sentence templates

type Gen = (r: Rng, noun: string) => string;

function yearIn(r: Rng, lo = 1000, hi = 1999): number {
  return lo + r.int(hi - lo + 1);
}

/** A (start, end) pair of valid years in one century with end > start. */
function orderedYears(r: Rng): [string, string, number, number] {
  const { century, yys } = r.pick(validYears());
  let i = r.int(yys.length - 1);
  const start = yys[i] as number;
  // End years cluster after the start, as in real text, but span the whole rest of the century.
  const later = yys.filter((y) => y > start);
  i = r.next() < 0.6 ? Math.min(later.length - 1, Math.floor(-Math.log(1 - r.next()) * 8)) : r.int(later.length);
  const end = later[i] as number;
  return [`${century}${pad2(start)}`, `${century}${pad2(end)}`, century, start];
}

function plural(word: string): string {
  return word.endsWith("y") ? `${word.slice(0, -1)}ies` : word.endsWith("ch") ? `${word}es` : `${word}s`;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? "an" : "a";
}

function person(r: Rng): string {
  return `${r.pick(NAMES)} ${r.pick(SURNAMES)}`;
}

/**
 * Date ranges in increasing order (the greater-than pattern); the first is Hanna's exact template,
 * the second Goodfire's variant of it.
 */
const RANGE_TEMPLATES: Gen[] = [
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${n} lasted from the year ${a} to the year ${b}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${n} lasted from the year ${a} to ${b}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${n} lasted from ${a} to ${b}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${n} started in the year ${a} and ended in the year ${b}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${n} began in ${a} and ended in ${b}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${n} took place between ${a} and ${b}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `Between ${a} and ${b}, the ${n} changed ${r.pick(PLACES)}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${n} went on from the year ${a} until the year ${b}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `From ${a} to ${b} the ${n} shaped ${r.pick(PLACES)}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${r.pick(PEOPLES)} ${n} lasted from the year ${a} to the year ${b}.`;
  },
  (r, n) => {
    const [a, b] = orderedYears(r);
    return `The ${n} in ${r.pick(PLACES)} lasted from the year ${a} to the year ${b}.`;
  },
];

/** Lines with years that are not a forward range. */
const OTHER_YEAR_TEMPLATES: ((r: Rng) => string)[] = [
  (r) => {
    const [a, b] = orderedYears(r);
    return `${person(r)}, a ${r.pick(JOBS)}, died in ${b} and was born in ${a}.`;
  },
  (r) => {
    const [a, b] = orderedYears(r);
    return `${person(r)} was born in ${a} and died in ${b}.`;
  },
  (r) => {
    const [a, b] = orderedYears(r);
    return `${person(r)} (${a}–${b}) was a ${r.pick(JOBS)} from ${r.pick(PLACES)}.`;
  },
  (r) => {
    const [a, b] = orderedYears(r);
    return `A report written in ${b} looked back at the harvest of ${a}.`;
  },
  (r) => {
    const [a, b] = orderedYears(r);
    return `The ${r.pick(BUILDINGS)} was rebuilt in ${b}; the first one had been built in ${a}.`;
  },
  (r) => {
    const ys = [yearIn(r), yearIn(r), yearIn(r)];
    return `The town records mention the years ${ys[0]}, ${ys[1]} and ${ys[2]}.`;
  },
  (r) => {
    const ys = [yearIn(r, 1100, 1899), yearIn(r, 1100, 1899)];
    return `High water was reported in ${ys[0]} and again in ${ys[1]}.`;
  },
  (r) => `The ${r.pick(BUILDINGS)} was built in ${yearIn(r, 1100, 1899)}.`,
  (r) => `In ${yearIn(r, 1100, 1899)} the ${r.pick(BUILDINGS)} of ${r.pick(PLACES)} burned down.`,
  (r) => `On ${r.pick(MONTHS)} ${1 + r.int(28)}, ${yearIn(r, 1100, 1899)}, ${person(r)} arrived in ${r.pick(PLACES)}.`,
  (r) => {
    const y = yearIn(r, 1100, 1890);
    const step = r.pick([1, 2, 5, 10]);
    return `The census was taken in ${y}, ${y + step}, ${y + 2 * step} and ${y + 3 * step}.`;
  },
  (r) => {
    const a = yearIn(r, 1100, 1899);
    const b = yearIn(r, 1100, 1899);
    return `Some say the ${r.pick(BUILDINGS)} dates from ${a}, others from ${b}.`;
  },
];

const GENERAL_TEMPLATES: ((r: Rng) => string)[] = [
  // prices
  (r) => {
    const [one, many] = r.pick(GOODS) as string[];
    const p = 1 + r.int(60);
    return `A ${one} cost ${p} ${r.pick(UNITS)}, and ${2 + r.int(9)} ${many} cost ${p * (2 + r.int(5))}.`;
  },
  (r) => {
    const a = 2 + r.int(80);
    return `Prices rose from ${a} to ${a + 1 + r.int(40)} ${r.pick(UNITS)} in one winter.`;
  },
  (r) => {
    const a = 10 + r.int(80);
    return `The price fell from ${a} to ${1 + r.int(a - 1)} ${r.pick(UNITS)}.`;
  },
  (r) => {
    const [, many] = r.pick(GOODS) as string[];
    return `At the market, ${many} were sold for ${1 + r.int(30)} ${r.pick(UNITS)} each.`;
  },
  // quantities
  (r) => `The farmer had ${2 + r.int(40)} ${r.pick(ANIMALS)} and ${2 + r.int(40)} ${r.pick(ANIMALS)}.`,
  (r) => `There were ${3 + r.int(200)} people in ${r.pick(PLACES)} and ${2 + r.int(20)} ${plural(r.pick(BUILDINGS))}.`,
  (r) => {
    const a = 1 + r.int(20);
    const b = 1 + r.int(20);
    return `${cap(NUMBER_WORDS[Math.min(a, 12)] ?? "many")} ${r.pick(TOOLS)} and ${b} ${r.pick(TOOLS)} were in the shed.`;
  },
  (r) => {
    const a = 2 + r.int(30);
    const b = 2 + r.int(30);
    return `If you have ${a} ${r.pick(FRUITS)} and get ${b} more, you have ${a + b}.`;
  },
  // counting
  (r) => {
    const start = r.int(90);
    const n = 3 + r.int(6);
    return `Counting: ${Array.from({ length: n }, (_, i) => start + i).join(", ")}.`;
  },
  (r) => {
    const start = r.int(5);
    const n = 3 + r.int(5);
    return `${cap(NUMBER_WORDS.slice(start, start + n).join(", "))}.`;
  },
  (r) => {
    const start = 1 + r.int(40);
    const step = 2 + r.int(4);
    return `The numbers go ${start}, ${start + step}, ${start + 2 * step}, ${start + 3 * step} and so on.`;
  },
  // lists
  (r) => {
    const fs = r.shuffle([...FRUITS]).slice(0, 3);
    return `${person(r)} bought ${fs[0]}, ${fs[1]} and ${fs[2]}.`;
  },
  (r) => {
    const cs = r.shuffle([...COLORS]).slice(0, 2);
    return `The flag of ${r.pick(PLACES)} is ${cs[0]} and ${cs[1]}.`;
  },
  (r) => `The ${r.pick(JOBS)} packed ${r.pick(TOOLS)}, ${r.pick(TOOLS)} and a ${r.pick(COLORS)} coat.`,
  // contrasts
  (r) => `Every plan has pros and cons: ${r.pick(THINGS)} is ${r.pick(ADJ_GOOD)} but ${r.pick(ADJ_BAD)}.`,
  (r) => `${cap(r.pick(THINGS))} was ${r.pick(ADJ_GOOD)}, yet ${r.pick(ADJ_BAD)}.`,
  (r) => `On the one hand it was ${r.pick(ADJ_GOOD)}; on the other hand it was ${r.pick(ADJ_BAD)}.`,
  (r) => {
    const [a, b] = r.shuffle([...ADJ_GOOD]);
    return `The pros: it is ${a} and ${b}. The cons: it is ${r.pick(ADJ_BAD)}.`;
  },
  // people and places
  (r) => {
    const job = r.pick(JOBS);
    return `${person(r)} worked as ${article(job)} ${job} in ${r.pick(PLACES)}.`;
  },
  (r) => `${person(r)} was ${12 + r.int(70)} years old when the ${r.pick(BUILDINGS)} opened.`,
  (r) => `The road from ${r.pick(PLACES)} to ${r.pick(PLACES)} is ${2 + r.int(120)} miles long.`,
  (r) => `In ${r.pick(MONTHS)} the ${r.pick(ANIMALS)} of ${r.pick(PLACES)} were moved to higher ground.`,
  (r) => `The ${r.pick(BUILDINGS)} has ${2 + r.int(12)} doors and ${4 + r.int(60)} windows.`,
  (r) => `${person(r)} wrote ${2 + r.int(30)} letters to ${person(r)}.`,
];

/** Share of forward date ranges in Hanna's exact template and in Goodfire's variant. */
export const RANGE_TEMPLATE_SHARES = { hanna: 0.3, goodfire: 0.2 } as const;

/** A forward date range: Hanna's template 30%, Goodfire's variant 20%, the other variants share the rest. */
function rangeSentence(r: Rng, nouns: readonly string[]): string {
  const u = r.next();
  const template =
    u < RANGE_TEMPLATE_SHARES.hanna
      ? (RANGE_TEMPLATES[0] as Gen)
      : u < RANGE_TEMPLATE_SHARES.hanna + RANGE_TEMPLATE_SHARES.goodfire
        ? (RANGE_TEMPLATES[1] as Gen)
        : r.pick(RANGE_TEMPLATES.slice(2));
  return template(r, r.pick(nouns));
}

function sentenceFor(r: Rng, nouns: readonly string[], rangeShare: number): string {
  const u = r.next();
  if (u < rangeShare) return rangeSentence(r, nouns);
  if (u < rangeShare + 0.22) return r.pick(OTHER_YEAR_TEMPLATES)(r);
  return r.pick(GENERAL_TEMPLATES)(r);
}

export type DemoSplit = "train" | "heldout";

export interface DemoCorpusOptions {
  /** Stop once this many GPT-2 tokens (separators not counted) were generated. */
  tokens: number;
  seed?: number;
  split?: DemoSplit;
}

/**
 * Documents of the demo corpus. Train documents have 1–4 sentences; 60% start with a date range
 * (so "<|endoftext|>The {noun} lasted from the year …" is a common document opening), and about
 * half of all sentences are forward date ranges (30% of them in Hanna's exact template, 20% in
 * Goodfire's "… to {XX}{ZZ}" variant).
 * Held-out documents contain only date ranges with held-out nouns.
 */
export function* demoDocuments(options: DemoCorpusOptions): Generator<{ text: string; tokens: number }> {
  const split = options.split ?? "train";
  const seed = options.seed ?? 0;
  // Separate streams per split, so the splits are independent but each is reproducible.
  const r = new Rng(seed * 2 + (split === "heldout" ? 1 : 0));
  let total = 0;
  while (total < options.tokens) {
    let text: string;
    if (split === "heldout") {
      const n = 1 + r.int(3);
      text = Array.from({ length: n }, () => rangeSentence(r, HELDOUT_NOUNS)).join(" ");
    } else {
      const n = 1 + r.int(4);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) {
        const first = i === 0 && r.next() < 0.6;
        parts.push(first ? rangeSentence(r, TRAIN_NOUNS) : sentenceFor(r, TRAIN_NOUNS, 0.4));
      }
      text = parts.join(" ");
    }
    const tokens = encode(text).length;
    total += tokens;
    yield { text, tokens };
  }
}

export interface DemoCorpusStats {
  path: string;
  split: DemoSplit;
  documents: number;
  tokens: number;
  bytes: number;
}

// Bytes of JSONL per GPT-2 token of the demo text (measured: ~4.6), with a margin.
const BYTES_PER_TOKEN = 6;

/**
 * Writes `{outDir}/{split}.jsonl` (one {"text": …} object per line), atomically and streamed (the
 * corpus is never held in memory). Refuses a size the disk cannot hold before writing anything.
 */
export function writeDemoCorpus(outDir: string, options: DemoCorpusOptions): DemoCorpusStats {
  const split = options.split ?? "train";
  if (!Number.isSafeInteger(options.tokens) || options.tokens <= 0) {
    throw new Error(`--tokens must be a positive integer, got ${options.tokens}`);
  }
  const path = join(outDir, `${split}.jsonl`);
  checkTarget(path);
  const need = options.tokens * BYTES_PER_TOKEN;
  const free = freeBytes(outDir);
  if (free !== null && need > free) {
    throw new Error(
      `--tokens ${options.tokens} needs about ${gib(need)} on disk for ${path}, but only ${gib(free)} is free; ` +
        `ask for at most ${Math.floor(free / BYTES_PER_TOKEN)} tokens`,
    );
  }
  const stats = { documents: 0, tokens: 0, bytes: 0 };
  function* lines(): Generator<string> {
    for (const doc of demoDocuments(options)) {
      const line = `${JSON.stringify({ text: doc.text })}\n`;
      stats.documents++;
      stats.tokens += doc.tokens;
      stats.bytes += Buffer.byteLength(line);
      yield line;
    }
  }
  writeFileAtomic(path, lines());
  return { path, split, ...stats };
}

/** Free bytes on the file system that holds `dir` (or its nearest existing parent); null if unknown. */
function freeBytes(dir: string): number | null {
  let d = resolve(dir);
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  try {
    const st = statfsSync(d);
    return Number(st.bavail) * Number(st.bsize);
  } catch {
    return null;
  }
}

const gib = (b: number) => (b >= 2 ** 40 ? `${(b / 2 ** 40).toFixed(1)} TiB` : `${(b / 2 ** 30).toFixed(1)} GiB`);
