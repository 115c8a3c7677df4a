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
