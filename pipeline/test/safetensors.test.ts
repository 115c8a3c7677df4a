import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
} from "../src/safetensors/index.ts";
import { rng } from "./helpers/random-gpt2.ts";

const dir = mkdtempSync(join(tmpdir(), "atlas-st-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// ---- independent references for the float conversions (float64 arithmetic, no bit tricks) ----

/** Value of a binary16 pattern from the IEEE formula. */
function halfValue(h: number): number {
  const s = h >> 15 ? -1 : 1;
  const e = (h >> 10) & 31;
  const f = h & 1023;
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return e === 0 ? s * f * 2 ** -24 : s * (1 + f / 1024) * 2 ** (e - 15);
}

// All non-negative finite halves in increasing order: patterns 0x0000..0x7bff are monotone.
const POS_HALVES = Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));

/** Nearest binary16 (ties to even pattern), by search over the value table. */
function refF16(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  // Beyond max half (65504) + half an ulp (16): overflow.
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = POS_HALVES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POS_HALVES[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - POS_HALVES[lo]!;
  const dh = POS_HALVES[hi]! - a;
  const pick = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

/** Nearest bfloat16: compare the two neighbours (truncated down / next up) in float64. */
function refBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  if (Number.isNaN(x)) return -1; // any NaN pattern is fine; checked separately
  const down = u >>> 16;
  const up = down + 1;
  const val = (p: number) => new Float32Array(new Uint32Array([(p << 16) >>> 0]).buffer)[0]!;
  const vd = val(down);
  if (vd === x) return down;
  // Past the largest finite value the next pattern is ±Inf; round against ±2^128 (unbounded exponent).
  const vu = (up & 0x7fff) === 0x7f80 ? Math.sign(x) * 2 ** 128 : val(up & 0xffff);
  const dd = Math.abs(x - vd);
  const du = Math.abs(vu - x);
  if (dd < du) return down;
  if (du < dd) return up & 0xffff;
  return down % 2 === 0 ? down : up & 0xffff;
}

function interestingFloats(n: number): Float32Array {
  const r = rng(11);
  const specials = [
    0,
    -0,
    1,
    -1,
    65504,
    65519.99,
    65520,
    70000,
    2 ** -24,
    2 ** -25,
    2 ** -25 * 1.0001,
    2 ** -26,
    3 * 2 ** -25,
    6.1e-5,
    5.96e-8,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    1 + 2 ** -8,
    1 + 3 * 2 ** -8,
    3.4e38,
    -3.4e38,
    1e-40,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ];
  const out = new Float32Array(n + specials.length);
  out.set(specials);
  for (let i = 0; i < n; i++) out[specials.length + i] = r.normal() * 10 ** Math.floor(r.uniform() * 16 - 9);
  return out;
}

describe("float conversions", () => {
  test("F16 decode matches the IEEE formula for all 65536 patterns", () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const got = f16ToF32(all);
    for (let h = 0; h < 65536; h++) {
      const want = halfValue(h);
      if (Number.isNaN(want)) assert.ok(Number.isNaN(got[h]!), `pattern ${h}`);
      else assert.equal(got[h], want, `pattern ${h.toString(16)}`);
    }
  });

  test("F32 → F16 rounds to nearest even, incl. subnormals and overflow", () => {
    const xs = interestingFloats(20000);
    const bits = f32ToF16(xs);
    for (let i = 0; i < xs.length; i++) assert.equal(bits[i], refF16(xs[i]!), `x = ${xs[i]}`);
    assert.equal(f16ToF32(f32ToF16(new Float32Array([Number.NaN])))[0], Number.NaN);
  });

  test("F32 → BF16 rounds to nearest even", () => {
    const xs = interestingFloats(20000);
    const bits = f32ToBf16(xs);
    for (let i = 0; i < xs.length; i++) assert.equal(bits[i], refBf16(xs[i]!), `x = ${xs[i]}`);
    assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(new Float32Array([Number.NaN])))[0]!));
    // BF16 → F32 is exact: a representable value survives a round trip.
    const exact = new Float32Array([1.5, -2.25, 3.0517578125e-5, 1e30]).map(
      (v) => bf16ToF32(f32ToBf16(new Float32Array([v])))[0]!,
    );
    assert.deepEqual(Array.from(bf16ToF32(f32ToBf16(exact))), Array.from(exact));
  });
});

describe("safetensors read/write", () => {
  test("round trip F32/F16/BF16/I64/I32/U8 with metadata, scalars and empty tensors", () => {
    const path = join(dir, "rt.safetensors");
    const a = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 100);
    writeSafetensors(
      path,
      {
        a: { dtype: "F32", shape: [2, 3, 4], data: a },
        h: { dtype: "F16", shape: [24], data: a },
        b: { dtype: "BF16", shape: [4, 6], data: a },
        i64: { dtype: "I64", shape: [3], data: [1, -2, 2 ** 40] },
        i32: { dtype: "I32", shape: [2], data: new Int32Array([7, -9]) },
        u8: { dtype: "U8", shape: [2, 2], data: new Uint8Array([0, 1, 254, 255]) },
        scalar: { dtype: "F32", shape: [], data: new Float32Array([42]) },
        empty: { dtype: "F32", shape: [0, 5], data: new Float32Array(0) },
      },
      { format: "pt", note: "hello" },
    );
    const f = readSafetensors(path);
    assert.deepEqual(f.metadata, { format: "pt", note: "hello" });
    assert.deepEqual([...f.tensors.keys()], ["a", "h", "b", "i64", "i32", "u8", "scalar", "empty"]);
    const t = (n: string) => f.tensors.get(n)!;
    assert.deepEqual(t("a").shape, [2, 3, 4]);
    assert.deepEqual(Array.from(t("a").data as Float32Array), Array.from(a));
    assert.equal(t("h").dtype, "F16");
    assert.deepEqual(Array.from(t("h").data as Float32Array), Array.from(f16ToF32(f32ToF16(a))));
    assert.deepEqual(Array.from(t("b").data as Float32Array), Array.from(bf16ToF32(f32ToBf16(a))));
    assert.deepEqual(Array.from(t("i64").data as BigInt64Array), [1n, -2n, 2n ** 40n]);
    assert.deepEqual(Array.from(t("i32").data as Int32Array), [7, -9]);
    assert.deepEqual(Array.from(t("u8").data as Uint8Array), [0, 1, 254, 255]);
    assert.deepEqual(t("scalar").shape, []);
    assert.equal((t("scalar").data as Float32Array)[0], 42);
    assert.equal(t("empty").data.length, 0);
    // Header padded so the data buffer starts 8-byte aligned.
    const bytes = readFileSync(path);
    assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
    // Written atomically: no temp file left behind.
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes("rt.safetensors")),
      ["rt.safetensors"],
    );
  });

  test("reads unaligned data (header length not a multiple of 4)", () => {
    let json = JSON.stringify({ x: { dtype: "F32", shape: [3], data_offsets: [0, 12] } });
    while (json.length % 4 !== 1) json += " ";
    const header = Buffer.from(json);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const data = Buffer.from(new Float32Array([1.5, -2, 3.25]).buffer);
    const f = parseSafetensors(Buffer.concat([len, header, data]), "unaligned");
    assert.deepEqual(Array.from(f.tensors.get("x")!.data as Float32Array), [1.5, -2, 3.25]);
  });

  function file(header: unknown, dataBytes = 0, headerLenOverride?: bigint): Buffer {
    const h = Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(headerLenOverride ?? BigInt(h.length));
    return Buffer.concat([len, h, Buffer.alloc(dataBytes)]);
  }

  test("corrupt files give one clear error naming the file and tensor", () => {
    const bad = join(dir, "bad.safetensors");
    const cases: [Buffer, RegExp][] = [
      [Buffer.alloc(4), /bad\.safetensors: file too short/],
      [file({}, 0, 1000n), /header length 1000 runs past the end/],
      [file({}, 0, 200_000_000n), /exceeds the 100 MB limit/],
      [file("{not json", 0), /not valid UTF-8 JSON/],
      [file("[1,2]", 0), /header is not a JSON object/],
      [
        file({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, 4),
        /tensor "w": data_offsets \[0, 8\] out of range/,
      ],
      [
        file({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8),
        /tensor "w": 8 bytes for F32\[3\], expected 12/,
      ],
      [file({ w: { dtype: "Q4", shape: [1], data_offsets: [0, 1] } }, 1), /tensor "w": unsupported dtype "Q4"/],
      [file({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4), /tensor "w": bad shape/],
      [
        file({ w: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, 4),
        /tensor "w": data_offsets \[4, 0\] out of range/,
      ],
      [
        file(
          {
            a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
            b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
          },
          12,
        ),
        /tensor "b" overlaps tensor "a"/,
      ],
      [file({ __metadata__: { n: 1 } }, 0), /__metadata__ value for "n" is not a string/],
    ];
    for (const [bytes, re] of cases) {
      writeFileSync(bad, bytes);
      assert.throws(() => readSafetensors(bad), re);
    }
    assert.throws(() => readSafetensors(join(dir, "missing.safetensors")), /missing\.safetensors: cannot read/);
  });

  test("writer rejects bad input and leaves no partial file", () => {
    const p = join(dir, "w.safetensors");
    assert.throws(
      () => writeSafetensors(p, { x: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }),
      /tensor "x": 3 values for shape \[2, 2\]/,
    );
    writeFileSync(join(dir, "w.plain"), "a file, not a folder");
    assert.throws(
      () => writeSafetensors(join(dir, "w.plain", "x.safetensors"), {}),
      /cannot write .*w\.plain\/x\.safetensors: .*w\.plain is a file, not a folder/,
    );
    rmSync(join(dir, "w.plain"));
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith(".") || n.startsWith("w.")),
      [],
    );
  });
});
