// The one progress reporter for long work (training, evaluation, downloads, ingest, labeling):
// cli-progress redraws one line in place on a terminal; when stderr is not a terminal (CI, a log
// file, a pipe) it prints whole lines, one every `everyMs`, so lines never run together.
import cliProgress from "cli-progress";

export interface ProgressOptions {
  /** What is being done, the line's first word(s), e.g. "train", "eval", "gpt2/model.safetensors". */
  label: string;
  /** Units of work in all (steps, tokens, bytes). */
  total: number;
  /** Work already done (a resumed run). */
  start?: number;
  /** "bytes" shows sizes as MB; anything else is shown after the counts (e.g. "steps", "tokens"). */
  unit?: string;
  /** Where to draw; null (or `quiet`) draws nothing. Default process.stderr. */
  stream?: NodeJS.WriteStream | null;
  quiet?: boolean;
  /** Without a terminal: at most one line per this many ms (default 10 s), plus the last. */
  everyMs?: number;
}

export interface Progress {
  /** Sets the work done; `info` is free text after the counts (loss, tok/s). */
  update(done: number, info?: string): void;
  increment(by?: number, info?: string): void;
  /** A message line above the bar (or a plain line without a terminal). */
  log(line: string): void;
  /** Draws the final state and ends the line. */
  stop(): void;
}

const SILENT: Progress = { update() {}, increment() {}, log() {}, stop() {} };

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.quiet ? null : opts.stream === undefined ? process.stderr : opts.stream;
  if (!stream) return SILENT;
  const bytes = opts.unit === "bytes";
  const unit = bytes || !opts.unit ? "" : ` ${opts.unit}`;
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${opts.label} [{bar}] {value}/{total}${unit} {percentage}% {info} ETA {eta_formatted}`,
    barsize: 20,
    barCompleteChar: "#",
    barIncompleteChar: ".",
    hideCursor: false,
    noTTYOutput: true,
    notTTYSchedule: opts.everyMs ?? 10_000,
    etaBuffer: 50,
    etaAsynchronousUpdate: true,
    formatValue: (v: number, _o: unknown, type: string) =>
      bytes && (type === "value" || type === "total") ? `${(v / 1e6).toFixed(1)} MB` : String(v),
  });
  let info = "";
  let running = true;
  bar.start(opts.total, opts.start ?? 0, { info });
  const tty = Boolean(stream.isTTY);
  return {
    update(done, next) {
      if (next !== undefined) info = next;
      bar.update(done, { info });
    },
    increment(by = 1, next) {
      if (next !== undefined) info = next;
      bar.increment(by, { info });
    },
    log(line) {
      if (tty && running) {
        stream.write(`\r\x1b[K${line}\n`);
        bar.render();
      } else stream.write(`${line}\n`);
    },
    stop() {
      if (!running) return;
      running = false;
      bar.stop();
    },
  };
}

/** A timestamped message log for work made of stages (`[12.3s] message`), silent when quiet. */
export function stageLog(opts: { quiet?: boolean; stream?: NodeJS.WritableStream } = {}): (message: string) => void {
  const t0 = performance.now();
  const stream = opts.stream ?? process.stderr;
  return (message) => {
    if (!opts.quiet) stream.write(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${message}\n`);
  };
}

/** Seconds as `14m00s` / `9s`. */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec <= 0) return "0s";
  // Round once, so 839.8 s reads 14m00s rather than 13m60s.
  const total = Math.round(sec);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m > 0 ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}
