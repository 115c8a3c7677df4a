// Runs the plan: each stage is skipped when its key and outputs match the state file, resumed when
// an interrupted run of the same key left a checkpoint, and otherwise run fresh (its own folders
// emptied first). The state file is written atomically before and after every stage, so a kill at
// any point leaves either "running" (redo/resume) or "done" with its outputs in place.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createStageBoard, type StageBoard, writeJsonAtomic } from "@circuit-atlas/util";
import { z } from "zod";
import type { BuildConfig } from "./config.ts";
import { type PlanContext, planStages, runPaths, type Stage, stageKey } from "./plan.ts";

const ATLAS_BIN = fileURLToPath(new URL("../../bin/atlas.mjs", import.meta.url));

const StageState = z.object({
  key: z.string(),
  status: z.enum(["running", "done"]),
  startedAt: z.string(),
  seconds: z.number().optional(),
  outputs: z.record(z.string(), z.object({ size: z.number(), mtimeMs: z.number() })).optional(),
});
const BuildState = z.object({ version: z.literal(1), stages: z.record(z.string(), StageState) });
type BuildState = z.infer<typeof BuildState>;

export type StageAction = "skip" | "resume" | "run";

export interface StageReport {
  name: string;
  title: string;
  action: StageAction;
  seconds: number;
}

function readState(path: string): BuildState {
  if (!existsSync(path)) return { version: 1, stages: {} };
  const r = BuildState.safeParse(JSON.parse(readFileSync(path, "utf8")));
  // A state file from another version is not trusted: every stage reruns (outputs are rebuilt).
  return r.success ? r.data : { version: 1, stages: {} };
}

function stamp(paths: string[]): Record<string, { size: number; mtimeMs: number }> {
  return Object.fromEntries(
    paths.map((p) => {
      const s = statSync(p);
      return [p, { size: s.size, mtimeMs: s.mtimeMs }];
    }),
  );
}

function outputsIntact(stage: Stage, rec: z.infer<typeof StageState>): boolean {
  return stage.outputs.every((p) => {
    const want = rec.outputs?.[p];
    if (!want || !existsSync(p)) return false;
    const s = statSync(p);
    return s.size === want.size && s.mtimeMs === want.mtimeMs;
  });
}

/** What the runner would do with each stage now (also what `--dry-run` prints). */
export function decide(stages: Stage[], state: BuildState): { stage: Stage; key: string; action: StageAction }[] {
  const keys: Record<string, string> = {};
  // A stage whose input stage reruns reruns too, even with an unchanged key: its outputs were made
  // from files that are being replaced.
  const rerun = new Set<string>();
  return stages.map((stage) => {
    const key = stageKey(stage, keys);
    keys[stage.name] = key;
    const rec = state.stages[stage.name];
    const inputsRerun = stage.after.some((d) => rerun.has(d));
    let action: StageAction = "run";
    if (!inputsRerun && rec?.key === key && rec.status === "done" && outputsIntact(stage, rec)) action = "skip";
    else if (
      !inputsRerun &&
      rec?.key === key &&
      rec.status === "running" &&
      stage.resume &&
      existsSync(stage.resume.marker)
    )
      action = "resume";
    if (action !== "skip") rerun.add(stage.name);
    return { stage, key, action };
  });
}

/** Runs one `atlas` command; its output goes to `logPath` and its lines to `onLine`. */
function runAtlas(
  args: string[],
  env: NodeJS.ProcessEnv,
  logPath: string,
  onLine: (line: string) => void,
): Promise<void> {
  return new Promise((done, fail) => {
    const logFile = createWriteStream(logPath, { flags: "a" });
    logFile.write(`$ atlas ${args.join(" ")}\n`);
    const child = spawn(process.execPath, [ATLAS_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
    for (const out of [child.stdout, child.stderr]) {
      let rest = "";
      out.on("data", (chunk: Buffer) => {
        logFile.write(chunk);
        // Progress bars end lines with \r on a terminal and \n otherwise: either ends a line here.
        const parts = (rest + chunk.toString("utf8")).split(/\r\n|\r|\n/);
        rest = parts.pop() ?? "";
        for (const l of parts) if (l.trim()) onLine(l.trimEnd());
      });
    }
    child.on("error", (err) => {
      logFile.end();
      fail(err);
    });
    child.on("close", (code, signal) => {
      logFile.end(() => {
        if (code === 0) return done();
        const tail = readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-12).join("\n");
        fail(
          new Error(
            `atlas ${args.slice(0, 2).join(" ")} ${signal ? `was stopped (${signal})` : `exited with ${code}`}; the end of ${logPath}:\n${tail}`,
          ),
        );
      });
    });
  });
}

export interface RunBuildOptions {
  config: BuildConfig;
  context: PlanContext;
  /** The display; default: a board on stderr (redrawn on a terminal, whole lines otherwise). */
  board?: StageBoard;
  env?: NodeJS.ProcessEnv;
  /** Stages run side by side once their inputs are ready (default: the config's `parallelStages`). */
  concurrency?: number;
  /** Estimated seconds per stage: among ready stages, the longest starts first. */
  estimates?: Record<string, number>;
  /** Runs one command (default: the `atlas` CLI in a child process); tests put a recorder here. */
  exec?: typeof runAtlas;
}

/**
 * Runs every stage that is not up to date, each as soon as the stages it reads are done and a slot
 * is free; returns per-stage actions and timings. A failed stage lets the stages already running
 * finish (their results are kept for the rerun) and starts no new one.
 */
export async function runBuild(o: RunBuildOptions): Promise<StageReport[]> {
  const paths = runPaths(o.context.out, o.context.name);
  mkdirSync(paths.logs, { recursive: true });
  const state = readState(paths.state);
  const plan = decide(planStages(o.config, o.context), state);
  const board = o.board ?? createStageBoard({ stages: plan.map(({ stage }) => stage) });
  const concurrency = Math.max(1, o.concurrency ?? o.config.parallelStages);
  const est = o.estimates ?? {};
  const env = o.env ?? process.env;
  const exec = o.exec ?? runAtlas;
  const reports = new Map<string, StageReport>();
  const finished = new Set<string>();
  const inPlan = new Set(plan.map(({ stage }) => stage.name));
  const running = new Map<string, Promise<void>>();
  let failure: Error | undefined;

  for (const { stage, action } of plan) {
    if (action !== "skip") continue;
    board.finish(stage.name, "skipped");
    reports.set(stage.name, { name: stage.name, title: stage.title, action, seconds: 0 });
    finished.add(stage.name);
  }

  const runStage = async (stage: Stage, key: string, action: StageAction, threads?: string) => {
    const started = Date.now();
    board.start(stage.name, action === "resume" ? "resuming the interrupted run" : undefined);
    if (action === "run") for (const dir of stage.owns) rmSync(dir, { recursive: true, force: true });
    state.stages[stage.name] = { key, status: "running", startedAt: new Date().toISOString() };
    writeJsonAtomic(paths.state, state);
    const commands =
      action === "resume" && stage.resume ? [stage.resume.command, ...stage.commands.slice(1)] : stage.commands;
    for (const p of stage.outputs) mkdirSync(dirname(p), { recursive: true });
    const logPath = join(paths.logs, `${stage.name}.log`);
    writeFileSync(logPath, "");
    const childEnv = threads ? { ...env, OPENBLAS_NUM_THREADS: threads } : env;
    for (const args of commands) {
      await exec(args, childEnv, logPath, (line) => board.info(stage.name, line));
    }
    const missing = stage.outputs.filter((p) => !existsSync(p));
    if (missing.length) throw new Error(`finished without ${missing.join(", ")}`);
    const seconds = (Date.now() - started) / 1000;
    state.stages[stage.name] = {
      key,
      status: "done",
      startedAt: state.stages[stage.name]!.startedAt,
      seconds,
      outputs: stamp(stage.outputs),
    };
    writeJsonAtomic(paths.state, state);
    board.finish(stage.name, "done", seconds);
    reports.set(stage.name, { name: stage.name, title: stage.title, action, seconds });
  };

  try {
    for (;;) {
      const ready = failure
        ? []
        : plan
            .filter(
              ({ stage }) =>
                !finished.has(stage.name) &&
                !running.has(stage.name) &&
                stage.after.every((d) => finished.has(d) || !inPlan.has(d)),
            )
            .sort((a, b) => (est[b.stage.name] ?? 0) - (est[a.stage.name] ?? 0));
      while (ready.length > 0 && running.size < concurrency) {
        const { stage, key, action } = ready.shift()!;
        // Two stages at once on few cores: one BLAS thread each instead of two spinning pairs.
        const shared = concurrency > 1 && running.size + ready.length > 0 && !env.OPENBLAS_NUM_THREADS;
        const p = runStage(stage, key, action, shared ? "1" : undefined)
          .catch((err: unknown) => {
            board.finish(stage.name, "failed");
            failure ??= new Error(
              `build: stage "${stage.name}" failed: ${err instanceof Error ? err.message : String(err)}\nrerun to resume from this stage`,
            );
          })
          .finally(() => {
            running.delete(stage.name);
            finished.add(stage.name);
          });
        running.set(stage.name, p);
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
  } finally {
    board.stop();
  }
  if (failure) throw failure;
  // In plan order, whatever order they finished in.
  return plan.map(({ stage }) => reports.get(stage.name)!);
}

/** For `--dry-run`: the actions without running anything. */
export function planActions(config: BuildConfig, context: PlanContext) {
  return decide(planStages(config, context), readState(runPaths(context.out, context.name).state));
}
