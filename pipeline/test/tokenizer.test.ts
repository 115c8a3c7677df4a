import assert from "node:assert/strict";
import { test } from "node:test";
import { BOS_ID, decode, decodeToken, encode, encodeWithBos, UNK_ID } from "../src/tokenizer/index.ts";

test("known GPT-2 ids", () => {
  // Reference ids from GPT-2's tokenizer (HF `GPT2TokenizerFast`).
  assert.deepEqual(encode("Hello world"), [15496, 995]);
  assert.deepEqual(encode(" 1732"), [1596, 2624]);
  assert.equal(decodeToken(1596), " 17");
  assert.equal(decodeToken(2624), "32");
  assert.equal(decodeToken(BOS_ID), "<|endoftext|>");
});

test("<|endoftext|> in text maps to the single token 50256", () => {
  assert.deepEqual(encode("<|endoftext|>"), [50256]);
  const ids = encode("a<|endoftext|>b");
  assert.deepEqual(ids, [...encode("a"), 50256, ...encode("b")]);
  assert.equal(ids.filter((i) => i === 50256).length, 1);
});

test("encodeWithBos prepends 50256", () => {
  const ids = encodeWithBos("The war lasted from the year 1732 to the year 17");
  assert.equal(ids[0], BOS_ID);
  assert.deepEqual(ids.slice(1), encode("The war lasted from the year 1732 to the year 17"));
  assert.deepEqual(encodeWithBos(""), [BOS_ID]);
});

test("decode(encode(x)) round-trips arbitrary text, including non-ASCII", () => {
  for (const s of ["", "The siege lasted from 1732 to 1745.", "naïve café — 東京 🙂\n\n\ttabs", "<|endoftext|>x"]) {
    assert.equal(decode(encode(s)), s);
  }
});

test("out-of-range ids throw a clear error", () => {
  assert.throws(() => decodeToken(50258), /outside the GPT-2 vocabulary/);
  // 50257 is the reserved <unk> id of compact vocabularies (one past GPT-2's tokens)
  assert.equal(decodeToken(UNK_ID), "<unk>");
  assert.equal(decode([464, UNK_ID, UNK_ID, 13]), "The<unk><unk>.");
  assert.throws(() => decode([1, -1]), /outside the GPT-2 vocabulary/);
});
