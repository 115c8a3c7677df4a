// A step progress bar on stderr: redrawn in place on a TTY, a plain line every ~10% otherwise.
export class StepProgress {
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly start = Date.now();

  constructor(
    private readonly total: number,
    private readonly first: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(step: number, info: string, force = false): void {
    const now = Date.now();
    const done = step - this.first;
    const frac = this.total > 0 ? step / this.total : 1;
    const decile = Math.floor(frac * 10);
    if (this.stream.isTTY) {
      if (!force && now - this.lastDraw < 200) return;
    } else if (!force && decile === this.lastDecile) {
      return;
    }
    this.lastDraw = now;
    this.lastDecile = decile;
    const perStep = done > 0 ? (now - this.start) / 1000 / done : 0;
    const eta = perStep * (this.total - step);
    const width = 20;
    const bar = "#".repeat(Math.round(Math.min(1, frac) * width)).padEnd(width, ".");
    const line = `step ${step}/${this.total} [${bar}] ${info} ${perStep.toFixed(2)} s/step ETA ${fmtTime(eta)}`;
    this.stream.write(this.stream.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
  }

  end(): void {
    if (this.stream.isTTY) this.stream.write("\n");
  }
}

export function fmtTime(sec: number): string {
  if (!Number.isFinite(sec) || sec <= 0) return "0s";
  // Round once, so 839.8 s reads 14m00s rather than 13m60s.
  const total = Math.round(sec);
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m > 0 ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}
