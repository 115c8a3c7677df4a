// Where the training tensors live so that Adam's WebAssembly SIMD kernel (adam.wat) updates them in
// place. A wasm function sees one memory (Node 20 has no multi-memory), so a tensor's parameters,
// gradient and both Adam moments sit side by side in one shared WebAssembly.Memory: allocTensorGroups
// reserves four slots per tensor (slot 0 holds the parameter) and packs the groups into memories below
// the 4 GiB wasm32 limit; the gradient (allocGrads) and the moments (Adam) take slots 1-3 later. The
// arrays are ordinary Float32Array views over the memory's SharedArrayBuffer, so BLAS, the fused step
// and the worker threads use them as before, with no copy. Memories are sized once (initial = maximum,
// never grown); untouched slots cost address space, not RAM.
//
// Without WebAssembly SIMD, or for a tensor whose four slots exceed one memory, tensors are plain
// shared arrays and Adam runs its JS loop (the same float32 operations, bit for bit).
import { ADAM_WASM_BASE64 } from "../generated/adam-wasm.ts";

/** Float32 elements of a zeroed shared array (worker threads update it in place). */
export function sharedFloat32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(4 * n));
}

const PAGE = 65536;
/** Largest memory: the wasm32 limit (65,536 pages) less one page. */
const MEMORY_LIMIT = 65535 * PAGE;
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
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
}
const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The compiled kernel, or null where WebAssembly (with SIMD and threads) is not available. */
export const adamModule: WasmModule | null = (() => {
  try {
    const bytes = Buffer.from(ADAM_WASM_BASE64, "base64");
    return wasm?.validate(bytes) ? new wasm.Module(bytes) : null;
  } catch {
    return null;
  }
})();

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
  /** Process-wide id (worker threads instantiate the kernel once per memory). */
  id: number;
  memory: WasmMemory;
  kernel: AdamKernel;
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
export function allocTensorGroups(sizes: number[], memoryLimit = MEMORY_LIMIT): Float32Array[] {
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
      let memory: WasmMemory;
      try {
        const pages = Math.max(1, Math.ceil(plan.bytes / PAGE));
        memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
      } catch {
        continue; // no address space or memory left for it: these tensors stay plain arrays
      }
      const buffer = memory.buffer;
      const kernel = new wasm.Instance(adamModule, { env: { memory } }).exports.adam as AdamKernel;
      byBuffer.set(buffer, { id: nextId++, memory, kernel });
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
