// Packing a corpus into fixed-length token contexts, with a bounded, seedable shuffle buffer and an
// exactly resumable position.
//
// Packing: documents are tokenized and concatenated into one stream, each followed by the separator
// 50256; the stream is cut into chunks of nCtx − 1 tokens and each context is [50256, ...chunk]
// (BOS first, as circuit-tracer does for GPT-2). A separator that would land right after the BOS is
// dropped, so no context starts with two 50256s. Without `loop`, the trailing partial chunk at the
// end of the corpus is dropped; with `loop` the stream wraps around to the first document (epochs).
//
// Shuffling: a buffer of `shuffleBuffer` contexts is kept full; each output is a uniformly chosen
// buffer entry (drawn with a seeded Rng), replaced by the next packed context. Output order is a
// deterministic function of (corpus, nCtx, shuffleBuffer, seed). Token-level shuffling of activations
// (for transcoder training) belongs to the consumer: use ShuffleBuffer + Rng for that.
//
// Resuming: `state()` after any `next()` returns a JSON-serialisable snapshot — the source position
// (file, document, token offset inside that document), the RNG state and the buffered contexts.
// `contexts(corpus, { ...sameOptions, resume: state })` continues with exactly the contexts an
// uninterrupted stream would have produced. Only the one document under the cursor is re-tokenized;
// earlier documents are skipped without tokenizing (Parquet skips whole row groups).
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { Rng, type RngState } from "@circuit-atlas/util";
import { BOS_ID, encode } from "../tokenizer/index.ts";
import type { Corpus, CorpusDocument } from "./sources.ts";

/** A bounded reservoir: push items in, take uniformly random ones out. */
export class ShuffleBuffer<T> {
  readonly items: T[];
  constructor(
    readonly capacity: number,
    readonly rng: Rng,
    items: T[] = [],
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`shuffle buffer capacity must be ≥ 1`);
    this.items = items;
  }
  get full(): boolean {
    return this.items.length >= this.capacity;
  }
  get size(): number {
    return this.items.length;
  }
  push(item: T): void {
    if (this.full) throw new Error("shuffle buffer is full");
    this.items.push(item);
  }
  /** Removes and returns a uniformly chosen item (undefined when empty). */
  take(): T | undefined {
    const n = this.items.length;
    if (n === 0) return undefined;
    const j = n === 1 ? 0 : this.rng.int(n);
    const out = this.items[j] as T;
    this.items[j] = this.items[n - 1] as T;
    this.items.pop();
    return out;
  }
}

export interface ContextOptions {
  /** Tokens per context, BOS included. */
  nCtx: number;
  /** Contexts held for shuffling; 0 or 1 keeps corpus order (default 0). */
  shuffleBuffer?: number;
  seed?: number;
  /** Wrap around to the first document at the end of the corpus (default false). */
  loop?: boolean;
  /** A `state()` snapshot from a stream made with the same corpus and options. */
  resume?: ContextStreamState;
  /** Tokenizer (default: GPT-2 `encode`). */
  tokenize?: (text: string) => number[];
}

export interface ContextStreamState {
  version: 1;
  corpus: string;
  nCtx: number;
  shuffleBuffer: number;
  seed: number;
  loop: boolean;
  epoch: number;
  /** Document under the cursor and how many of its tokens (separator included) were consumed. */
  cursor: { fileIndex: number; docIndex: number; tokenOffset: number } | null;
  sourceDone: boolean;
  rng: RngState;
  buffer: number[][];
  /** Contexts returned by next() so far. */
  emitted: number;
  /** Documents tokenized so far (all epochs). */
  documents: number;
}

/** A hash of the file list (names and sizes) and reader settings, to refuse resuming on another corpus. */
export function corpusFingerprint(corpus: Corpus): string {
  const h = createHash("sha256");
  h.update(JSON.stringify([corpus.textField, corpus.textSplit]));
  for (const f of corpus.files) h.update(JSON.stringify([basename(f.path), f.format, f.size]));
  return h.digest("hex").slice(0, 16);
}

export class ContextStream implements AsyncIterable<Int32Array> {
  private readonly nCtx: number;
  private readonly capacity: number;
  private readonly shuffleOption: number;
  private readonly seed: number;
  private readonly loop: boolean;
  private readonly tokenize: (text: string) => number[];
  private readonly fingerprint: string;
  private readonly rng: Rng;
  private readonly buffer: ShuffleBuffer<Int32Array>;
  private docs: AsyncGenerator<CorpusDocument> | null = null;
  private cur: { fileIndex: number; docIndex: number; tokens: number[]; offset: number } | null = null;
  private epoch = 0;
  private sourceDone = false;
  private emitted = 0;
  private documents = 0;
  private docsThisEpoch = 0;
  private pendingResume: ContextStreamState["cursor"] = null;

  constructor(
    readonly corpus: Corpus,
    options: ContextOptions,
  ) {
    const { nCtx, shuffleBuffer = 0, seed = 0, loop = false } = options;
    if (!Number.isInteger(nCtx) || nCtx < 2) throw new Error(`nCtx must be an integer ≥ 2, got ${nCtx}`);
    if (!Number.isInteger(shuffleBuffer) || shuffleBuffer < 0) {
      throw new Error(`shuffleBuffer must be a non-negative integer, got ${shuffleBuffer}`);
    }
    this.nCtx = nCtx;
    this.capacity = Math.max(1, shuffleBuffer);
    this.shuffleOption = shuffleBuffer;
    this.seed = seed;
    this.loop = loop;
    this.tokenize = options.tokenize ?? encode;
    this.fingerprint = corpusFingerprint(corpus);
    const r = options.resume;
    if (r) {
      const same = r.version === 1 && r.nCtx === nCtx && r.shuffleBuffer === shuffleBuffer;
      if (!same || r.seed !== seed || r.loop !== loop) {
        throw new Error("cannot resume data stream: nCtx, shuffleBuffer, seed or loop differ from the saved state");
      }
      if (r.corpus !== this.fingerprint) {
        throw new Error("cannot resume data stream: the corpus files differ from the ones the state was saved on");
      }
      this.rng = new Rng(r.rng);
      this.buffer = new ShuffleBuffer(
        this.capacity,
        this.rng,
        r.buffer.map((c) => Int32Array.from(c)),
      );
      this.epoch = r.epoch;
      this.sourceDone = r.sourceDone;
      this.emitted = r.emitted;
      this.documents = r.documents;
      this.docsThisEpoch = r.cursor ? 1 : 0;
      this.pendingResume = r.cursor;
    } else {
      this.rng = new Rng(seed);
      this.buffer = new ShuffleBuffer(this.capacity, this.rng);
    }
  }

  /** Contexts returned so far. */
  get contextsEmitted(): number {
    return this.emitted;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  /** The next context (Int32Array of nCtx GPT-2 ids, [0] = 50256), or null at the end of the corpus. */
  async next(): Promise<Int32Array | null> {
    while (!this.buffer.full && !this.sourceDone) {
      const ctx = await this.pack();
      if (ctx) this.buffer.push(ctx);
    }
    const out = this.buffer.take();
    if (!out) {
      if (this.emitted === 0) {
        throw new Error(
          `corpus ${this.corpus.source} is too small: fewer than ${this.nCtx - 1} tokens for one context of ${this.nCtx}`,
        );
      }
      return null;
    }
    this.emitted++;
    return out;
  }

  /** Up to `n` contexts (fewer only at the end of a non-looping corpus). */
  async nextBatch(n: number): Promise<Int32Array[]> {
    const out: Int32Array[] = [];
    for (let i = 0; i < n; i++) {
      const c = await this.next();
      if (!c) break;
      out.push(c);
    }
    return out;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Int32Array> {
    for (;;) {
      const c = await this.next();
      if (!c) return;
      yield c;
    }
  }

  state(): ContextStreamState {
    return {
      version: 1,
      corpus: this.fingerprint,
      nCtx: this.nCtx,
      shuffleBuffer: this.shuffleOption,
      seed: this.seed,
      loop: this.loop,
      epoch: this.epoch,
      cursor: this.cur
        ? { fileIndex: this.cur.fileIndex, docIndex: this.cur.docIndex, tokenOffset: this.cur.offset }
        : this.pendingResume,
      sourceDone: this.sourceDone,
      rng: this.rng.state(),
      buffer: this.buffer.items.map((c) => Array.from(c)),
      emitted: this.emitted,
      documents: this.documents,
    };
  }

  /** Packs one context from the token stream; null when the (non-looping) source ran out. */
  private async pack(): Promise<Int32Array | null> {
    const ctx = new Int32Array(this.nCtx);
    ctx[0] = BOS_ID;
    let filled = 1;
    while (filled < this.nCtx) {
      if (!this.cur || this.cur.offset >= this.cur.tokens.length) {
        if (!(await this.advance())) {
          this.sourceDone = true;
          return null;
        }
        continue;
      }
      const cur = this.cur;
      if (filled === 1 && cur.tokens[cur.offset] === BOS_ID) {
        cur.offset++;
        continue;
      }
      const take = Math.min(this.nCtx - filled, cur.tokens.length - cur.offset);
      for (let i = 0; i < take; i++) ctx[filled + i] = cur.tokens[cur.offset + i] as number;
      filled += take;
      cur.offset += take;
    }
    return ctx;
  }

  /** Moves the cursor to the next document; false at the end of a non-looping corpus. */
  private async advance(): Promise<boolean> {
    for (;;) {
      if (!this.docs) {
        const from = this.pendingResume
          ? { fileIndex: this.pendingResume.fileIndex, docIndex: this.pendingResume.docIndex }
          : undefined;
        this.docs = this.corpus.documents(from);
      }
      const r = await this.docs.next();
      if (!r.done) {
        const doc = r.value;
        const tokens = this.tokenize(doc.text);
        tokens.push(BOS_ID);
        let offset = 0;
        if (this.pendingResume) {
          if (doc.fileIndex !== this.pendingResume.fileIndex || doc.docIndex !== this.pendingResume.docIndex) {
            throw new Error("cannot resume data stream: the saved document is no longer in the corpus");
          }
          offset = this.pendingResume.tokenOffset;
          this.pendingResume = null;
        } else {
          this.documents++;
          this.docsThisEpoch++;
        }
        this.cur = { fileIndex: doc.fileIndex, docIndex: doc.docIndex, tokens, offset };
        return true;
      }
      this.docs = null;
      this.cur = null;
      if (this.docsThisEpoch === 0) throw new Error(`corpus ${this.corpus.source} has no documents`);
      if (!this.loop) return false;
      this.epoch++;
      this.docsThisEpoch = 0;
    }
  }
}

/** Packs `corpus` into contexts; see the module comment for packing, shuffling and resuming. */
export function contexts(corpus: Corpus, options: ContextOptions): ContextStream {
  return new ContextStream(corpus, options);
}
