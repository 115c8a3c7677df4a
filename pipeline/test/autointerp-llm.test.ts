// The LLM labeler end to end against a local OpenAI-compatible server started here: request shape,
// retries of malformed JSON / 429 / 503 / timeouts, per-feature failures that do not stop the run,
// scores on held-out examples, provenance, caching, relabel history, heuristic ≠ done.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { LabelFailureSchema, type LabelRecord, LabelRecordSchema } from "../src/features/formats.ts";
import { MARKERS, syntheticFeatureRun } from "./helpers/feature-stats.ts";
import { type ChatRequest, type Reply, startOpenAiServer, type TestServer } from "./helpers/openai-server.ts";

const run = promisify(execFile);
const bin = join(import.meta.dirname, "..", "bin", "atlas.mjs");
const KEY = "test-key-123";
const MODEL = "gpt-4o-mini"; // the CLI default: env vars alone must suffice

const word = (i: number) => MARKERS[i]!.trim();
const calls = new Map<string, number>();
const nth = (key: string) => {
  const n = (calls.get(key) ?? 0) + 1;
  calls.set(key, n);
  return n;
};
const explanation = (i: number) =>
  JSON.stringify({ label: `the word ${word(i)}`, description: `Fires on the token "${word(i)}".`, confidence: 0.8 });

function excerpts(user: string): string[] {
  const block = user.split("Excerpts:\n")[1]!.split("\n\nGive exactly")[0]!;
  return block.split("\n").map((l) => l.replace(/^\d+\. /, ""));
}

function script(r: ChatRequest): Reply {
  const user = r.messages[1]!.content;
  const kind = r.response_format!.json_schema!.name;
  if (kind === "feature_explanation") {
    const f = Number(/Feature 0_(\d+)/.exec(user)![1]);
    const n = nth(`explain-${f}`);
    switch (f) {
      case 1:
        return n === 1 ? { kind: "json", content: "not json {" } : { kind: "json", content: explanation(f) };
      case 2:
        return n === 1 ? { kind: "status", status: 429, retryAfterMs: 5 } : { kind: "json", content: explanation(f) };
      case 3:
        return n === 1 ? { kind: "status", status: 503, retryAfterMs: 5 } : { kind: "json", content: explanation(f) };
      case 4:
        return n === 1
          ? { kind: "hang", ms: 30_000, answer: explanation(f) }
          : { kind: "json", content: explanation(f) };
      case 5:
        return { kind: "json", content: '{"label": "oops"' }; // always malformed
      default:
        return { kind: "json", content: explanation(f) };
    }
  }
  const w = /Explanation: the word (\w+)/.exec(user)![1]!;
  const items = excerpts(user);
  if (kind === "fuzzing_answers" && w === word(3)) return { kind: "json", content: '{"answers": [1]}' }; // always the wrong count
  const answers = items.map((t) => {
    if (kind === "detection_answers") return t.includes(w) ? 1 : 0;
    const marked = [...t.matchAll(/<<([^>]*)>>/g)].map((m) => m[1]!);
    return marked.length > 0 && marked.every((m) => m.includes(w)) ? 1 : 0;
  });
  return { kind: "json", content: JSON.stringify({ answers }) };
}

let server: TestServer;
let dir: string;
before(async () => {
  server = await startOpenAiServer({ model: MODEL, key: KEY, script });
  dir = syntheticFeatureRun();
});
after(async () => {
  await server.close();
});

const env = () => ({ ...process.env, OPENAI_BASE_URL: server.url, OPENAI_API_KEY: KEY, ATLAS_LLM_MODEL: "" });
const cli = (args: string[], e = env()) =>
  run(process.execPath, [bin, "label", "--clt", dir, "--quiet", ...args], {
    env: e,
    encoding: "utf8",
    timeout: 120_000,
  });
const labels = (): LabelRecord[] =>
  readFileSync(join(dir, "labels", "labels.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => LabelRecordSchema.parse(JSON.parse(l)));

test("label: heuristic labels first; they do not count as done for the LLM run", async () => {
  const r = await cli(["--offline"]);
  const s = JSON.parse(r.stdout);
  assert.equal(s.mode, "heuristic");
  assert.equal(s.labeled, MARKERS.length, "every live feature (not the dead one) gets a heuristic label");
  const h = labels();
  assert.ok(h.every((x) => x.source === "heuristic" && x.provenance.usage.calls === 0));
  assert.match(h[0]!.label, /apple/);
  assert.equal(server.requests.length, 0);
});

test("label: LLM run over env vars only — retries, per-feature failures, scores, provenance", async () => {
  const r = await cli([
    "--timeout",
    "4",
    "--retries",
    "2",
    "--concurrency",
    "3",
    "--price-in",
    "1",
    "--price-out",
    "2",
  ]);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(server.violations, []);
  assert.equal(s.mode, "llm");
  assert.equal(s.labeled, 5, "features 0–4 labeled (malformed, 429, 503 and timeout were retried)");
  assert.equal(s.failed, 1, "feature 5 reported, the run went on");
  assert.match(r.stderr, /1 features failed/);
  const llm = labels().filter((x) => x.source === "llm");
  assert.deepEqual(llm.map((x) => x.featureId).sort(), ["0_0", "0_1", "0_2", "0_3", "0_4"]);
  for (const x of llm) {
    const f = Number(x.featureId.split("_")[1]);
    assert.equal(x.label, `the word ${word(f)}`);
    assert.equal(x.confidence, 0.8);
    assert.equal(x.provenance.explainer.model, MODEL);
    assert.equal(x.provenance.explainer.endpoint, server.url);
    assert.equal(x.provenance.explainer.promptVersion, "explainer-v1");
    assert.ok(x.provenance.usage.promptTokens > 0 && x.provenance.usage.costUsd! > 0);
    assert.equal(x.supersedes, null, "the first LLM label supersedes no LLM label (heuristic history is separate)");
    const det = x.scores.find((q) => q.type === "detection")!;
    // 10 intervals × 4 held-out examples, every other one → 20 positives; 20 negatives; the scripted judge is perfect.
    assert.deepEqual(
      [det.positives, det.negatives, det.truePositives, det.trueNegatives, det.value],
      [20, 20, 20, 20, 1],
    );
    assert.ok(det.ci95[0] > 0.85 && det.ci95[0] < 1 && det.ci95[1] === 1);
    assert.equal(x.provenance.examplesShown.length, 20, "10 top + 1 per quantile interval");
    for (const q of x.scores)
      for (const id of q.exampleIds) assert.ok(!x.provenance.examplesShown.includes(id), `${id} was shown`);
    const fz = x.scores.find((q) => q.type === "fuzzing");
    if (f === 3) assert.equal(fz, undefined, "fuzzing answers of feature 3 were always malformed");
    else assert.deepEqual([fz!.value, fz!.positives, fz!.negatives], [1, 10, 10]);
  }
  const failures = readFileSync(join(dir, "labels", "failures.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => LabelFailureSchema.parse(JSON.parse(l)));
  assert.ok(failures.some((f) => f.featureId === "0_5" && f.stage === "explain" && f.attempts === 3));
  assert.ok(failures.some((f) => f.featureId === "0_3" && f.stage === "fuzzing"));
  assert.equal(calls.get("explain-1"), 2);
  assert.equal(calls.get("explain-2"), 2);
  assert.equal(calls.get("explain-3"), 2);
  assert.equal(calls.get("explain-4"), 2);
});

test("label: a rerun makes no new calls for finished features; --relabel appends with history", async () => {
  const before = server.requests.length;
  const r = JSON.parse((await cli(["--retries", "0"])).stdout);
  assert.equal(r.skipped, 5);
  assert.equal(r.labeled, 0);
  const newCalls = server.requests.slice(before).map((q) => /Feature 0_(\d+)/.exec(q.messages[1]!.content)?.[1]);
  assert.deepEqual([...new Set(newCalls)], ["5"], "only the failed feature is tried again");
  const r2 = JSON.parse((await cli(["--relabel", "--features", "0_0", "--retries", "0"])).stdout);
  assert.equal(r2.labeled, 1);
  const hist = labels().filter((x) => x.featureId === "0_0" && x.source === "llm");
  assert.equal(hist.length, 2);
  assert.equal(hist[1]!.supersedes, hist[0]!.id);
});

test("label: bad flags and unknown feature ids give one error line", async () => {
  await assert.rejects(cli(["--features", "9_9", "--offline"]), (e: { stderr: string }) => {
    assert.match(e.stderr, /^atlas: error: --features: unknown feature id "9_9"/);
    return true;
  });
  await assert.rejects(cli(["--limit", "zero"]), (e: { stderr: string }) => /^atlas: error: label: /.test(e.stderr));
});
