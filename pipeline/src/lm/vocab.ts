// Compact vocabulary for the demo LM: only the GPT-2 tokens its corpus uses (+ <|endoftext|> and the
// 100 two-digit year tokens "00".."99" the greater-than metric reads), sorted by GPT-2 id, so the
// embedding/unembedding has ~1 000 rows instead of 50 257. Row i of the model is GPT-2 token vocab[i]
// (the `vocab_map.json` of the saved model).
import { BOS_ID, encode, GPT2_VOCAB_SIZE } from "../tokenizer/index.ts";

/** GPT-2 ids of the two-digit tokens "00".."99" (index = the number). */
export function twoDigitTokenIds(): number[] {
  return Array.from({ length: 100 }, (_, n) => {
    const ids = encode(String(n).padStart(2, "0"));
    if (ids.length !== 1) throw new Error(`"${String(n).padStart(2, "0")}" is not a single GPT-2 token`);
    return ids[0] as number;
  });
}

export class CompactVocab {
  /** GPT-2 id of each model row (ascending). */
  readonly gpt2Ids: Int32Array;
  private readonly rowOf: Int32Array;

  constructor(gpt2Ids: ArrayLike<number>) {
    const ids = Int32Array.from(gpt2Ids);
    this.rowOf = new Int32Array(GPT2_VOCAB_SIZE).fill(-1);
    ids.forEach((g, row) => {
      if (!Number.isInteger(g) || g < 0 || g >= GPT2_VOCAB_SIZE) throw new Error(`vocab: ${g} is not a GPT-2 id`);
      if (this.rowOf[g] !== -1) throw new Error(`vocab: GPT-2 id ${g} appears twice`);
      this.rowOf[g] = row;
    });
    this.gpt2Ids = ids;
  }

  /** Every token of `texts`, plus 50256 and "00".."99". */
  static fromTexts(texts: Iterable<string>): CompactVocab {
    const seen = new Set<number>([BOS_ID, ...twoDigitTokenIds()]);
    for (const t of texts) for (const id of encode(t)) seen.add(id);
    return new CompactVocab([...seen].sort((a, b) => a - b));
  }

  get size(): number {
    return this.gpt2Ids.length;
  }

  has(gpt2Id: number): boolean {
    return gpt2Id >= 0 && gpt2Id < GPT2_VOCAB_SIZE && this.rowOf[gpt2Id] !== -1;
  }

  /** GPT-2 ids → model rows (throws on a token outside the vocabulary). */
  toModel(gpt2Ids: ArrayLike<number>): Int32Array {
    const out = new Int32Array(gpt2Ids.length);
    for (let i = 0; i < gpt2Ids.length; i++) {
      const g = gpt2Ids[i] as number;
      const row = g >= 0 && g < GPT2_VOCAB_SIZE ? (this.rowOf[g] as number) : -1;
      if (row < 0) throw new Error(`GPT-2 token ${g} is not in the compact vocabulary (${this.size} tokens)`);
      out[i] = row;
    }
    return out;
  }

  /** Model rows → GPT-2 ids. */
  toGpt2(rows: ArrayLike<number>): Int32Array {
    const out = new Int32Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as number;
      if (!Number.isInteger(r) || r < 0 || r >= this.size)
        throw new Error(`model token ${r} outside [0, ${this.size})`);
      out[i] = this.gpt2Ids[r] as number;
    }
    return out;
  }
}
