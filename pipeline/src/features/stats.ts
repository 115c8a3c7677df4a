// `computeFeatureStats`: one streaming pass over held-out text through the model and the CLT,
// updating a bounded LayerState per layer, a pool of random windows for negatives, and an
// append-only token log; checkpoints for resuming; then the per-layer JSONL.gz files + manifest.
import {
  closeSync,
  createWriteStream,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { createProgress, formatDuration, writeJsonAtomic } from "@circuit-atlas/util";
import { gemm } from "../backend/index.ts";
import { type ContextStreamState, type Corpus, contexts, Rng, type RngState } from "../data/index.ts";
import type { GPT2 } from "../model/index.ts";
import { readSafetensors, writeSafetensors } from "../safetensors/index.ts";
import { decodeToken, GPT2_VOCAB_SIZE } from "../tokenizer/index.ts";
import type { CLT } from "../transcoder/index.ts";
import { harvestBatch } from "../transcoder/index.ts";
import {
  FEATURE_MANIFEST_FILE,
  FEATURE_STATS_FORMAT,
  FEATURE_STATS_VERSION,
  FEATURES_DIR,
  type FeatureExample,
  type FeatureStats,
  type FeatureStatsManifest,
  type FeatureStatsParams,
  featureId,
  featureLayerFile,
  type LogitEffect,
  type QuantileInterval,
} from "./formats.ts";
import { bytesPerFeature, LayerState, windowLength, windowRange } from "./state.ts";

export const DEFAULT_STATS_PARAMS: FeatureStatsParams = {
  topK: 16,
  nQuantiles: 10,
  perQuantile: 6,
  nNegatives: 20,
  windowBefore: 15,
  windowAfter: 4,
  histogramBins: 32,
  logitsK: 10,
  seed: 0,
};

const STATE_DIR = "state";
const STATE_FILE = "state.safetensors";
const TOKENS_FILE = "tokens.u16";

export interface FeatureStatsOptions {
  clt: CLT;
  model: GPT2;
  corpus: Corpus;
  corpusPath: string;
  /** CLT run dir; files go to `<runDir>/features/`. */
  runDir: string;
  transcoderId: string;
  modelDir: string | null;
  /** Tokens to process (BOS positions excluded); the pass ends earlier if the corpus does. */
  tokens: number;
  /** Context length incl. BOS (default: the model's nCtx). */
  nCtx?: number;
  batchContexts?: number;
  params?: Partial<FeatureStatsParams>;
  /** Continue from the checkpoint in `<runDir>/features/state/` (refused if the settings differ). */
  resume?: boolean;
  /** Seconds between checkpoints (default 60). */
  checkpointEverySec?: number;
  /** Stop (with a checkpoint) after this many batches: for tests of resuming. */
  stopAfterBatches?: number;
  quiet?: boolean;
}

export interface FeatureStatsResult {
  manifest: FeatureStatsManifest | null;
  /** False when stopped early by stopAfterBatches (a checkpoint is on disk). */
  finished: boolean;
  tokensPerSec: number;
}

interface PoolEntry {
  ctx: number;
  start: number;
  end: number;
  /** Sorted global feature numbers layer·F + featureIndex active somewhere in the window. */
  active: number[];
}

interface Meta {
  version: 1;
  transcoderId: string;
  shape: { nLayers: number; nFeatures: number; dModel: number };
  corpusPath: string;
  nCtx: number;
  tokensRequested: number;
  params: FeatureStatsParams;
  contexts: number;
  tokensSeen: number;
  poolSeen: number;
  rng: RngState;
  stream: ContextStreamState;
  pool: PoolEntry[];
  startedAt: string;
  elapsedSec: number;
}

const bytes = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

function saveCheckpoint(dir: string, layers: LayerState[], meta: Meta): void {
  const tensors: Record<string, { dtype: "U8"; shape: number[]; data: Uint8Array }> = {};
  layers.forEach((s, l) => {
    for (const [name, arr] of Object.entries(s.arrays())) {
      const b = bytes(arr);
      tensors[`L${l}.${name}`] = { dtype: "U8", shape: [b.length], data: b };
    }
  });
  // writeSafetensors is atomic (temp + fsync + rename): a kill leaves the previous checkpoint.
  writeSafetensors(join(dir, STATE_FILE), tensors, { meta: JSON.stringify(meta) });
}

function loadCheckpoint(dir: string, layers: LayerState[]): Meta {
  const path = join(dir, STATE_FILE);
  if (!existsSync(path)) throw new Error(`--resume: no checkpoint at ${path}`);
  const file = readSafetensors(path);
  const metaText = file.metadata?.meta;
  if (!metaText) throw new Error(`${path}: checkpoint has no metadata`);
  const meta = JSON.parse(metaText) as Meta;
  layers.forEach((s, l) => {
    for (const [name, arr] of Object.entries(s.arrays())) {
      const t = file.tensors.get(`L${l}.${name}`);
      const dst = bytes(arr);
      if (!t || !(t.data instanceof Uint8Array) || t.data.length !== dst.length) {
        throw new Error(`${path}: tensor L${l}.${name} is missing or has the wrong size`);
      }
      dst.set(t.data);
    }
  });
  return meta;
}

/** Reads token windows from the token log (whole file in memory when small, positioned reads otherwise). */
class TokenLog {
  private all: Uint16Array | null = null;
  constructor(
    private readonly fd: number,
    size: number,
  ) {
    if (size <= 256 * 1024 * 1024) {
      const buf = Buffer.alloc(size);
      readSync(fd, buf, 0, size, 0);
      this.all = new Uint16Array(buf.buffer, buf.byteOffset, size / 2);
    }
  }
  read(offset: number, n: number): number[] {
    if (this.all) return Array.from(this.all.subarray(offset, offset + n));
    const buf = Buffer.alloc(n * 2);
    readSync(this.fd, buf, 0, n * 2, offset * 2);
    return Array.from(new Uint16Array(buf.buffer, buf.byteOffset, n));
  }
}

const round4 = (x: number): number => (x === 0 ? 0 : Number(x.toPrecision(4)));

/** Decodes GPT-2 ids (cached: decoding runs per example token). */
function tokenText(): (id: number) => string {
  const cache = new Map<number, string>();
  return (id) => {
    let s = cache.get(id);
    if (s === undefined) {
      s = id >= 0 && id < GPT2_VOCAB_SIZE ? decodeToken(id) : "<unk>";
      cache.set(id, s);
    }
    return s;
  };
}

/**
 * Direct logit effects of each layer-`layer` feature: u = Σ_j W_dec[ℓ→j] (the feature's total write
 * to the residual stream), centred and scaled by ln_f's gain, through the unembedding. Returns the
 * top / bottom `k` vocabulary rows with values per feature.
 */
export function logitEffects(
  clt: CLT,
  model: GPT2,
  layer: number,
  k: number,
): { top: { row: number; value: number }[][]; bottom: { row: number; value: number }[][] } {
  const { nLayers: L, dModel: d, nFeatures: F } = clt.shape;
  const V = model.config.vocabSize;
  const unembed = (model.weights["lm_head.weight"] ?? model.weights["wte.weight"])!.dataSync() as Float32Array;
  const gamma = model.weights["ln_f.weight"]!.dataSync() as Float32Array;
  const wDec = clt.weights.wDec[layer]!;
  const nOut = L - layer;
  const chunk = Math.max(1, Math.min(F, Math.floor((64 * 1024 * 1024) / (4 * V))));
  const top: { row: number; value: number }[][] = [];
  const bottom: { row: number; value: number }[][] = [];
  const dirs = new Float32Array(chunk * d);
  const out = new Float32Array(chunk * V);
  for (let f0 = 0; f0 < F; f0 += chunk) {
    const n = Math.min(chunk, F - f0);
    dirs.fill(0);
    for (let f = 0; f < n; f++) {
      const u = dirs.subarray(f * d, (f + 1) * d);
      for (let j = 0; j < nOut; j++) {
        const o = ((f0 + f) * nOut + j) * d;
        for (let c = 0; c < d; c++) u[c]! += wDec[o + c]!;
      }
      let mean = 0;
      for (let c = 0; c < d; c++) mean += u[c]!;
      mean /= d;
      for (let c = 0; c < d; c++) u[c] = (u[c]! - mean) * gamma[c]!;
    }
    gemm(false, true, n, V, d, 1, dirs, d, unembed, d, 0, out, V);
    for (let f = 0; f < n; f++) {
      const row = out.subarray(f * V, (f + 1) * V);
      const idx = Array.from({ length: V }, (_, r) => r);
      idx.sort((a, b) => row[b]! - row[a]!);
      top.push(idx.slice(0, k).map((r) => ({ row: r, value: row[r]! })));
      bottom.push(
        idx
          .slice(-k)
          .reverse()
          .map((r) => ({ row: r, value: row[r]! })),
      );
    }
  }
  return { top, bottom };
}

/** Runs (or resumes) the statistics pass and writes the feature files. */
export async function computeFeatureStats(o: FeatureStatsOptions): Promise<FeatureStatsResult> {
  const p: FeatureStatsParams = { ...DEFAULT_STATS_PARAMS, ...o.params };
  const { nLayers: L, nFeatures: F, dModel: d } = o.clt.shape;
  if (o.model.config.nLayers !== L || o.model.config.dModel !== d) {
    throw new Error(
      `the CLT (${L} layers, d_model ${d}) does not fit the model (${o.model.config.nLayers} layers, d_model ${o.model.config.dModel})`,
    );
  }
  const T = o.nCtx ?? o.model.config.nCtx;
  if (T > o.model.config.nCtx) throw new Error(`--n-ctx ${T} exceeds the model's context (${o.model.config.nCtx})`);
  if (T - 1 > 65535) throw new Error(`--n-ctx ${T} is too long for the statistics state (max 65536)`);
  if (windowLength(p) > T - 1)
    throw new Error(`the example window (${windowLength(p)} tokens) exceeds the context (${T - 1} tokens after BOS)`);
  if (!Number.isInteger(o.tokens) || o.tokens <= 0)
    throw new Error(`--tokens must be a positive integer, got ${o.tokens}`);
  const batchContexts = o.batchContexts ?? Math.max(1, Math.floor(2048 / T));

  const dir = join(o.runDir, FEATURES_DIR);
  const stateDir = join(dir, STATE_DIR);
  mkdirSync(stateDir, { recursive: true });
  const layers = Array.from({ length: L }, () => new LayerState(F, p));
  const poolSize = Math.max(64, 4 * p.nNegatives);

  let meta: Meta;
  const tokensPath = join(stateDir, TOKENS_FILE);
  if (o.resume) {
    meta = loadCheckpoint(stateDir, layers);
    const want = {
      transcoderId: o.transcoderId,
      shape: { nLayers: L, nFeatures: F, dModel: d },
      corpusPath: o.corpusPath,
      nCtx: T,
      params: p,
    };
    const have = {
      transcoderId: meta.transcoderId,
      shape: meta.shape,
      corpusPath: meta.corpusPath,
      nCtx: meta.nCtx,
      params: meta.params,
    };
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      throw new Error(`--resume: the checkpoint in ${stateDir} was made with other settings (${JSON.stringify(have)})`);
    }
    meta.tokensRequested = o.tokens;
  } else {
    rmSync(stateDir, { recursive: true, force: true });
    mkdirSync(stateDir, { recursive: true });
    meta = {
      version: 1,
      transcoderId: o.transcoderId,
      shape: { nLayers: L, nFeatures: F, dModel: d },
      corpusPath: o.corpusPath,
      nCtx: T,
      tokensRequested: o.tokens,
      params: p,
      contexts: 0,
      tokensSeen: 0,
      poolSeen: 0,
      rng: new Rng(p.seed).state(),
      stream: contexts(o.corpus, { nCtx: T, seed: p.seed }).state(),
      pool: [],
      startedAt: new Date().toISOString(),
      elapsedSec: 0,
    };
  }
  const rng = new Rng(meta.rng);
  const stream = contexts(o.corpus, { nCtx: T, seed: p.seed, ...(meta.contexts > 0 ? { resume: meta.stream } : {}) });
  // The token log may hold tokens of batches after the last checkpoint: cut them off.
  const fd = openSync(tokensPath, existsSync(tokensPath) ? "r+" : "w+");
  ftruncateSync(fd, meta.contexts * T * 2);

  const progress = createProgress({
    label: "features",
    total: o.tokens,
    start: meta.tokensSeen,
    unit: "tokens",
    quiet: o.quiet,
  });
  const t0 = Date.now();
  const tokens0 = meta.tokensSeen;
  let lastCheckpoint = Date.now();
  let batches = 0;
  let stopped = false;
  const checkpointEvery = (o.checkpointEverySec ?? 60) * 1000;
  const checkpoint = () => {
    meta.rng = rng.state();
    meta.stream = stream.state();
    meta.elapsedSec += (Date.now() - lastCheckpoint) / 1000;
    lastCheckpoint = Date.now();
    saveCheckpoint(stateDir, layers, meta);
  };

  try {
    while (meta.tokensSeen < o.tokens) {
      const want = Math.min(batchContexts, Math.ceil((o.tokens - meta.tokensSeen) / (T - 1)));
      const ctxs = await stream.nextBatch(want);
      if (ctxs.length === 0) break;
      const { x, n } = harvestBatch(o.model, ctxs);
      const actsPerLayer: Float32Array[] = [];
      for (let l = 0; l < L; l++) {
        const xl = new Float32Array(n * d);
        for (let r = 0; r < n; r++) xl.set(x.subarray(r * L * d + l * d, r * L * d + (l + 1) * d), r * d);
        actsPerLayer.push(o.clt.encodeArray(l, xl, n).acts);
      }
      const tokBuf = new Uint16Array(ctxs.length * T);
      ctxs.forEach((c, b) => {
        tokBuf.set(c, b * T);
      });
      writeSync(fd, bytes(tokBuf), 0, tokBuf.byteLength, meta.contexts * T * 2);
      for (let b = 0; b < ctxs.length; b++) {
        const ctx = meta.contexts + b;
        const rowBase = b * (T - 1);
        for (let l = 0; l < L; l++) layers[l]!.addContext(actsPerLayer[l]!, rowBase, T, ctx, rng);
        // Negatives pool: a reservoir of random windows over contexts, with the features active in them.
        meta.poolSeen++;
        let slot = -1;
        if (meta.pool.length < poolSize) slot = meta.pool.length;
        else {
          const j = Math.floor(rng.next() * meta.poolSeen);
          if (j < poolSize) slot = j;
        }
        if (slot >= 0) {
          const W = windowLength(p);
          const start = 1 + Math.floor(rng.next() * (T - W));
          const end = start + W - 1;
          const active = new Set<number>();
          for (let l = 0; l < L; l++) {
            const a = actsPerLayer[l]!;
            for (let t = start; t <= end; t++) {
              const off = (rowBase + t - 1) * F;
              for (let i = 0; i < F; i++) if (a[off + i]! > 0) active.add(l * F + i);
            }
          }
          meta.pool[slot] = { ctx, start, end, active: [...active].sort((u, v) => u - v) };
        }
      }
      meta.contexts += ctxs.length;
      meta.tokensSeen += ctxs.length * (T - 1);
      batches++;
      const rate = (meta.tokensSeen - tokens0) / Math.max(1e-3, (Date.now() - t0) / 1000);
      progress.update(meta.tokensSeen, `${meta.tokensSeen} tokens ${rate.toFixed(0)} tok/s`);
      if (o.stopAfterBatches !== undefined && batches >= o.stopAfterBatches) {
        stopped = true;
        break;
      }
      if (Date.now() - lastCheckpoint >= checkpointEvery) checkpoint();
    }
    checkpoint();
  } finally {
    progress.stop();
  }
  const tokensPerSec = (meta.tokensSeen - tokens0) / Math.max(1e-3, (Date.now() - t0) / 1000);
  if (stopped) {
    closeSync(fd);
    return { manifest: null, finished: false, tokensPerSec };
  }
  if (meta.tokensSeen === 0) {
    closeSync(fd);
    throw new Error(`${o.corpusPath}: the corpus gave no context of ${T} tokens`);
  }

  // ---- finalize: one JSONL.gz per layer, then the manifest ----
  const tokenLog = new TokenLog(fd, fstatSync(fd).size);
  const text = tokenText();
  const vocab = o.model.vocab;
  const rowToken = (row: number): LogitEffect => {
    const g = vocab ? vocab[row]! : row;
    const ok = g >= 0 && g < GPT2_VOCAB_SIZE;
    return { tokenId: ok ? g : -1, token: ok ? text(g) : "<unk>", value: 0 };
  };
  const W = windowLength(p);
  const example = (
    ctx: number,
    pos: number,
    value: number,
    scale: number,
    q: Uint8Array,
    qo: number,
  ): FeatureExample => {
    const [lo, hi] = windowRange(pos, T, p);
    const ids = tokenLog.read(ctx * T + lo, hi - lo + 1);
    return {
      id: `${ctx}:${lo}`,
      contextIndex: ctx,
      start: lo,
      tokens: ids.map(text),
      tokenIds: ids,
      acts: ids.map((_, j) => round4((q[qo + j]! / 255) * scale)),
      maxIndex: pos - lo,
      maxActivation: round4(value),
    };
  };
  const layerEntries: FeatureStatsManifest["layers"] = [];
  for (let l = 0; l < L; l++) {
    const s = layers[l]!;
    const logits = p.logitsK > 0 ? logitEffects(o.clt, o.model, l, p.logitsK) : null;
    let live = 0;
    const featureRng = new Rng(p.seed + 1000003 * (l + 1));
    function* lines(): Generator<string> {
      for (let i = 0; i < F; i++) {
        const n = s.activeTokens[i]!;
        if (n > 0) live++;
        const k = s.topN[i]!;
        const top: FeatureExample[] = [];
        for (let j = 0; j < k; j++) {
          const e = i * s.k + j;
          top.push(example(s.topCtx[e]!, s.topPos[e]!, s.topVal[e]!, s.topScale[e]!, s.topQ, e * W));
        }
        top.sort((a, b) => b.maxActivation - a.maxActivation);
        const m = Math.min(n, s.R);
        const res = Array.from({ length: m }, (_, j) => i * s.R + j).sort((a, b) => s.resVal[a]! - s.resVal[b]!);
        const quantiles: QuantileInterval[] = [];
        for (let g = 0; g < p.nQuantiles; g++) {
          const part = res.slice(Math.floor((g * m) / p.nQuantiles), Math.floor(((g + 1) * m) / p.nQuantiles));
          if (!part.length) continue;
          quantiles.push({
            index: g,
            quantileLow: g / p.nQuantiles,
            quantileHigh: (g + 1) / p.nQuantiles,
            lower: round4(s.resVal[part[0]!]!),
            upper: round4(s.resVal[part[part.length - 1]!]!),
            examples: part.map((e) => example(s.resCtx[e]!, s.resPos[e]!, s.resVal[e]!, s.resScale[e]!, s.resQ, e * W)),
          });
        }
        const gid = l * F + i;
        const candidates = meta.pool.filter((w) => !binaryHas(w.active, gid));
        // Deterministic per-feature choice (partial Fisher–Yates).
        for (let j = 0; j < Math.min(p.nNegatives, candidates.length); j++) {
          const r = j + Math.floor(featureRng.next() * (candidates.length - j));
          [candidates[j], candidates[r]] = [candidates[r]!, candidates[j]!];
        }
        const negatives = candidates.slice(0, p.nNegatives).map((w): FeatureExample => {
          const ids = tokenLog.read(w.ctx * T + w.start, w.end - w.start + 1);
          return {
            id: `${w.ctx}:${w.start}`,
            contextIndex: w.ctx,
            start: w.start,
            tokens: ids.map(text),
            tokenIds: ids,
            acts: ids.map(() => 0),
            maxIndex: -1,
            maxActivation: 0,
          };
        });
        const mean = n > 0 ? s.sum[i]! / n : 0;
        const variance = n > 0 ? Math.max(0, s.sumSq[i]! / n - mean * mean) : 0;
        const rec: FeatureStats = {
          featureId: featureId(l, i),
          layer: l,
          featureIndex: i,
          density: n / meta.tokensSeen,
          activeTokens: n,
          activeContexts: s.activeContexts[i]!,
          maxActivation: round4(s.max[i]!),
          minActivation: n > 0 ? round4(s.min[i]!) : 0,
          meanActivation: round4(mean),
          stdActivation: round4(Math.sqrt(variance)),
          histogram: { binWidth: s.binWidth[i]!, counts: Array.from(s.hist.subarray(i * s.B, (i + 1) * s.B)) },
          topExamples: top,
          quantiles,
          negativeExamples: negatives,
          logits: {
            top: logits ? logits.top[i]!.map((e) => ({ ...rowToken(e.row), value: round4(e.value) })) : [],
            bottom: logits ? logits.bottom[i]!.map((e) => ({ ...rowToken(e.row), value: round4(e.value) })) : [],
          },
        };
        yield `${JSON.stringify(rec)}\n`;
      }
    }
    const file = featureLayerFile(l);
    await pipeline(Readable.from(lines()), createGzip(), createWriteStream(join(stateDir, file)));
    layerEntries.push({ layer: l, file, features: F, live });
  }
  closeSync(fd);
  // Swap the finished files in: the old manifest goes first, so readers never pair it with new layers.
  rmSync(join(dir, FEATURE_MANIFEST_FILE), { force: true });
  for (const e of layerEntries) renameSync(join(stateDir, e.file), join(dir, e.file));
  const manifest: FeatureStatsManifest = {
    format: FEATURE_STATS_FORMAT,
    version: FEATURE_STATS_VERSION,
    transcoder: { id: o.transcoderId, nLayers: L, nFeatures: F, dModel: d },
    model: { dir: o.modelDir, name: null },
    corpus: { path: o.corpusPath, tokensRequested: o.tokens, nCtx: T, seed: p.seed },
    tokensSeen: meta.tokensSeen,
    contexts: meta.contexts,
    params: p,
    layers: layerEntries,
    stateBytesPerFeature: bytesPerFeature(p),
    startedAt: meta.startedAt,
    finishedAt: new Date().toISOString(),
    elapsedSec: meta.elapsedSec,
    complete: true,
  };
  writeJsonAtomic(join(dir, FEATURE_MANIFEST_FILE), manifest);
  if (!o.quiet) {
    process.stderr.write(
      `features: ${meta.tokensSeen} tokens, ${meta.contexts} contexts, ${layerEntries.reduce((a, e) => a + e.live, 0)}/${L * F} live features, ` +
        `${tokensPerSec.toFixed(0)} tok/s this session, ${formatDuration(meta.elapsedSec)} in all\n`,
    );
  }
  return { manifest, finished: true, tokensPerSec };
}

function binaryHas(sorted: number[], x: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
