// Teaching the demo LM its `<unk>` row: in each training context a small fraction of whole words
// (every token of the word) is replaced by UNK_ID, so a prompt with words outside the compact
// vocabulary ("The pandemic lasted…") reads as the familiar pattern with an unknown word in it.
import type { Rng } from "../data/rng.ts";
import { decodeToken, UNK_ID } from "../tokenizer/index.ts";

/** 0 = not part of a word (digits, punctuation, BOS), 1 = word token with a leading space, 2 = word token without one. */
const kinds = new Map<number, number>();
function kindOf(id: number): number {
  let k = kinds.get(id);
  if (k === undefined) {
    const s = id === UNK_ID ? "" : decodeToken(id);
    k = /^[A-Za-z]/.test(s) ? 2 : /^ [A-Za-z]/.test(s) ? 1 : 0;
    kinds.set(id, k);
  }
  return k;
}

/**
 * Replaces each word of `ids` (GPT-2 ids) by `<unk>` with probability `rate`, in place: a word starts
 * at a letter token with a leading space (or after a non-word token) and runs over the following
 * letter tokens without one. Returns `ids`.
 */
export function maskWordsWithUnk(ids: Int32Array, rate: number, rng: Rng): Int32Array {
  if (rate <= 0) return ids;
  let masking = false;
  let prevWord = false;
  for (let i = 0; i < ids.length; i++) {
    const k = kindOf(ids[i] as number);
    if (k === 0) {
      masking = prevWord = false;
      continue;
    }
    if (k === 1 || !prevWord) masking = rng.next() < rate;
    prevWord = true;
    if (masking) {
      ids[i] = UNK_ID;
    }
  }
  return ids;
}
