// GPT-2 byte-level BPE (the r50k_base table, identical to GPT-2's vocabulary) via js-tiktoken.
// Pipeline convention: every sequence starts with BOS = <|endoftext|> = 50256 (as circuit-tracer
// does for GPT-2), and documents are separated by the same token.
import { Tiktoken } from "js-tiktoken/lite";
import r50kBase from "js-tiktoken/ranks/r50k_base";

/** `<|endoftext|>`: GPT-2's only special token, used as BOS, EOS and document separator. */
export const BOS_ID = 50256;
export const EOS_ID = BOS_ID;
export const EOT_TEXT = "<|endoftext|>";
/** Rows of GPT-2's embedding matrix (50 000 merges + 256 bytes + <|endoftext|>). */
export const GPT2_VOCAB_SIZE = 50257;
/**
 * The reserved `<unk>` token of compact-vocabulary models: the first id past GPT-2's vocabulary, so
 * it never collides with a real token. A compact vocabulary that lists it maps every GPT-2 id it does
 * not contain to this row (see src/tokenizer/vocab.ts); it decodes to "<unk>".
 */
export const UNK_ID = GPT2_VOCAB_SIZE;
export const UNK_TEXT = "<unk>";

let encoder: Tiktoken | null = null;

// The rank table is ~1 MB of base64 text that takes ~100 ms to parse: build it on first use only.
function tiktoken(): Tiktoken {
  encoder ??= new Tiktoken(r50kBase);
  return encoder;
}

/** Token ids of `text`. The literal text `<|endoftext|>` becomes token 50256. */
export function encode(text: string): number[] {
  return tiktoken().encode(text, "all");
}

/** `encode(text)` with BOS (50256) prepended: the form every model input in the pipeline takes. */
export function encodeWithBos(text: string): number[] {
  return [BOS_ID, ...encode(text)];
}

/** Text of a token sequence (invalid UTF-8 from split multi-byte characters becomes U+FFFD); `<unk>` for UNK_ID. */
export function decode(ids: readonly number[]): string {
  for (const id of ids) checkId(id);
  // Byte runs between <unk>s are decoded whole, so multi-byte characters split across tokens survive.
  const parts: string[] = [];
  let run: number[] = [];
  for (const id of ids) {
    if (id !== UNK_ID) run.push(id);
    else {
      parts.push(tiktoken().decode(run), UNK_TEXT);
      run = [];
    }
  }
  parts.push(tiktoken().decode(run));
  return parts.join("");
}

/** Text of a single token, e.g. 1596 → " 17"; UNK_ID → "<unk>". */
export function decodeToken(id: number): string {
  checkId(id);
  return id === UNK_ID ? UNK_TEXT : tiktoken().decode([id]);
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > UNK_ID) {
    throw new Error(
      `token id ${id} is outside the GPT-2 vocabulary [0, ${GPT2_VOCAB_SIZE}) and is not <unk> (${UNK_ID})`,
    );
  }
}

export { CompactVocab } from "./vocab.ts";
