// Runs the plan: each stage is skipped when its key and outputs match the state file, resumed when
// an interrupted run of the same key left a checkpoint, and otherwise run fresh (its own folders
// emptied first). The state file is written atomically before and after every stage, so a kill at
// any point leaves either "running" (redo/resume) or "done" with its outputs in place.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { writeJsonAtomic } from "@circuit-atlas/util";
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

function runAtlas(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [ATLAS_BIN, ...args], { stdio: "inherit", env });
    child.on("error", fail);
    child.on("exit", (code, signal) => {
      if (code === 0) done();
      else
        fail(
          new Error(
            `atlas ${args.slice(0, 2).join(" ")} ${signal ? `was stopped (${signal})` : `exited with ${code}`}`,
          ),
        );
    });
  });
}

export interface RunBuildOptions {
  config: BuildConfig;
  context: PlanContext;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Runs every stage that is not up to date; returns per-stage actions and timings. */
export async function runBuild(o: RunBuildOptions): Promise<StageReport[]> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const paths = runPaths(o.context.out, o.context.name);
  mkdirSync(o.context.out, { recursive: true });
  const state = readState(paths.state);
  const plan = decide(planStages(o.config, o.context), state);
  const reports: StageReport[] = [];
  const t0 = Date.now();
  for (const [i, { stage, key, action }] of plan.entries()) {
    const head = `[build ${i + 1}/${plan.length} ${stage.name}] ${stage.title}`;
    if (action === "skip") {
      log(`${head}: up to date, skipped`);
      reports.push({ name: stage.name, title: stage.title, action, seconds: 0 });
      continue;
    }
    log(`${head}: ${action === "resume" ? "resuming the interrupted run" : "running"} (${elapsed(t0)} so far)`);
    const started = Date.now();
    if (action === "run") for (const dir of stage.owns) rmSync(dir, { recursive: true, force: true });
    state.stages[stage.name] = { key, status: "running", startedAt: new Date().toISOString() };
    writeJsonAtomic(paths.state, state);
    const commands =
      action === "resume" && stage.resume ? [stage.resume.command, ...stage.commands.slice(1)] : stage.commands;
    for (const p of stage.outputs) mkdirSync(dirname(p), { recursive: true });
    for (const args of commands) {
      try {
        await runAtlas(args, o.env ?? process.env);
      } catch (err) {
        throw new Error(
          `build: stage "${stage.name}" failed: ${err instanceof Error ? err.message : String(err)}; rerun to resume from this stage`,
        );
      }
    }
    const missing = stage.outputs.filter((p) => !existsSync(p));
    if (missing.length) throw new Error(`build: stage "${stage.name}" finished without ${missing.join(", ")}`);
    const seconds = (Date.now() - started) / 1000;
    state.stages[stage.name] = {
      key,
      status: "done",
      startedAt: state.stages[stage.name]!.startedAt,
      seconds,
      outputs: stamp(stage.outputs),
    };
    writeJsonAtomic(paths.state, state);
    log(`${head}: done in ${seconds.toFixed(1)} s`);
    reports.push({ name: stage.name, title: stage.title, action, seconds });
  }
  return reports;
}

/** For `--dry-run`: the actions without running anything. */
export function planActions(config: BuildConfig, context: PlanContext) {
  return decide(planStages(config, context), readState(runPaths(context.out, context.name).state));
}

function elapsed(t0: number): string {
  const s = Math.round((Date.now() - t0) / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
