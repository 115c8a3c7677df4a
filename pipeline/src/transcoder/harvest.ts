// Activations harvested on the fly: corpus → packed contexts → model forward (blocks only, no
// unembedding) → per token the resid_mid and mlp_out of every layer, BOS position excluded.
// Resumable: the state is the context-stream state at the start of the current model batch plus
// how many of that batch's tokens were already handed out.
import type * as tf from "@tensorflow/tfjs";
import { type ContextStream, type ContextStreamState, type Corpus, contexts } from "../data/index.ts";
import type { GPT2 } from "../model/index.ts";
import type { ActivationSource } from "./buffer.ts";

export interface HarvestOptions {
  nCtx: number;
  /** Contexts per model forward. */
  batchContexts: number;
  /** Context-level shuffle buffer and seed of the corpus stream. */
  contextShuffle: number;
  seed: number;
}

interface HarvestState {
  ctx: ContextStreamState | null;
  offset: number;
}

export const inputHook = (l: number) => `blocks.${l}.hook_resid_mid`;
export const outputHook = (l: number) => `blocks.${l}.hook_mlp_out`;

/** Runs `model` on contexts (GPT-2 ids, BOS first) and returns x, y rows [n·(T−1), L·d], positions ≥ 1. */
export function harvestBatch(model: GPT2, ctxs: ArrayLike<number>[]): { x: Float32Array; y: Float32Array; n: number } {
  const { nLayers: L, dModel: d } = model.config;
  const ids = ctxs.map((c) => model.toModelIds(Array.from(c)));
  const T = ids[0]!.length;
  const names = new Set<string>();
  for (let l = 0; l < L; l++) names.add(inputHook(l)).add(outputHook(l));
  const { cache } = model.run(ids, { cache: (n) => names.has(n), stopAtLayer: L });
  const n = ids.length * (T - 1);
  const x = new Float32Array(n * L * d);
  const y = new Float32Array(n * L * d);
  try {
    for (let l = 0; l < L; l++) {
      for (const [name, out] of [
        [inputHook(l), x],
        [outputHook(l), y],
      ] as const) {
        const t = cache[name] as tf.Tensor | undefined;
        if (!t) throw new Error(`model did not produce hook ${name}`);
        const v = t.dataSync() as Float32Array;
        for (let b = 0; b < ids.length; b++) {
          for (let p = 1; p < T; p++) {
            const row = b * (T - 1) + (p - 1);
            out.set(v.subarray((b * T + p) * d, (b * T + p + 1) * d), row * L * d + l * d);
          }
        }
      }
    }
  } finally {
    for (const t of Object.values(cache)) t.dispose();
  }
  return { x, y, n };
}

export class HarvestSource implements ActivationSource {
  readonly nLayers: number;
  readonly dModel: number;
  private stream: ContextStream;
  private chunk: { x: Float32Array; y: Float32Array; n: number } | null = null;
  private chunkState: ContextStreamState | null = null;
  private offset = 0;
  /** Tokens handed out so far by this instance (for logs). */
  tokensRead = 0;

  constructor(
    readonly model: GPT2,
    readonly corpus: Corpus,
    readonly opts: HarvestOptions,
  ) {
    this.nLayers = model.config.nLayers;
    this.dModel = model.config.dModel;
    if (opts.nCtx > model.config.nCtx) {
      throw new Error(`context length ${opts.nCtx} exceeds the model's context (${model.config.nCtx})`);
    }
    this.stream = this.open();
  }

  private open(resume?: ContextStreamState): ContextStream {
    return contexts(this.corpus, {
      nCtx: this.opts.nCtx,
      shuffleBuffer: this.opts.contextShuffle,
      seed: this.opts.seed,
      ...(resume ? { resume } : {}),
    });
  }

  private async nextChunk(): Promise<boolean> {
    this.chunkState = this.stream.state();
    const ctxs = await this.stream.nextBatch(this.opts.batchContexts);
    this.offset = 0;
    if (ctxs.length === 0) {
      this.chunk = null;
      return false;
    }
    this.chunk = harvestBatch(this.model, ctxs);
    return true;
  }

  async read(n: number, x: Float32Array, y: Float32Array): Promise<number> {
    const row = this.nLayers * this.dModel;
    let done = 0;
    while (done < n) {
      if (!this.chunk || this.offset >= this.chunk.n) {
        if (!(await this.nextChunk())) break;
      }
      const c = this.chunk!;
      const take = Math.min(n - done, c.n - this.offset);
      x.set(c.x.subarray(this.offset * row, (this.offset + take) * row), done * row);
      y.set(c.y.subarray(this.offset * row, (this.offset + take) * row), done * row);
      this.offset += take;
      done += take;
    }
    this.tokensRead += done;
    return done;
  }

  state(): HarvestState {
    if (!this.chunk) return { ctx: this.stream.state(), offset: 0 };
    return { ctx: this.chunkState, offset: this.offset };
  }

  async restore(state: unknown): Promise<void> {
    const s = state as HarvestState;
    if (!s || typeof s.offset !== "number") throw new Error("cannot resume: bad activation-source state in checkpoint");
    this.stream = this.open(s.ctx ?? undefined);
    this.chunk = null;
    if (s.offset > 0) {
      if (!(await this.nextChunk())) throw new Error("cannot resume: the corpus ended before the saved position");
      this.offset = s.offset;
    }
  }
}

/**
 * Counts training tokens (positions ≥ 1 of packed contexts) the corpus can supply, stopping as soon
 * as `need` is reached; used to fail fast on a corpus that is too small.
 */
export async function countCorpusTokens(corpus: Corpus, nCtx: number, need: number): Promise<number> {
  const s = contexts(corpus, { nCtx });
  let n = 0;
  while (n < need) {
    const c = await s.next();
    if (!c) break;
    n += nCtx - 1;
  }
  return n;
}
