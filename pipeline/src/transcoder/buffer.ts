// Token-level activation shuffling with bounded memory and an exactly resumable position.
//
// The buffer works in generations: it reads `capacity` tokens (x and y rows) from the source,
// shuffles their order with a seeded Rng and serves them in that order; when a generation is used
// up the next one is read (a batch may straddle two generations). Its whole state is therefore
// (source state at the start of the current generation, Rng state at that point, tokens served),
// so a checkpoint stays small: resuming re-reads one generation from the source and re-derives
// the same permutation, instead of storing hundreds of MB of activations.
import { Rng, type RngState } from "@circuit-atlas/util";

/** A stream of (x, y) activation rows: x = resid_mid, y = mlp_out, each [L·d] per token (raw units). */
export interface ActivationSource {
  readonly nLayers: number;
  readonly dModel: number;
  /** Writes up to n tokens into x, y (rows from 0); returns how many (0 = exhausted). */
  read(n: number, x: Float32Array, y: Float32Array): Promise<number>;
  /** JSON-serialisable position. */
  state(): unknown;
  restore(state: unknown): Promise<void>;
}

export interface BufferState {
  generation: number;
  sourceState: unknown;
  rng: RngState;
  served: number;
}

export class ActivationBuffer {
  readonly row: number;
  readonly x: Float32Array;
  readonly y: Float32Array;
  private perm: Uint32Array;
  private size = 0;
  private served = 0;
  private generation = -1;
  private genSourceState: unknown = null;
  private genRng: RngState;
  private rng: Rng;

  constructor(
    readonly source: ActivationSource,
    readonly capacity: number,
    seed: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`buffer capacity must be ≥ 1, got ${capacity}`);
    this.row = source.nLayers * source.dModel;
    const n = capacity * this.row;
    this.x = new Float32Array(n);
    this.y = new Float32Array(n);
    this.perm = new Uint32Array(capacity);
    this.rng = new Rng(seed);
    this.genRng = this.rng.state();
  }

  /** Reads and shuffles the next generation; false if the source is exhausted. */
  private async fill(): Promise<boolean> {
    this.genSourceState = this.source.state();
    this.genRng = this.rng.state();
    this.size = await this.source.read(this.capacity, this.x, this.y);
    this.generation++;
    this.served = 0;
    const p = this.perm;
    for (let i = 0; i < this.size; i++) p[i] = i;
    this.rng.shuffle(p.subarray(0, this.size));
    return this.size > 0;
  }

  /** Tokens of the current generation in served order (for the init sample, without consuming). */
  async peek(n: number): Promise<{ x: Float32Array; y: Float32Array; n: number }> {
    if (this.generation < 0 || this.served >= this.size) await this.fill();
    const m = Math.min(n, this.size - this.served);
    const x = new Float32Array(m * this.row);
    const y = new Float32Array(m * this.row);
    for (let i = 0; i < m; i++) {
      const src = this.perm[this.served + i]! * this.row;
      x.set(this.x.subarray(src, src + this.row), i * this.row);
      y.set(this.y.subarray(src, src + this.row), i * this.row);
    }
    return { x, y, n: m };
  }

  /**
   * Copies the next `b` shuffled tokens into xOut/yOut, multiplying layer block ℓ of x by sIn[ℓ]
   * and of y by sOut[ℓ]. Returns the number of tokens written (< b only when the source ran out).
   */
  async next(
    b: number,
    xOut: Float32Array,
    yOut: Float32Array,
    sIn?: Float64Array,
    sOut?: Float64Array,
  ): Promise<number> {
    const row = this.row;
    const L = this.source.nLayers;
    const d = this.source.dModel;
    let done = 0;
    while (done < b) {
      if (this.generation < 0 || this.served >= this.size) {
        if (!(await this.fill())) break;
      }
      const take = Math.min(b - done, this.size - this.served);
      for (let i = 0; i < take; i++) {
        const src = this.perm[this.served + i]! * row;
        const dst = (done + i) * row;
        if (!sIn || !sOut) {
          xOut.set(this.x.subarray(src, src + row), dst);
          yOut.set(this.y.subarray(src, src + row), dst);
          continue;
        }
        for (let l = 0; l < L; l++) {
          const si = sIn[l]!;
          const so = sOut[l]!;
          const o = l * d;
          for (let r = 0; r < d; r++) {
            xOut[dst + o + r] = this.x[src + o + r]! * si;
            yOut[dst + o + r] = this.y[src + o + r]! * so;
          }
        }
      }
      this.served += take;
      done += take;
    }
    return done;
  }

  state(): BufferState {
    return { generation: this.generation, sourceState: this.genSourceState, rng: this.genRng, served: this.served };
  }

  /** Re-reads the saved generation and continues exactly where `state()` was taken. */
  async restore(s: BufferState): Promise<void> {
    if (s.generation < 0) return;
    await this.source.restore(s.sourceState);
    this.rng = new Rng(s.rng);
    this.generation = s.generation - 1;
    await this.fill();
    if (s.served > this.size) throw new Error("cannot resume: the activation source returned fewer tokens than before");
    this.served = s.served;
  }
}
