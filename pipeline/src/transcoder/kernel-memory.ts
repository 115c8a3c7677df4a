// Where the training tensors live so that the WebAssembly SIMD kernels (adam.wat, sparse.wat) work on
// them in place. A wasm function sees one memory (Node 20 has no multi-memory), so a tensor's
// parameters, gradient and both Adam moments sit side by side in one shared WebAssembly.Memory:
// allocTensorGroups reserves four slots per tensor (slot 0 holds the parameter) and packs the groups
// into memories below the 4 GiB wasm32 limit, less a reserve at the end of each memory for the sparse
// step's scratch (its copies of the batch and its index lists, which must sit beside the decoders they
// index); the gradient (allocGrads) and the moments (Adam) take slots 1-3 later. The arrays are
// ordinary Float32Array views over the memory's SharedArrayBuffer, so BLAS, the fused step and the
// worker threads use them as before, with no copy. A memory starts at its groups' size and only its
// scratch grows (shared memories never move, so every view stays valid); untouched slots cost address
// space, not RAM.
//
// Without WebAssembly SIMD, or for a tensor whose four slots exceed one memory, tensors are plain
// shared arrays: Adam runs its JS loop (the same float32 operations, bit for bit) and the sparse step
// its BLAS row operations.
import { ADAM_WASM_BASE64 } from "../generated/adam-wasm.ts";
import { SPARSE_WASM_BASE64 } from "../generated/sparse-wasm.ts";

/** Float32 elements of a zeroed shared array (worker threads update it in place). */
export function sharedFloat32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(4 * n));
}

const PAGE = 65536;
/** Largest memory: the wasm32 limit (65,536 pages) less one page. */
const MEMORY_LIMIT = 65535 * PAGE;
/**
 * Room kept free at the end of each memory for the sparse step's scratch: two [B, L·d] float32 copies
 * (the batch's x, and ŷ / dMSE/dŷ) and index lists, 302 MB at B = 4096, L·d = 12·768.
 */
export const SCRATCH_RESERVE = 512 * 1024 * 1024;
/** Slots per tensor: parameter, gradient, Adam m, Adam v. */
export const SLOTS = 4;

// The few WebAssembly JS API pieces used here (the project's TypeScript libs declare none), read
// from globalThis so a runtime without WebAssembly simply gets the JS loop.
/** A compiled module (opaque here; worker threads receive it by postMessage). */
export type WasmModule = object;
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (d: {
    initial: number;
    maximum: number;
    shared: boolean;
  }) => WasmMemory & { grow(pages: number): number };
  Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** A compiled kernel, or null where WebAssembly (with SIMD and threads) is not available. */
function compileKernel(base64: string): WasmModule | null {
  try {
    const bytes = Buffer.from(base64, "base64");
    return wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  } catch {
    return null;
  }
}
export const adamModule = compileKernel(ADAM_WASM_BASE64);
export const sparseModule = compileKernel(SPARSE_WASM_BASE64);

/** A kernel module's exports over one memory. */
export function instantiate(module: WasmModule, memory: WasmMemory): Record<string, unknown> {
  if (!wasm) throw new Error("WebAssembly is not available");
  return new wasm.Instance(module, { env: { memory } }).exports;
}

/** The kernel's signature: byte offsets of p, g, m, v; n; b1, b2, stepSize, 1/√bc2, eps, wd, gs. */
export type AdamKernel = (
  p: number,
  g: number,
  m: number,
  v: number,
  n: number,
  b1: number,
  b2: number,
  stepSize: number,
  invSqrtBc2: number,
  eps: number,
  wd: number,
  gs: number,
) => void;

export interface KernelMemory {
  /** Process-wide id (worker threads instantiate the kernels once per memory). */
  id: number;
  memory: WasmMemory & { grow(pages: number): number };
  kernel: AdamKernel;
  /** The sparse step's kernels over this memory (null without the module). */
  sparse: Record<string, unknown> | null;
  /** Bytes taken by the tensor groups: scratch starts here (page-aligned). */
  scratchBase: number;
}

/** The memory behind each buffer the groups' views share. */
const byBuffer = new WeakMap<ArrayBufferLike, KernelMemory>();
/** Per parameter tensor: its group's slot views (null = not yet taken). */
const groups = new WeakMap<Float32Array, { slots: Float32Array[]; taken: boolean[] }>();
let nextId = 0;

/**
 * One zeroed tensor per size, each slot 0 of a group of four in a shared wasm memory (see the top of
 * this file), or a plain shared array where that is not possible. `memoryLimit`: bytes per memory
 * (tests use small ones).
 */
export function allocTensorGroups(sizes: number[], memoryLimit = MEMORY_LIMIT - SCRATCH_RESERVE): Float32Array[] {
  const out: (Float32Array | null)[] = sizes.map(() => null);
  if (wasm && adamModule) {
    // greedy packing in order: [memory bytes, tensor indices][]
    const slotBytes = (n: number) => Math.ceil((4 * n) / 16) * 16;
    const plans: Array<{ bytes: number; members: number[] }> = [];
    sizes.forEach((n, k) => {
      const gb = SLOTS * slotBytes(n);
      if (gb > memoryLimit) return;
      const last = plans.at(-1);
      if (last && last.bytes + gb <= memoryLimit) {
        last.bytes += gb;
        last.members.push(k);
      } else plans.push({ bytes: gb, members: [k] });
    });
    for (const plan of plans) {
      let memory: KernelMemory["memory"];
      try {
        const pages = Math.max(1, Math.ceil(plan.bytes / PAGE));
        memory = new wasm.Memory({ initial: pages, maximum: MEMORY_LIMIT / PAGE, shared: true });
      } catch {
        continue; // no address space or memory left for it: these tensors stay plain arrays
      }
      const buffer = memory.buffer;
      const kernel = instantiate(adamModule, memory).adam as AdamKernel;
      const sparse = sparseModule ? instantiate(sparseModule, memory) : null;
      byBuffer.set(buffer, { id: nextId++, memory, kernel, sparse, scratchBase: buffer.byteLength });
      let off = 0;
      for (const k of plan.members) {
        const n = sizes[k]!;
        const sb = slotBytes(n);
        const slots = Array.from({ length: SLOTS }, (_, s) => new Float32Array(buffer, off + s * sb, n));
        off += SLOTS * sb;
        groups.set(slots[0]!, { slots, taken: [true, false, false, false] });
        out[k] = slots[0]!;
      }
    }
  }
  return out.map((a, k) => a ?? sharedFloat32(sizes[k]!));
}

/**
 * The zeroed companion of `param` in slot `slot` of its group (1 gradient, 2 and 3 Adam moments), or a
 * new shared array when `param` has no group or that slot is already taken.
 */
export function companion(param: Float32Array, slot: number): Float32Array {
  const gr = groups.get(param);
  if (!gr || gr.taken[slot]) return sharedFloat32(param.length);
  gr.taken[slot] = true;
  return gr.slots[slot]!;
}

/** The kernel memory all four arrays live in, or null (different memories, or not in one). */
export function kernelMemory(...arrays: Float32Array[]): KernelMemory | null {
  const km = byBuffer.get(arrays[0]!.buffer);
  if (!km) return null;
  for (const a of arrays) if (a.buffer !== arrays[0]!.buffer) return null;
  return km;
}

/**
 * Grows the memory so it holds at least `end` bytes (scratch beyond the tensor groups); false when the
 * wasm32 limit or the machine refuses. Views made before a grow stay valid (shared memories never move).
 */
export function reserveBytes(km: KernelMemory, end: number): boolean {
  const have = km.memory.buffer.byteLength;
  if (end <= have) return true;
  if (end > MEMORY_LIMIT) return false;
  try {
    km.memory.grow(Math.ceil((end - have) / PAGE));
    return true;
  } catch {
    return false;
  }
}
