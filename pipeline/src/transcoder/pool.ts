// Worker threads for the training step's kernels: Adam's update and the sparse step's row kernels run
// on shared memory, so a round hands each worker a list of calls (which kernel, over which memory,
// with which byte offsets), this thread does its own share, then waits on a shared counter (Atomics).
// The step stays synchronous. Each round a worker instantiates the kernels over the memories it is
// sent (~0.1 ms each) and keeps nothing: a worker that held them would keep every memory it saw alive.
import { Worker } from "node:worker_threads";
import { adamModule, type KernelMemory, sparseModule, type WasmModule } from "./kernel-memory.ts";

/** A self-contained JS function the workers run by name (its source is sent to them). */
// biome-ignore lint/suspicious/noExplicitAny: the functions take typed arrays and numbers of their own shapes
export type PoolFunction = (...args: any[]) => void;

/** One call: a kernel export over a kernel memory, or a plain JS function (the pool's `jsFunctions`). */
export type PoolCall =
  | { module: "adam" | "sparse"; fn: string; mem: KernelMemory; args: number[]; out?: number }
  | { js: string; args: unknown[] };

/**
 * [0, n) cut into `parts` contiguous ranges of near-equal size, the cuts on multiples of `align` (the
 * last range takes the remainder): one share per thread.
 */
export function splitRange(n: number, parts: number, align: number): Array<[number, number]> {
  const cut = (k: number) => (k >= parts ? n : Math.floor((n * k) / parts / align) * align);
  return Array.from({ length: parts }, (_, k) => [cut(k), cut(k + 1)]);
}

/** Runs one call on this thread; kernel results go to results[out]. */
export function callHere(c: PoolCall, results: Float64Array | null, jsFunctions: Record<string, PoolFunction>): void {
  if ("js" in c) {
    jsFunctions[c.js]!(...c.args);
    return;
  }
  const exports = c.module === "adam" ? { adam: c.mem.kernel } : c.mem.sparse;
  const f = exports?.[c.fn] as ((...a: number[]) => number) | undefined;
  if (!f) throw new Error(`kernel ${c.module}.${c.fn} is not available over memory ${c.mem.id}`);
  const r = f(...c.args);
  if (c.out !== undefined && results) results[c.out] = r;
}

export class KernelPool {
  private workers: Worker[];
  /** [0]: workers finished this round; [1]: 1 when a worker failed (message in `error`). */
  private sync = new Int32Array(new SharedArrayBuffer(8));
  private error: string | null = null;

  /** `jsFunctions`: self-contained functions the workers may call by name (their source is sent). */
  constructor(
    n: number,
    private jsFunctions: Record<string, PoolFunction> = {},
  ) {
    const fns = Object.entries(jsFunctions)
      .map(([name, f]) => `${JSON.stringify(name)}: ${f.toString()}`)
      .join(",\n");
    const src =
      `const { parentPort } = require("node:worker_threads");\n` +
      `const fns = {\n${fns}\n};\n` +
      `parentPort.on("message", ({ modules, memories, calls, sync, results }) => {\n` +
      `  try {\n` +
      `    const mems = new Map(memories.map((m) => [m.id, m.memory]));\n` +
      `    const inst = new Map();\n` +
      `    for (const c of calls) {\n` +
      `      if (c.js) { fns[c.js](...c.args); continue; }\n` +
      `      const key = c.module + ":" + c.mem;\n` +
      `      let ex = inst.get(key);\n` +
      `      if (!ex) {\n` +
      `        ex = new WebAssembly.Instance(modules[c.module], { env: { memory: mems.get(c.mem) } }).exports;\n` +
      `        inst.set(key, ex);\n` +
      `      }\n` +
      `      const r = ex[c.fn](...c.args);\n` +
      `      if (c.out !== undefined) results[c.out] = r;\n` +
      `    }\n` +
      `  } catch (err) {\n` +
      `    parentPort.postMessage(String((err && err.stack) || err));\n` +
      `    Atomics.store(sync, 1, 1);\n` +
      `  }\n` +
      `  Atomics.add(sync, 0, 1);\n` +
      `  Atomics.notify(sync, 0);\n` +
      `});\n`;
    this.workers = Array.from({ length: n }, () => {
      const w = new Worker(src, { eval: true });
      w.on("message", (m: string) => {
        this.error = m;
      });
      w.unref();
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * One round: worker k runs perWorker[k] while this thread runs `mine`; returns when all are done.
   * `results`: a shared Float64Array the calls' `out` indices write to.
   */
  run(perWorker: PoolCall[][], mine: PoolCall[], results: Float64Array | null = null): void {
    const sync = this.sync;
    Atomics.store(sync, 0, 0);
    Atomics.store(sync, 1, 0);
    const modules: Record<string, WasmModule | null> = { adam: adamModule, sparse: sparseModule };
    this.workers.forEach((w, k) => {
      const calls = perWorker[k] ?? [];
      const memories = new Map<number, KernelMemory["memory"]>();
      for (const c of calls) if ("mem" in c) memories.set(c.mem.id, c.mem.memory);
      w.postMessage({
        modules,
        memories: [...memories].map(([id, memory]) => ({ id, memory })),
        calls: calls.map((c) => ("mem" in c ? { ...c, mem: c.mem.id } : c)),
        sync,
        results,
      });
    });
    for (const c of mine) callHere(c, results, this.jsFunctions);
    // a worker that died before its handler ran never counts: give up after 10 min without progress
    let waited = 0;
    for (let done = Atomics.load(sync, 0); done < this.workers.length; done = Atomics.load(sync, 0)) {
      if (Atomics.wait(sync, 0, done, 1000) === "timed-out" && ++waited > 600) {
        throw new Error(`kernel worker threads did not finish (${done} of ${this.workers.length} in 10 min)`);
      }
      if (Atomics.load(sync, 0) !== done) waited = 0;
    }
    if (Atomics.load(sync, 1) !== 0) {
      throw new Error(`kernel worker thread failed${this.error ? `: ${this.error.split("\n")[0]}` : ""}`);
    }
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
  }
}
