// The demo LM's compact vocabulary: only the GPT-2 tokens its corpus uses (+ <|endoftext|>, the 100
// two-digit year tokens "00".."99" the greater-than metric reads, and the reserved `<unk>` row that
// every other GPT-2 token maps to), so the embedding/unembedding has ~1 000 rows instead of 50 257.
import { BOS_ID, CompactVocab, encode, UNK_ID } from "../tokenizer/index.ts";

export { CompactVocab };

/** GPT-2 ids of the two-digit tokens "00".."99" (index = the number). */
export function twoDigitTokenIds(): number[] {
  return Array.from({ length: 100 }, (_, n) => {
    const ids = encode(String(n).padStart(2, "0"));
    if (ids.length !== 1) throw new Error(`"${String(n).padStart(2, "0")}" is not a single GPT-2 token`);
    return ids[0] as number;
  });
}

/** Every token of `texts`, plus 50256, "00".."99" and `<unk>` (unless `unk` is false). */
export function demoCompactVocab(texts: Iterable<string>, unk = true): CompactVocab {
  return CompactVocab.fromTexts(texts, [BOS_ID, ...twoDigitTokenIds(), ...(unk ? [UNK_ID] : [])], encode);
}
