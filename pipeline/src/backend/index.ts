// Backend choice for tfjs, made once at start: tensorflow (libtensorflow, optional) → cpu+BLAS
// ("blas": the cpu backend with nblas sgemm matmuls and fast-path kernels) → wasm → plain cpu.
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { nativeSgemm, nblasLoadError } from "./blas.ts";
import { registerFused } from "./fused.ts";
import { cloneKernels, overrides } from "./kernels.ts";

export {
  axpy,
  batchMatMul,
  dot,
  gemm,
  hasNativeGemm,
  jsGemm,
  NO_TRANS,
  nativeSgemm,
  nblasLoadError,
  requireNativeSgemm,
  type Sgemm,
  TRANS,
} from "./blas.ts";
export { ATTN_MIX, ATTN_SCORES, CAUSAL_SOFTMAX, GELU_NEW, LN_AFFINE, LN_STATS } from "./fused.ts";
export { logSoftmaxRows, softmax64 } from "./softmax.ts";

export type BackendPref = "tensorflow" | "blas" | "wasm" | "cpu";
export const BACKEND_PREFS: readonly BackendPref[] = ["tensorflow", "blas", "wasm", "cpu"];

export interface BackendInfo {
  /** Which of the four choices is active. */
  name: BackendPref;
  /** The tfjs backend name (`tf.getBackend()`). */
  tfBackend: string;
  /** One line for logs, e.g. "cpu+blas (OpenBLAS sgemm via nblas)". */
  description: string;
}

let current: BackendInfo | null = null;
let blasRegistered: string | null | undefined; // description, null = unavailable, undefined = not tried

/**
 * tfjs-backend-cpu prints a "looks like you are running TensorFlow.js in Node.js" banner on the first
 * tensor write of every cpu backend instance, including ones tfjs creates on its own (a tensor made
 * before `initBackend`, `tf.setBackend("cpu")`, the "blas" subclass). We log our own backend line,
 * so pin the instances' `firstUse` flag to false through an accessor on the shared prototype.
 */
function silenceCpuBanner(): void {
  const cpu = tf.findBackend("cpu");
  if (!cpu) return;
  Object.defineProperty(Object.getPrototypeOf(cpu), "firstUse", {
    configurable: true,
    get: () => false,
    set: () => {},
  });
  delete (cpu as { firstUse?: boolean }).firstUse; // this instance predates the accessor
}
silenceCpuBanner();

/** The active backend, or null before `initBackend`. */
export function backendInfo(): BackendInfo | null {
  return current;
}

function blasLibraryName(): string {
  // nblas links the system libblas; report OpenBLAS when that is what got mapped.
  try {
    const maps = readFileSync("/proc/self/maps", "utf8");
    if (maps.includes("openblas")) return "OpenBLAS";
    if (maps.includes("libmkl")) return "MKL";
    if (maps.includes("blis")) return "BLIS";
  } catch {
    // not Linux: fall through
  }
  return "BLAS";
}

/** Register the "blas" tfjs backend (once). Returns its description, or null when nblas is missing. */
function registerBlas(): string | null {
  if (blasRegistered !== undefined) return blasRegistered;
  const sgemm = nativeSgemm;
  if (!sgemm) {
    blasRegistered = null;
    return null;
  }
  const Cpu = (tf.findBackend("cpu") as object).constructor as new () => tf.KernelBackend;
  tf.registerBackend("blas", () => {
    return new Cpu();
  });
  cloneKernels("cpu", "blas", overrides(sgemm));
  registerFused("blas", sgemm);
  blasRegistered = `cpu+blas (${blasLibraryName()} sgemm via nblas)`;
  return blasRegistered;
}

/** The wasm backend lacks UnsortedSegmentSum, the gradient of tf.gather (embeddings): add a JS one. */
function registerWasmSegmentSum(): void {
  if (tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  interface Wasm {
    readSync(dataId: object): ArrayLike<number>;
    makeOutput(shape: number[], dtype: string): tf.TensorInfo;
    typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  }
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: (({
      inputs,
      backend,
      attrs,
    }: {
      inputs: tf.NamedTensorInfoMap;
      backend: unknown;
      attrs: tf.NamedAttrMap;
    }) => {
      const wasm = backend as Wasm;
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = attrs.numSegments as number;
      if (x.dtype !== "float32") throw new Error("UnsortedSegmentSum (wasm): only float32 is supported");
      const xv = wasm.readSync(x.dataId);
      const ids = wasm.readSync(segmentIds.dataId);
      const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
      const out = wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], "float32");
      const y = wasm.typedArrayFromHeap(out);
      y.fill(0);
      for (let s = 0; s < ids.length; s++) {
        const id = ids[s]!;
        if (!(id >= 0 && id < numSegments)) continue;
        for (let j = 0; j < inner; j++) y[id * inner + j]! += xv[s * inner + j]!;
      }
      return out;
    }) as unknown as tf.KernelFunc,
  });
}

async function tryTensorflow(): Promise<string | null> {
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await import(pkg);
      if (await tf.setBackend("tensorflow")) return `tensorflow (libtensorflow via ${pkg})`;
    } catch {
      // not installed (the normal case here): try the next one
    }
  }
  return null;
}

async function tryBackend(name: BackendPref): Promise<string | null> {
  switch (name) {
    case "tensorflow":
      return tryTensorflow();
    case "blas": {
      const d = registerBlas();
      return d && (await tf.setBackend("blas")) ? d : null;
    }
    case "wasm":
      try {
        await import("@tensorflow/tfjs-backend-wasm");
        if (!(await tf.setBackend("wasm"))) return null;
        registerWasmSegmentSum();
        return "wasm (XNNPACK, single-threaded SIMD)";
      } catch {
        return null;
      }
    case "cpu": {
      const ok = await tf.setBackend("cpu");
      return ok ? "cpu (pure JS kernels)" : null;
    }
  }
}

function parsePref(v: string | undefined, source: string): BackendPref | undefined {
  if (v === undefined || v === "") return undefined;
  if ((BACKEND_PREFS as readonly string[]).includes(v)) return v as BackendPref;
  throw new Error(`${source}: unknown backend "${v}" (expected one of ${BACKEND_PREFS.join(", ")})`);
}

let slowWarned = false;

/** The one-line fix for a missing BLAS backend (what `npm run setup` runs as root). */
export const BLAS_FIX_COMMAND = "apt-get install -y libopenblas-dev g++ make python3 && npm rebuild nblas";

/**
 * The warning for running on a slow fallback backend (wasm or pure-JS cpu), or null for a fast one.
 * The slowdowns are measured on the 2-core reference box: the greater-than study took 565 s on wasm
 * against 16 s on cpu+blas; the pure-JS cpu backend is slower still.
 */
export function slowBackendWarning(info: BackendInfo, nblasError: string | null): string | null {
  if (info.name !== "wasm" && info.name !== "cpu") return null;
  const factor = info.name === "wasm" ? "about 35×" : "more than 35×";
  const bar = "!".repeat(100);
  return (
    `${bar}\n` +
    `!! SLOW BACKEND: running on ${info.description}, because the BLAS backend is not available\n` +
    `!!   (${nblasError ?? "nblas is not installed"}).\n` +
    `!! Expect ${factor} slower model/CLT/attribution work than on cpu+blas (greater-than study: ~10 min instead of ~16 s).\n` +
    `!! Fix (Debian/Ubuntu, as root or with sudo): ${BLAS_FIX_COMMAND}   (or: npm run setup)\n` +
    `${bar}\n`
  );
}

/**
 * Choose and activate the tfjs backend. With no preference (argument or env ATLAS_BACKEND) the
 * first available of tensorflow → blas → wasm → cpu is used; an explicit preference that is not
 * available is an error. Calling again with no/the same preference returns the active choice;
 * a different preference switches (tests compare backends this way).
 */
export async function initBackend(pref?: BackendPref, opts: { quiet?: boolean } = {}): Promise<BackendInfo> {
  const want = pref ?? parsePref(process.env.ATLAS_BACKEND, "ATLAS_BACKEND");
  if (current && (want === undefined || want === current.name) && tf.getBackend() === current.tfBackend) {
    return current;
  }
  const order = want ? [want] : BACKEND_PREFS;
  for (const name of order) {
    const description = await tryBackend(name);
    if (description) {
      await tf.ready();
      current = { name, tfBackend: tf.getBackend(), description };
      if (!opts.quiet) process.stderr.write(`backend: ${description}\n`);
      // Loud, once per process, also for quiet callers: a fallback the user did not ask for.
      const warning = want === undefined ? slowBackendWarning(current, nblasLoadError) : null;
      if (warning && !slowWarned) {
        slowWarned = true;
        process.stderr.write(warning);
      }
      return current;
    }
  }
  throw new Error(
    want === "tensorflow"
      ? "backend tensorflow is not available (@tensorflow/tfjs-node[-gpu] is not installed)"
      : want === "blas"
        ? "backend blas is not available (the optional dependency nblas did not load)"
        : `backend ${want ?? "(auto)"} is not available`,
  );
}
