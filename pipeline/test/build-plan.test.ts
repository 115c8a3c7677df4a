// `atlas build`'s plan: which stages run, resume or are skipped, from config changes, the state file
// and the outputs on disk (the end-to-end chain runs in tests/test/build.smoke.test.ts).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import {
  BuildConfig,
  buildConfigJsonSchema,
  loadBuildConfig,
  type PlanContext,
  planStages,
  runBuild,
} from "../src/build/index.ts";
import { stageKey } from "../src/build/plan.ts";
import { decide } from "../src/build/run.ts";

const dir = mkdtempSync(join(tmpdir(), "build-plan-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ctx: PlanContext = { out: join(dir, "run"), name: "t", modelDir: "/m", modelKey: "abc", llmAvailable: false };

/** A state file in which every stage finished with its outputs present, as runBuild writes it. */
function finishedState(cfg: BuildConfig) {
  const stages: Record<
    string,
    { key: string; status: "done"; startedAt: string; outputs: Record<string, { size: number; mtimeMs: number }> }
  > = {};
  const keys: Record<string, string> = {};
  for (const s of planStages(cfg, ctx)) {
    keys[s.name] = stageKey(s, keys);
    const outputs: Record<string, { size: number; mtimeMs: number }> = {};
    for (const p of s.outputs) {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, s.name);
      utimesSync(p, 1_700_000_000, 1_700_000_000);
      outputs[p] = { size: s.name.length, mtimeMs: 1_700_000_000_000 };
    }
    stages[s.name] = { key: keys[s.name]!, status: "done", startedAt: "t", outputs };
  }
  return { version: 1 as const, stages };
}
const actions = (cfg: BuildConfig, state: ReturnType<typeof finishedState>) =>
  Object.fromEntries(decide(planStages(cfg, ctx), state).map((d) => [d.stage.name, d.action]));

test("build plan: stages in order; nothing recorded → every stage runs; all done → all skipped", () => {
  const cfg = BuildConfig.parse({});
  const names = planStages(cfg, ctx).map((s) => s.name);
  assert.deepEqual(names, ["corpus", "clt", "eval", "graphs", "study", "features", "labels", "ingest"]);
  const none = decide(planStages(cfg, ctx), { version: 1, stages: {} });
  assert.ok(none.every((d) => d.action === "run"));
  const state = finishedState(cfg);
  assert.ok(Object.values(actions(cfg, state)).every((a) => a === "skip"));
  // Disabled stages leave the plan; the rest still line up with the state.
  const noStudy = BuildConfig.parse({ study: { enabled: false }, ingest: { enabled: false } });
  assert.deepEqual(
    planStages(noStudy, ctx).map((s) => s.name),
    ["corpus", "clt", "eval", "graphs", "features", "labels"],
  );
});

test("build plan: a changed setting reruns its stage and the stages that read it, nothing before", () => {
  const cfg = BuildConfig.parse({});
  const state = finishedState(cfg);
  const prompts = actions(BuildConfig.parse({ prompts: ["The war lasted from the year 1711 to 17"] }), state);
  assert.deepEqual(prompts, {
    corpus: "skip",
    clt: "skip",
    eval: "skip",
    graphs: "run",
    study: "skip",
    features: "skip",
    labels: "skip",
    ingest: "run",
  });
  const clt = actions(BuildConfig.parse({ clt: { featuresPerLayer: 256 } }), state);
  assert.equal(clt.corpus, "skip");
  for (const s of ["clt", "eval", "graphs", "study", "features", "labels", "ingest"]) assert.equal(clt[s], "run", s);
});

test("build plan: a replaced output reruns its stage and everything downstream; a checkpoint resumes", () => {
  const cfg = BuildConfig.parse({});
  const state = finishedState(cfg);
  const features = planStages(cfg, ctx).find((s) => s.name === "features")!;
  writeFileSync(features.outputs[0]!, "edited by hand");
  const a = actions(cfg, state);
  assert.equal(a.study, "skip");
  assert.equal(a.features, "run");
  assert.equal(a.labels, "run");
  assert.equal(a.ingest, "run");

  const fresh = finishedState(cfg);
  const clt = planStages(cfg, ctx).find((s) => s.name === "clt")!;
  fresh.stages.clt = { ...fresh.stages.clt!, status: "running" as "done" };
  assert.equal(actions(cfg, fresh).clt, "run", "no checkpoint: start over");
  mkdirSync(clt.resume!.marker, { recursive: true });
  const r = actions(cfg, fresh);
  assert.equal(r.clt, "resume");
  assert.equal(r.eval, "run");
  assert.equal(r.corpus, "skip");
  rmSync(clt.resume!.marker, { recursive: true });
});

test("build config: defaults, one error line naming the file and field, schema file up to date", () => {
  const d = loadBuildConfig();
  assert.equal(d.model, "demo");
  assert.equal(d.clt.featuresPerLayer, 512);
  const bad = join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ clt: { featuresPerLayer: -3 }, colour: "red" }));
  assert.throws(
    () => loadBuildConfig(bad),
    (e: Error) => {
      assert.ok(e.message.startsWith(`build config ${bad}: `));
      assert.match(e.message, /featuresPerLayer/);
      assert.match(e.message, /colour/);
      assert.ok(!e.message.includes("\n"));
      return true;
    },
  );
  writeFileSync(bad, "{ not json");
  assert.throws(() => loadBuildConfig(bad), /build config .*bad\.json: /);
  const shipped = JSON.parse(readFileSync(join(import.meta.dirname, "..", "build.schema.json"), "utf8"));
  assert.deepEqual(shipped, buildConfigJsonSchema(), "regenerate: atlas build --schema > pipeline/build.schema.json");
  // The GPT-2 Small experiment config at the repo root validates.
  const gpt2 = loadBuildConfig(join(import.meta.dirname, "..", "..", "atlas.gpt2-small.json"));
  assert.equal(gpt2.clt.featuresPerLayer, 49_152);
});

test("build runner: stages start once their inputs are done, two at a time, longest first; a failure lets the running stage finish and starts nothing new", async () => {
  const cfg = BuildConfig.parse({});
  const run = { ...ctx, out: join(dir, "sched") };
  const stages = planStages(cfg, run);
  const byArgs = new Map(stages.flatMap((s) => s.commands.map((c) => [JSON.stringify(c), s] as const)));
  // Study is estimated longest, then eval: both must start before graphs and features.
  const estimates = { corpus: 1, clt: 10, eval: 8, graphs: 3, study: 9, features: 2, labels: 1, ingest: 1 };
  const events: { stage: string; at: "start" | "end"; threads?: string }[] = [];
  let live = 0;
  let maxLive = 0;
  const exec = (fail?: string) => async (args: string[], env: NodeJS.ProcessEnv) => {
    const stage = byArgs.get(JSON.stringify(args));
    assert.ok(stage, `unplanned command ${args.join(" ")}`);
    events.push({ stage: stage.name, at: "start", threads: env.OPENBLAS_NUM_THREADS });
    if (stage.name === fail) {
      // At once, while the stage started beside it is still running.
      events.push({ stage: stage.name, at: "end" });
      throw new Error("boom");
    }
    live++;
    maxLive = Math.max(maxLive, live);
    await new Promise((r) => setTimeout(r, 5 * (estimates[stage.name as keyof typeof estimates] ?? 1)));
    live--;
    for (const p of stage.outputs) {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, stage.name);
    }
    events.push({ stage: stage.name, at: "end" });
  };
  const quiet = { start() {}, info() {}, finish() {}, log() {}, stop() {} };
  const env = { ...process.env, OPENBLAS_NUM_THREADS: undefined };
  const reports = await runBuild({ config: cfg, context: run, board: quiet, estimates, exec: exec(), env });
  assert.deepEqual(
    reports.map((r) => [r.name, r.action]),
    stages.map((s) => [s.name, "run"]),
  );
  const at = (name: string, kind: "start" | "end") => events.findIndex((e) => e.stage === name && e.at === kind);
  for (const s of stages)
    for (const d of s.after) assert.ok(at(d, "end") < at(s.name, "start"), `${s.name} before ${d}`);
  assert.equal(maxLive, 2);
  const afterClt = events.filter((e) => e.at === "start" && ["eval", "graphs", "study", "features"].includes(e.stage));
  assert.deepEqual(
    afterClt.slice(0, 2).map((e) => e.stage),
    ["study", "eval"],
  );
  // Stages sharing the cores get one BLAS thread each; the CLT, alone, keeps the default.
  assert.equal(events.find((e) => e.stage === "study")?.threads, "1");
  assert.equal(events.find((e) => e.stage === "clt")?.threads, undefined);
  // Everything up to date now: nothing runs.
  events.length = 0;
  const again = await runBuild({ config: cfg, context: run, board: quiet, estimates, exec: exec(), env });
  assert.ok(again.every((r) => r.action === "skip"));
  assert.equal(events.length, 0);

  // A failing stage: the one running beside it completes and is recorded as done; nothing starts after.
  const run2 = { ...ctx, out: join(dir, "sched-fail") };
  const stages2 = planStages(cfg, run2);
  byArgs.clear();
  for (const s of stages2) for (const c of s.commands) byArgs.set(JSON.stringify(c), s);
  events.length = 0;
  await assert.rejects(
    runBuild({ config: cfg, context: run2, board: quiet, estimates, exec: exec("eval"), env }),
    /stage "eval" failed: boom\nrerun to resume/,
  );
  assert.ok(at("study", "end") > at("eval", "end"), "study, running beside eval, finished");
  for (const never of ["labels", "ingest"]) assert.equal(at(never, "start"), -1, `${never} did not start`);
  const state = JSON.parse(readFileSync(join(run2.out, "build-state.json"), "utf8"));
  assert.equal(state.stages.study.status, "done");
  assert.equal(state.stages.eval.status, "running");
  const rerun = Object.fromEntries(decide(stages2, state).map((d) => [d.stage.name, d.action]));
  assert.equal(rerun.study, "skip");
  assert.equal(rerun.eval, "run");
});
