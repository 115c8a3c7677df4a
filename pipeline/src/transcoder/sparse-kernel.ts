// The sparse step's products on both cores, through the WebAssembly SIMD row kernels of sparse.wat,
// for the layers whose decoder (and gradient) sit in a kernel memory (kernel-memory.ts); fused.ts uses
// it for every sparse layer it can and BLAS row operations (sparse.ts) for the rest.
//
// Why kernels and not BLAS level-1 calls: a decoder row is (L−ℓ)·d floats and a layer has ~30 active
// features per token, so the per-(token, feature) row operations of the sparse step are memory-bound
// on rows that leave the cache between uses. The kernels walk each layer in column tiles (B rows of a
// tile of G or ŷ stay in L3 while every decoder row's tile streams past once), fuse the four passes
// over a decoder row (scale, dots, saxpys, squares) into one, and split the work between the threads
// so that none writes another's bytes: the forward by columns, the backward by features. A wasm
// function sees only its own memory, so the batch's x and G are copied into each kernel memory's
// scratch once per step (~40 MB each) and each memory's share of ŷ is added back the same way.
//
// The lists a kernel reads, per layer, in feature order (entries fs[i] .. fs[i+1])):
//   decoder  tok (byte offset of the token's row), act (z where the feature fires, else 0): every
//            candidate whose dL/da is used (active, or within ε/2 below θ);
//   encoder  tok, corr (dL/dz minus its below-window value −λ_P/B·n_i): the candidates where it is
//            nonzero.
import { availableParallelism } from "node:os";
import { jumpReluActive } from "./jumprelu.ts";
import { type KernelMemory, kernelMemory, reserveBytes } from "./kernel-memory.ts";
import type { CltParams } from "./params.ts";
import { KernelPool, type PoolCall, splitRange } from "./pool.ts";

/** Per-memory scratch for one step: a bump allocator from the end of the tensor groups. */
interface Arena {
  km: KernelMemory;
  top: number;
  /** [B, L·d] float32: ŷ's share of this memory's layers, then dMSE/dŷ (decoder memories). */
  yg: number;
  /** [B, L·d] float32: the batch's x (encoder memories). */
  x: number;
  /** The first column of L·d any of this memory's kernel layers writes in yg (for the sum back). */
  firstCol: number;
}

interface DecoderLayer {
  arena: Arena;
  fs: number;
  /** Per feature: the end of its active entries (they come first). */
  fa: number;
  tok: number;
  act: number;
  coef: number;
  /** dL/da per entry. */
  ga: number;
  nk: number;
  /** Candidate index of each entry. */
  kq: Int32Array;
}

interface EncoderLayer {
  arena: Arena;
  fs: number;
  tok: number;
  corr: number;
  base: number;
  xbar: number;
  tmp: number[];
}

/** One pool for every step in the process (its workers are unref'd and idle between rounds). */
let sharedPool: KernelPool | null = null;

export class SparseKernels {
  readonly threads: number;
  private arenas = new Map<KernelMemory, Arena>();
  private dec: (DecoderLayer | null)[];
  private enc: (EncoderLayer | null)[];
  /** Per layer: the decoder's / encoder's kernel memory this step (null: BLAS row operations). */
  private decKm: (KernelMemory | null)[];
  private encKm: (KernelMemory | null)[];
  private results = new Float64Array(new SharedArrayBuffer(8 * 1024));
  /** This step's batch, copied into the encoder memories on first use. */
  private x: Float32Array | null = null;
  private xCopied = false;
  /** Per layer: the candidate index of each decoder entry (kept across steps, grown on demand). */
  private kqCache: Int32Array[];
  /**
   * Column tile width (floats, a multiple of 4): B rows of it, the part of G or ŷ a tile reads, take
   * ~6 MB, well inside the L3 cache; longer tiles stream the decoder rows better.
   */
  private readonly tile: number;

  constructor(
    readonly L: number,
    readonly d: number,
    readonly F: number,
    readonly B: number,
    threads = Math.min(2, availableParallelism()),
  ) {
    this.threads = Math.max(1, Math.floor(threads));
    this.dec = Array.from({ length: L }, () => null);
    this.enc = Array.from({ length: L }, () => null);
    this.decKm = Array.from({ length: L }, () => null);
    this.encKm = Array.from({ length: L }, () => null);
    this.tile = Math.max(64, Math.floor((6 << 20) / (4 * B) / 4) * 4);
    this.kqCache = Array.from({ length: L }, () => new Int32Array(0));
  }

  /**
   * Starts a step: finds each layer's kernel memories and takes the batch-sized scratch in them (x
   * copied in when there is a backward). Layers without one use the BLAS row operations.
   */
  begin(p: CltParams, grads: CltParams | null, x: Float32Array): void {
    const { L, B, d } = this;
    const Ld = L * d;
    this.arenas.clear();
    for (let l = 0; l < L; l++) {
      this.dec[l] = null;
      this.enc[l] = null;
      const dk = grads ? kernelMemory(p.wDec[l]!, grads.wDec[l]!) : kernelMemory(p.wDec[l]!);
      // the decoder kernels take column tiles of whole float32x4 lanes
      this.decKm[l] = dk?.sparse && d % 4 === 0 ? dk : null;
      const ek = grads ? kernelMemory(p.wEnc[l]!, grads.wEnc[l]!) : null;
      this.encKm[l] = ek?.sparse ? ek : null;
    }
    const rowsBytes = 4 * B * Ld;
    for (let l = 0; l < L; l++) {
      const dk = this.decKm[l];
      if (dk) {
        const a = this.arena(dk);
        if (a.yg < 0) a.yg = this.alloc(a, rowsBytes);
        if (a.yg < 0) this.decKm[l] = null;
        else a.firstCol = Math.min(a.firstCol, l * d);
      }
      const ek = this.encKm[l];
      if (ek) {
        const a = this.arena(ek);
        if (a.x < 0) a.x = this.alloc(a, rowsBytes);
        if (a.x < 0) this.encKm[l] = null;
      }
    }
    this.x = x;
    this.xCopied = false;
  }

  /**
   * The per-step passes over every parameter that the forward needs first, on both threads: each
   * layer's decoder norms (norms[l][i] = ‖W_dec[ℓ][i]‖) and Σ_t z_t less B·b_enc (sums[l][i] =
   * Σ_r x̄_r·W_enc[r, i], x̄ = column sums of x, float64). Returns per layer whether each was computed
   * (the caller computes the others).
   */
  prologue(
    p: CltParams,
    xSum: Float64Array,
    norms: Float32Array[],
    sums: Float64Array[],
  ): { norms: boolean[]; sums: boolean[] } {
    const { L, d, F } = this;
    const done = { norms: Array.from({ length: L }, () => false), sums: Array.from({ length: L }, () => false) };
    const perThread: PoolCall[][] = Array.from({ length: this.threads }, () => []);
    const outs: Array<() => void> = [];
    const ranges = this.split(F, 4);
    for (let l = 0; l < L; l++) {
      const dk = this.decKm[l];
      if (dk) {
        const a = this.arena(dk);
        const out = this.alloc(a, 4 * F);
        if (out >= 0) {
          const n = (L - l) * d;
          ranges.forEach(([i0, i1], th) => {
            if (i1 > i0)
              perThread[th]!.push({
                module: "sparse",
                fn: "row_norms",
                mem: dk,
                args: [p.wDec[l]!.byteOffset, n, i0, i1, out],
              });
          });
          outs.push(() => norms[l]!.set(new Float32Array(dk.memory.buffer, out, F)));
          done.norms[l] = true;
        }
      }
      const ek = this.encKm[l] ?? kernelMemory(p.wEnc[l]!);
      if (ek?.sparse) {
        const a = this.arena(ek);
        const xb = this.alloc(a, 8 * d);
        const out = this.alloc(a, 8 * F);
        if (xb >= 0 && out >= 0) {
          new Float64Array(ek.memory.buffer, xb, d).set(xSum.subarray(l * d, (l + 1) * d));
          ranges.forEach(([i0, i1], th) => {
            if (i1 > i0)
              perThread[th]!.push({
                module: "sparse",
                fn: "pre_sums",
                mem: ek,
                args: [p.wEnc[l]!.byteOffset, d, F, i0, i1, xb, out],
              });
          });
          outs.push(() => sums[l]!.set(new Float64Array(ek.memory.buffer, out, F)));
          done.sums[l] = true;
        }
      }
    }
    if (outs.length === 0) return done;
    this.runRound(perThread);
    for (const f of outs) f();
    return done;
  }

  /** Whether layer l's decoder products run on the kernels this step. */
  decoderOn(l: number): boolean {
    return this.decKm[l] !== null;
  }

  /**
   * Lists layer l's decoder entries (see the top of this file) from its candidates, grouped by
   * feature (featStart, featQ, qTok from sparse.ts featureIndex). False when the scratch has no room
   * (the layer then uses the BLAS row operations).
   */
  prepareDecoder(
    l: number,
    zc: Float32Array,
    th: Float32Array,
    featStart: Int32Array,
    featQ: Int32Array,
    qTok: Int32Array,
    half: number,
  ): boolean {
    const km = this.decKm[l];
    if (!km) return false;
    const { F, L, d } = this;
    const a = this.arena(km);
    const nc = featStart[F]!;
    const fs = this.alloc(a, 4 * (F + 1));
    const fa = this.alloc(a, 4 * F);
    const tok = this.alloc(a, 4 * nc);
    const act = this.alloc(a, 4 * nc);
    const coef = this.alloc(a, 4 * F);
    const ga = this.alloc(a, 4 * nc);
    if ([fs, fa, tok, act, coef, ga].some((o) => o < 0)) {
      this.decKm[l] = null;
      return false;
    }
    const buf = km.memory.buffer;
    const fsV = new Int32Array(buf, fs, F + 1);
    const faV = new Int32Array(buf, fa, F);
    const tokV = new Int32Array(buf, tok, nc);
    const actV = new Float32Array(buf, act, nc);
    if (this.kqCache[l]!.length < nc) this.kqCache[l] = new Int32Array(Math.ceil(nc * 1.25));
    const kq = this.kqCache[l]!;
    const rowBytes = 4 * L * d;
    let nk = 0;
    for (let i = 0; i < F; i++) {
      fsV[i] = nk;
      const ti = th[i]!;
      const s = featStart[i]!;
      const e = featStart[i + 1]!;
      for (let k = s; k < e; k++) {
        const q = featQ[k]!;
        const zi = zc[q]!;
        if (!jumpReluActive(zi, ti)) continue;
        tokV[nk] = qTok[q]! * rowBytes;
        actV[nk] = zi;
        kq[nk++] = q;
      }
      faV[i] = nk;
      for (let k = s; k < e; k++) {
        const q = featQ[k]!;
        const zi = zc[q]!;
        if (jumpReluActive(zi, ti) || !(ti - zi < half)) continue;
        tokV[nk] = qTok[q]! * rowBytes;
        actV[nk] = 0;
        kq[nk++] = q;
      }
    }
    fsV[F] = nk;
    this.dec[l] = { arena: a, fs, fa, tok, act, coef, ga, nk, kq };
    return true;
  }

  /**
   * ŷ += the decoder products of every prepared layer (ŷ: [B, L·d], b_dec already in). One round per
   * layer, its columns cut in one contiguous share per thread (so no two threads write the same
   * bytes of ŷ; consecutive layers overlap in ŷ, hence the round each).
   */
  decoderForward(p: CltParams, yhat: Float32Array): void {
    const { L, d, F, B, tile } = this;
    const Ld = L * d;
    // in the dense phase no layer is prepared: nothing to zero, run or add back
    if (!this.dec.some((dl) => dl !== null)) return;
    for (const a of this.arenas.values()) if (a.yg >= 0) new Float32Array(a.km.memory.buffer, a.yg, B * Ld).fill(0);
    for (let l = 0; l < L; l++) {
      const dl = this.dec[l];
      if (!dl) continue;
      const n = (L - l) * d;
      const calls = this.split(n, 4).map(([c0, c1]) => {
        const list: PoolCall[] = [];
        for (let a = c0; a < c1; a += tile) {
          const args = [p.wDec[l]!.byteOffset, 4 * n, dl.arena.yg + 4 * l * d, a, Math.min(c1, a + tile), F];
          list.push({
            module: "sparse",
            fn: "dec_fwd",
            mem: dl.arena.km,
            args: [...args, dl.fs, dl.fa, dl.tok, dl.act],
          });
        }
        return list;
      });
      this.runRound(calls);
    }
    for (const a of this.arenas.values()) {
      if (a.yg < 0 || a.firstCol >= Ld) continue;
      const y = new Float32Array(a.km.memory.buffer, a.yg, B * Ld);
      for (let t = 0; t < B; t++) {
        const o = t * Ld;
        for (let c = o + a.firstCol, e = o + Ld; c < e; c++) yhat[c]! += y[c]!;
      }
    }
  }

  /**
   * The decoder backward of every prepared layer, given G = dMSE/dŷ [B, L·d] and per layer the
   * decoder-norm coefficient (coefs[l][i] = dL/d‖w_i‖ / ‖w_i‖): writes ∂W_dec and returns Σ ‖∂W_dec‖²
   * over those layers; gatherDa then gives each layer's dL/da.
   */
  decoderBackward(p: CltParams, grads: CltParams, g: Float32Array, coefs: Float64Array[]): number {
    const { L, d, F, B } = this;
    if (!this.dec.some((dl) => dl !== null)) return 0;
    for (const a of this.arenas.values()) if (a.yg >= 0) new Float32Array(a.km.memory.buffer, a.yg, B * L * d).set(g);
    for (let l = 0; l < L; l++) {
      const dl = this.dec[l];
      if (!dl) continue;
      const buf = dl.arena.km.memory.buffer;
      new Float32Array(buf, dl.coef, F).set(coefs[l]!);
      new Float32Array(buf, dl.ga, dl.nk).fill(0);
    }
    // threads take contiguous feature ranges (their ∂W_dec rows and dL/da entries are disjoint) and
    // read the same tile of G, which so stays in cache once for both
    const perThread: PoolCall[][] = Array.from({ length: this.threads }, () => []);
    const ranges = this.split(F, 1);
    let out = 0;
    for (let l = 0; l < L; l++) {
      const dl = this.dec[l];
      if (!dl) continue;
      const n = (L - l) * d;
      const head = [p.wDec[l]!.byteOffset, grads.wDec[l]!.byteOffset, 4 * n, dl.arena.yg + 4 * l * d];
      for (let c0 = 0; c0 < n; c0 += this.tile) {
        const c1 = Math.min(n, c0 + this.tile);
        ranges.forEach(([i0, i1], th) => {
          if (i1 <= i0) return;
          const args = [...head, c0, c1, i0, i1, dl.fs, dl.fa, dl.tok, dl.act, dl.coef, dl.ga];
          perThread[th]!.push({ module: "sparse", fn: "dec_bwd", mem: dl.arena.km, args, out: out++ });
        });
      }
    }
    return this.sumRound(perThread, out);
  }

  /** Layer l's dL/da at its candidates (0 where unused) after decoderBackward. */
  gatherDa(l: number, gaC: Float32Array, nc: number): void {
    const dl = this.dec[l]!;
    gaC.fill(0, 0, nc);
    const buf = dl.arena.km.memory.buffer;
    const ga = new Float32Array(buf, dl.ga, dl.nk);
    for (let k = 0; k < dl.nk; k++) gaC[dl.kq[k]!] = ga[k]!;
  }

  /**
   * Lists layer l's encoder entries (candidates with corr ≠ 0, by feature) for encoderGrad; false when
   * the layer has no encoder kernel memory or no room (then the caller runs sparse.ts's version).
   */
  prepareEncoder(
    l: number,
    corr: Float32Array,
    base: Float64Array,
    xSum: Float64Array,
    featStart: Int32Array,
    featQ: Int32Array,
    qTok: Int32Array,
  ): boolean {
    const km = this.encKm[l];
    if (!km) return false;
    const { F, L, d, B } = this;
    if (!this.xCopied) {
      for (const ar of this.arenas.values()) {
        if (ar.x >= 0) new Float32Array(ar.km.memory.buffer, ar.x, B * L * d).set(this.x!);
      }
      this.xCopied = true;
    }
    const a = this.arena(km);
    const nc = featStart[F]!;
    const fs = this.alloc(a, 4 * (F + 1));
    const tok = this.alloc(a, 4 * nc);
    const cv = this.alloc(a, 4 * nc);
    const bs = this.alloc(a, 4 * F);
    const xb = this.alloc(a, 4 * d);
    const tmp = Array.from({ length: this.threads }, () => this.alloc(a, 4 * 16 * d));
    if ([fs, tok, cv, bs, xb, ...tmp].some((o) => o < 0)) return false;
    const buf = km.memory.buffer;
    const fsV = new Int32Array(buf, fs, F + 1);
    const tokV = new Int32Array(buf, tok, nc);
    const cV = new Float32Array(buf, cv, nc);
    const rowBytes = 4 * L * d;
    let ne = 0;
    for (let i = 0; i < F; i++) {
      fsV[i] = ne;
      for (let k = featStart[i]!, e = featStart[i + 1]!; k < e; k++) {
        const q = featQ[k]!;
        const c = corr[q]!;
        if (c === 0) continue;
        tokV[ne] = qTok[q]! * rowBytes;
        cV[ne++] = c;
      }
    }
    fsV[F] = ne;
    new Float32Array(buf, bs, F).set(base);
    new Float32Array(buf, xb, d).set(xSum.subarray(l * d, (l + 1) * d));
    this.enc[l] = { arena: a, fs, tok, corr: cv, base: bs, xbar: xb, tmp };
    return true;
  }

  /** ∂W_enc of every prepared encoder layer; returns Σ ‖∂W_enc‖² over them. */
  encoderGrad(grads: CltParams): number {
    const { L, d, F } = this;
    // feature ranges cut on multiples of 16 (the kernel's block), so no two threads share a cache line
    const ranges = this.split(F, 16);
    const perThread: PoolCall[][] = Array.from({ length: this.threads }, () => []);
    let out = 0;
    for (let l = 0; l < L; l++) {
      const el = this.enc[l];
      if (!el) continue;
      for (const [th, [i0, i1]] of ranges.entries()) {
        if (i1 <= i0) continue;
        perThread[th]!.push({
          module: "sparse",
          fn: "enc_grad",
          mem: el.arena.km,
          args: [
            grads.wEnc[l]!.byteOffset,
            F,
            d,
            el.arena.x + 4 * l * d,
            i0,
            i1,
            el.fs,
            el.tok,
            el.corr,
            el.base,
            el.xbar,
            el.tmp[th]!,
          ],
          out: out++,
        });
      }
    }
    return this.sumRound(perThread, out);
  }

  /** [0, n) cut into one contiguous range per thread, the cuts on multiples of `align`. */
  private split(n: number, align: number): Array<[number, number]> {
    return splitRange(n, this.threads, align);
  }

  /** Runs a round whose calls write results[0 .. outs) and returns their sum (0 for no calls). */
  private sumRound(perThread: PoolCall[][], outs: number): number {
    if (outs === 0) return 0;
    this.runRound(perThread);
    let sum = 0;
    for (let k = 0; k < outs; k++) sum += this.results[k]!;
    return sum;
  }

  private runRound(perThread: PoolCall[][]): void {
    const n = perThread.reduce((s, c) => s + c.length, 0);
    if (this.results.length < n) this.results = new Float64Array(new SharedArrayBuffer(8 * n));
    const workers = this.threads - 1;
    if (!sharedPool || sharedPool.size < workers) {
      sharedPool?.close();
      sharedPool = new KernelPool(workers);
    }
    sharedPool.run(perThread.slice(1), perThread[0]!, this.results);
  }

  private arena(km: KernelMemory): Arena {
    let a = this.arenas.get(km);
    if (!a) {
      a = { km, top: km.scratchBase, yg: -1, x: -1, firstCol: this.L * this.d };
      this.arenas.set(km, a);
    }
    return a;
  }

  /** Byte offset of `bytes` bytes of scratch (16-aligned), or −1 when the memory cannot hold them. */
  private alloc(a: Arena, bytes: number): number {
    const at = Math.ceil(a.top / 16) * 16;
    if (!reserveBytes(a.km, at + bytes)) return -1;
    a.top = at + bytes;
    return at;
  }
}
