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

export interface StageBoardOptions {
  /** The stages in display order, with what the user reads for each. */
  stages: readonly { name: string; title: string }[];
  /** Default process.stderr; null (or `quiet`) draws nothing. */
  stream?: NodeJS.WriteStream | null;
  quiet?: boolean;
}

/** One display for work made of stages that may run side by side (`atlas build`). */
export interface StageBoard {
  start(name: string, note?: string): void;
  /** The latest line a running stage printed (its own progress line), shown next to it. */
  info(name: string, line: string): void;
  finish(name: string, outcome: "done" | "skipped" | "failed", seconds?: number): void;
  /** A message line above the board (or a plain line without a terminal). */
  log(line: string): void;
  stop(): void;
}

type BoardState = "waiting" | "running" | "done" | "skipped" | "failed";
const MARK: Record<BoardState, string> = { waiting: "·", running: ">", done: "✓", skipped: "=", failed: "✗" };

/**
 * On a terminal: one line per stage redrawn in place (cli-progress's MultiBar), with the running
 * stages' elapsed time and latest progress line. Otherwise: whole lines at each start and finish, and
 * the stages' own progress lines prefixed with the stage name, so a log reads in order.
 */
export function createStageBoard(opts: StageBoardOptions): StageBoard {
  const stream = opts.quiet ? null : opts.stream === undefined ? process.stderr : opts.stream;
  if (!stream) return { start() {}, info() {}, finish() {}, log() {}, stop() {} };
  const t0 = Date.now();
  const width = Math.max(...opts.stages.map((s) => s.name.length));
  const rows = new Map(
    opts.stages.map((s) => [
      s.name,
      {
        title: s.title,
        state: "waiting" as BoardState,
        started: 0,
        seconds: undefined as number | undefined,
        info: "",
      },
    ]),
  );
  const row = (name: string) => {
    const r = rows.get(name);
    if (!r) throw new Error(`stage board: unknown stage ${name}`);
    return r;
  };
  const clock = () => formatDuration((Date.now() - t0) / 1000);

  if (!stream.isTTY) {
    const say = (l: string) => stream.write(`${l}\n`);
    return {
      start(name, note) {
        say(`[build ${clock()}] ${name}: ${row(name).title}${note ? ` (${note})` : ""}`);
      },
      info(name, line) {
        say(`  ${name.padEnd(width)} | ${line}`);
      },
      finish(name, outcome, seconds) {
        row(name); // an unknown stage is a bug either way
        const t = seconds === undefined ? "" : ` in ${formatDuration(seconds)}`;
        say(`[build ${clock()}] ${name}: ${outcome === "skipped" ? "up to date, skipped" : `${outcome}${t}`}`);
      },
      log: say,
      stop() {},
    };
  }

  const cols = () => (stream.columns || 100) - 1;
  const multi = new cliProgress.MultiBar({
    stream,
    hideCursor: false,
    linewrap: false,
    clearOnComplete: false,
    gracefulExit: true,
    format: (_o: unknown, _p: unknown, payload: { name: string }) => {
      const r = row(payload.name);
      const t =
        r.state === "running"
          ? formatDuration((Date.now() - r.started) / 1000)
          : r.seconds !== undefined
            ? formatDuration(r.seconds)
            : "";
      const line = `${MARK[r.state]} ${payload.name.padEnd(width)} ${t.padStart(6)}  ${r.title}${r.info ? ` | ${r.info}` : ""}`;
      return line.length > cols() ? `${line.slice(0, cols() - 1)}…` : line;
    },
  });
  multi.create(1, 0, { name: "" }, { format: () => `${clock()} elapsed` });
  const bars = opts.stages.map((s) => multi.create(1, 0, { name: s.name }));
  // Redraw at least once a second so the running stages' clocks move without new output.
  const tick = setInterval(() => multi.update(), 1000);
  tick.unref();
  return {
    start(name, note) {
      const r = row(name);
      r.state = "running";
      r.started = Date.now();
      r.info = note ?? "";
    },
    info(name, line) {
      row(name).info = line;
    },
    finish(name, outcome, seconds) {
      const r = row(name);
      r.state = outcome;
      r.seconds = seconds;
      r.info = "";
      bars[opts.stages.findIndex((s) => s.name === name)]?.update(1);
    },
    log(line) {
      multi.log(`${line}\n`);
    },
    stop() {
      clearInterval(tick);
      multi.update();
      multi.stop();
    },
  };
}
