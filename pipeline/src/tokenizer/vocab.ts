// Compact vocabularies: a model whose embedding has rows for only some GPT-2 tokens (the demo LM).
// Row i is GPT-2 token gpt2Ids[i] (the model's `vocab_map.json`), ids ascending. A vocabulary that
// lists UNK_ID (50257, always the last row) has an `<unk>` row: every GPT-2 id it does not contain maps
// there, so any prompt runs; the reverse map gives UNK_ID back, which decodes to "<unk>". Without it,
// an id outside the vocabulary is an error.
import { decodeToken, GPT2_VOCAB_SIZE, UNK_ID } from "./index.ts";

export class CompactVocab {
  /** GPT-2 id of each model row (ascending; UNK_ID last when present). */
  readonly gpt2Ids: Int32Array;
  /** Row of `<unk>`, or -1 when the vocabulary has none. */
  readonly unkRow: number;
  private readonly rowOf: Int32Array;

  constructor(gpt2Ids: ArrayLike<number>) {
    const ids = Int32Array.from(gpt2Ids);
    this.rowOf = new Int32Array(GPT2_VOCAB_SIZE + 1).fill(-1);
    ids.forEach((g, row) => {
      if (!Number.isInteger(g) || g < 0 || g > UNK_ID) throw new Error(`vocab: ${g} is not a GPT-2 id or <unk>`);
      if (this.rowOf[g] !== -1) throw new Error(`vocab: GPT-2 id ${g} appears twice`);
      this.rowOf[g] = row;
    });
    this.gpt2Ids = ids;
    this.unkRow = this.rowOf[UNK_ID] as number;
  }

  /** Every token of `texts` plus `extra` ids (e.g. BOS, UNK_ID), ascending. */
  static fromTexts(texts: Iterable<string>, extra: readonly number[], encode: (t: string) => number[]): CompactVocab {
    const seen = new Set<number>(extra);
    for (const t of texts) for (const id of encode(t)) seen.add(id);
    return new CompactVocab([...seen].sort((a, b) => a - b));
  }

  get size(): number {
    return this.gpt2Ids.length;
  }

  /** True when `gpt2Id` has its own row (not via `<unk>`). */
  has(gpt2Id: number): boolean {
    return Number.isInteger(gpt2Id) && gpt2Id >= 0 && gpt2Id <= UNK_ID && this.rowOf[gpt2Id] !== -1;
  }

  /** GPT-2 ids → model rows; ids outside the vocabulary go to `<unk>` (or throw without one). */
  toModel(gpt2Ids: ArrayLike<number>): Int32Array {
    const out = new Int32Array(gpt2Ids.length);
    for (let i = 0; i < gpt2Ids.length; i++) {
      const g = gpt2Ids[i] as number;
      if (!Number.isInteger(g) || g < 0 || g > UNK_ID) {
        throw new Error(`token id ${g} is outside the GPT-2 vocabulary [0, ${GPT2_VOCAB_SIZE})`);
      }
      let row = this.rowOf[g] as number;
      if (row < 0) row = this.unkRow;
      if (row < 0) {
        throw new Error(
          `the token ${JSON.stringify(decodeToken(g))} (GPT-2 id ${g}) is not in the model's compact vocabulary (${this.size} tokens, no <unk> row)`,
        );
      }
      out[i] = row;
    }
    return out;
  }

  /** Model rows → GPT-2 ids (UNK_ID for the `<unk>` row). */
  toGpt2(rows: ArrayLike<number>): Int32Array {
    const out = new Int32Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as number;
      if (!Number.isInteger(r) || r < 0 || r >= this.size)
        throw new Error(`model token id ${r} is outside [0, ${this.size})`);
      out[i] = this.gpt2Ids[r] as number;
    }
    return out;
  }
}
