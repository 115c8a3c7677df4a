// Own reader/writer for the safetensors format: u64 LE header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}, then the raw little-endian
// byte buffer (offsets are relative to its start). Floats are returned as Float32Array.
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "@circuit-atlas/util";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "./dtype.ts";

export { bf16ToF32, f16ToF32, f32ToBf16, f32ToBf16Bits, f32ToF16, f32ToF16Bits } from "./dtype.ts";

export type Dtype = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8";
export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export interface SafeTensor {
  /** dtype as stored in the file (F16/BF16 are decoded to Float32Array). */
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };
const MAX_HEADER = 100_000_000; // same limit as the reference parser

function fail(file: string, msg: string): never {
  throw new Error(`safetensors ${file}: ${msg}`);
}

function isDim(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Copy `n` bytes at `off` into a fresh, aligned ArrayBuffer-backed view (only when unaligned). */
function aligned(
  buf: Uint8Array,
  off: number,
  nbytes: number,
  align: number,
): { buffer: ArrayBufferLike; offset: number } {
  const abs = buf.byteOffset + off;
  if (abs % align === 0) return { buffer: buf.buffer, offset: abs };
  const copy = new Uint8Array(nbytes);
  copy.set(buf.subarray(off, off + nbytes));
  return { buffer: copy.buffer, offset: 0 };
}

function decode(dtype: Dtype, buf: Uint8Array, off: number, count: number): TensorData {
  const nbytes = count * BYTES[dtype];
  switch (dtype) {
    case "F32": {
      const a = aligned(buf, off, nbytes, 4);
      return new Float32Array(a.buffer, a.offset, count);
    }
    case "F16":
    case "BF16": {
      const a = aligned(buf, off, nbytes, 2);
      const u16 = new Uint16Array(a.buffer, a.offset, count);
      return dtype === "F16" ? f16ToF32(u16) : bf16ToF32(u16);
    }
    case "I32": {
      const a = aligned(buf, off, nbytes, 4);
      return new Int32Array(a.buffer, a.offset, count);
    }
    case "I64": {
      const a = aligned(buf, off, nbytes, 8);
      return new BigInt64Array(a.buffer, a.offset, count);
    }
    case "U8":
      return buf.subarray(off, off + count);
  }
}

/** Parse a safetensors byte image; `file` names the source in error messages. */
export function parseSafetensors(bytes: Uint8Array, file = "<buffer>"): SafetensorsFile {
  if (bytes.length < 8) fail(file, `file too short (${bytes.length} bytes, need at least 8)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(file, `header length ${n64} exceeds the 100 MB limit`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(file, `header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    fail(file, `header is not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail(file, "header is not a JSON object");
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const data = bytes.subarray(dataStart);
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const entries: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof info !== "object" || info === null || Array.isArray(info)) fail(file, "__metadata__ is not an object");
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== "string") fail(file, `__metadata__ value for "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const t = `tensor "${name}"`;
    if (typeof info !== "object" || info === null) fail(file, `${t}: entry is not an object`);
    const { dtype, shape, data_offsets } = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== "string" || !(dtype in BYTES)) fail(file, `${t}: unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isDim)) fail(file, `${t}: bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every(isDim)) {
      fail(file, `${t}: bad data_offsets ${JSON.stringify(data_offsets)}`);
    }
    const [begin, end] = data_offsets as [number, number];
    if (begin > end || end > dataLen) {
      fail(file, `${t}: data_offsets [${begin}, ${end}] out of range (data buffer is ${dataLen} bytes)`);
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const want = count * BYTES[dtype as Dtype];
    if (end - begin !== want) {
      fail(file, `${t}: ${end - begin} bytes for ${dtype}[${(shape as number[]).join(", ")}], expected ${want}`);
    }
    spans.push({ name, begin, end });
    entries.push({ name, dtype: dtype as Dtype, shape: shape as number[], begin, end });
  }
  // Overlap check on the non-empty spans, sorted by start (empty tensors may sit anywhere).
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let reach: { name: string; end: number } | null = null;
  for (const cur of spans) {
    if (cur.end === cur.begin) continue;
    if (reach && cur.begin < reach.end)
      fail(file, `tensor "${cur.name}" overlaps tensor "${reach.name}" in the data buffer`);
    if (!reach || cur.end > reach.end) reach = { name: cur.name, end: cur.end };
  }
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(e.dtype, data, e.begin, count) });
  }
  return { tensors, metadata };
}

/** Read a .safetensors file. F32 tensors are views into the file buffer when aligned (no copy). */
export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    fail(path, `cannot read (${err instanceof Error ? err.message : String(err)})`);
  }
  return parseSafetensors(bytes, path);
}

export interface TensorToWrite {
  /** Storage dtype. Float data is converted (rounded to nearest even) for F16/BF16. */
  dtype: "F32" | "F16" | "BF16" | "I64" | "I32" | "U8";
  shape: number[];
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array | number[];
}

function encode(name: string, t: TensorToWrite): Uint8Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (t.shape.some((d) => !isDim(d)))
    throw new Error(`safetensors: tensor "${name}": bad shape [${t.shape.join(", ")}]`);
  if (t.data.length !== count) {
    throw new Error(`safetensors: tensor "${name}": ${t.data.length} values for shape [${t.shape.join(", ")}]`);
  }
  const asF32 = () => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>));
  let out: ArrayBufferView;
  switch (t.dtype) {
    case "F32":
      out = asF32();
      break;
    case "F16":
      out = f32ToF16(asF32());
      break;
    case "BF16":
      out = f32ToBf16(asF32());
      break;
    case "I32":
      out = t.data instanceof Int32Array ? t.data : Int32Array.from(t.data as ArrayLike<number>);
      break;
    case "I64":
      out =
        t.data instanceof BigInt64Array
          ? t.data
          : BigInt64Array.from(Array.from(t.data as ArrayLike<number>, (v) => BigInt(Math.trunc(v))));
      break;
    case "U8":
      out = t.data instanceof Uint8Array ? t.data : Uint8Array.from(t.data as ArrayLike<number>);
      break;
    default:
      throw new Error(`safetensors: tensor "${name}": unsupported dtype ${JSON.stringify((t as TensorToWrite).dtype)}`);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The bytes of a safetensors file for `tensors` (in the given order), as chunks (header, then each
 * tensor's data, no copy of F32/I32/U8 data). The header is padded with spaces to a multiple of 8
 * bytes so that the data buffer is aligned.
 */
export function encodeSafetensors(
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array[] {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === "__metadata__") throw new Error('safetensors: "__metadata__" is not a valid tensor name');
    const bytes = encode(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += " ".repeat(pad);
  const headerBytes = Buffer.from(json, "utf8");
  const lenBytes = Buffer.alloc(8);
  lenBytes.writeBigUInt64LE(BigInt(headerBytes.length));
  return [lenBytes, headerBytes, ...chunks];
}

/** Write tensors (in the given order) to `path` atomically (the shared temp + fsync + rename). */
export function writeSafetensors(
  path: string,
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
