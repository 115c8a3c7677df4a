// Issue #9 end to end through the `atlas` CLI on the shipped demo model and CLT: run folders are owned,
// multi-file outputs are whole under kill -9, and every error a user can cause is one sentence that
// names the culprit and writes nothing.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, describe, test } from "node:test";
import { acquireLock, Rng } from "@circuit-atlas/util";
import { parseCircuitTracerJson, readGraphBinary } from "../src/graph/index.ts";
import { readSafetensors, writeSafetensors } from "../src/safetensors/index.ts";
import { BOS_ID, decodeToken, encode, encodeWithBos, UNK_ID } from "../src/tokenizer/index.ts";

const root = mkdtempSync(join(tmpdir(), "nothing-lost-"));
after(() => rmSync(root, { recursive: true, force: true }));
const bin = join(import.meta.dirname, "..", "bin", "atlas.mjs");
const assets = join(import.meta.dirname, "..", "assets");
const demoClt = join(assets, "demo-clt");
const demoModel = join(assets, "demo-model");

function atlas(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under `dir` (relative path → sha256), hidden ones included. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/**
 * The error line of a failed run: exit 1, exactly one line on stderr matching `re` (besides the
 * "backend: …" line `atlas logits` prints before any work).
 */
function oneLineError(r: { code: number; stderr: string; stdout: string }, re: RegExp): void {
  assert.equal(r.code, 1, `expected a failure, got ${r.code}: ${r.stderr}`);
  const lines = r.stderr
    .trimEnd()
    .split("\n")
    .filter((l) => !/^backend: /.test(l));
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^atlas: error: /);
  assert.match(lines[0]!, re);
  assert.equal(r.stdout, "");
}

// A small training corpus for the demo model (written once).
const corpusDir = join(root, "corpus");
const corpus = join(corpusDir, "train.jsonl");
test("setup: a demo corpus", () => {
  const r = atlas("corpus", "demo", "--out", corpusDir, "--tokens", "60000");
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(corpus));
});

const trainArgs = (out: string, ...more: string[]) => [
  "clt",
  "train",
  "--out",
  out,
  "--model",
  demoModel,
  "--corpus",
  corpus,
  "--features-per-layer",
  "32",
  "--tokens",
  "20480",
  "--batch-tokens",
  "1024",
  "--buffer-tokens",
  "4096",
  "--quiet",
  ...more,
];

describe("run folders are owned", () => {
  test("train into an existing CLT folder is refused and leaves it byte-identical", () => {
    const run = join(root, "existing-clt");
    cpSync(demoClt, run, { recursive: true });
    const before = snapshot(run);
    const r = atlas(...trainArgs(run));
    oneLineError(r, new RegExp(`${run} already holds a CLT \\(clt\\.safetensors\\); pass --force to replace it`));
    assert.deepEqual(snapshot(run), before);
  });

  test("two concurrent trains into one folder: one is refused naming the owner's pid, the other's outputs are intact", async () => {
    const run = join(root, "concurrent");
    const start = (): Promise<{ code: number | null; stderr: string; pid: number }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [bin, ...trainArgs(run)], { stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d) => {
          stderr += d;
        });
        child.on("exit", (code) => resolve({ code, stderr, pid: child.pid! }));
      });
    const [a, b] = await Promise.all([start(), start()]);
    const ok = [a, b].filter((x) => x.code === 0);
    const refused = [a, b].filter((x) => x.code !== 0);
    assert.equal(ok.length, 1, `exactly one run succeeds: ${a.stderr} | ${b.stderr}`);
    assert.equal(refused.length, 1);
    const winner = ok[0]!;
    const loser = refused[0]!;
    // The loser is refused either by the lock (while the winner runs) or, if it came second, by the result.
    assert.match(
      loser.stderr.trim(),
      new RegExp(
        `^atlas: error: (${run} is in use by pid ${winner.pid} \\(atlas clt train, since [^)]+\\); wait for it to finish or stop it.*|${run} already holds a CLT .*)$`,
      ),
    );
    assert.ok(existsSync(join(run, "clt.safetensors")));
    readSafetensors(join(run, "clt.safetensors"));
    const steps = readFileSync(join(run, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { step: number }).step);
    assert.deepEqual(
      steps,
      [...steps].sort((x, y) => x - y),
      "metrics of one run, in order",
    );
    assert.equal(new Set(steps).size, steps.length, "no step twice (no interleaved runs)");
    assert.equal(steps.at(-1), 20);
    assert.deepEqual(
      readdirSync(run).filter((n) => n.startsWith(".")),
      [],
      "no lock, temp or journal left",
    );
  });
});

describe("adders own their own output folder, not the CLT folder", () => {
  test("atlas features / atlas label are refused while another writer holds features/ or labels/; nothing is written", async () => {
    const run = join(root, "adders");
    cpSync(demoClt, run, { recursive: true });
    for (const [sub, args, what] of [
      [
        "features",
        ["features", "--clt", run, "--model", demoModel, "--corpus", corpus, "--tokens", "2000", "--quiet"],
        "atlas features",
      ],
      ["labels", ["label", "--clt", run, "--offline", "--quiet"], "atlas label"],
    ] as const) {
      const release = await acquireLock(join(run, sub), {
        lockPath: join(run, sub, ".lock"),
        what: `test holding ${sub}`,
      });
      try {
        const before = snapshot(run);
        const r = atlas(...args);
        oneLineError(
          r,
          new RegExp(
            `${join(run, sub)} is in use by pid ${process.pid} \\(test holding ${sub}, since [^)]+\\); wait for it`,
          ),
        );
        assert.deepEqual(snapshot(run), before, `${what} wrote nothing`);
      } finally {
        release();
      }
    }
    // The CLT folder itself is not taken: features run while another process holds labels/.
    const release = await acquireLock(join(run, "labels"), { lockPath: join(run, "labels", ".lock"), what: "test" });
    try {
      const r = atlas(
        "features",
        "--clt",
        run,
        "--model",
        demoModel,
        "--corpus",
        corpus,
        "--tokens",
        "2000",
        "--quiet",
      );
      assert.equal(r.code, 0, r.stderr);
    } finally {
      release();
    }
  });
});

describe("trace publishes its files as one unit", () => {
  test("kill -9 at random points (24 trials) never pairs a JSON with another run's side file; the next run cleans up", async () => {
    const dir = join(root, "kill");
    mkdirSync(dir);
    const out = join(dir, "g.json");
    const side = join(dir, "g.graph.safetensors");
    const prompts = ["The war lasted from the year 1711 to 17", "The siege lasted from the year 1642 to 16"];
    const run = (k: number) =>
      spawn(
        process.execPath,
        [
          bin,
          "trace",
          "--clt",
          demoClt,
          "--prompt",
          prompts[k % 2]!,
          "--out",
          out,
          "--force",
          "--quiet",
          "--max-feature-nodes",
          "200",
        ],
        {
          stdio: "ignore",
        },
      );
    const exited = (c: ChildProcess) => new Promise<void>((r) => c.once("exit", () => r()));
    // One full run first: how long a trace takes here.
    const t0 = Date.now();
    const first = run(0);
    await exited(first);
    const full = Date.now() - t0;
    assert.ok(existsSync(out) && existsSync(side));
    const rng = new Rng(9);
    const consistent = (where: string) => {
      if (!existsSync(out)) return;
      const json = parseCircuitTracerJson(readFileSync(out, "utf8"), out);
      const bin = readGraphBinary(side);
      assert.equal(json.metadata.prompt, bin.graph.prompt, `${where}: JSON and side file of different runs`);
    };
    let killedMidway = 0;
    for (let k = 1; k <= 24; k++) {
      const c = run(k);
      const delay = Math.floor(rng.next() * full * 1.1);
      const done = await Promise.race([
        exited(c).then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), delay)),
      ]);
      if (!done) {
        c.kill("SIGKILL");
        await exited(c);
        killedMidway++;
      }
      // Raw files on disk: without a pending journal they must match; with one, a reader completes it.
      if (!existsSync(join(dir, ".g.json.publish"))) consistent(`trial ${k} (raw)`);
      const { recoverUnit } = await import("@circuit-atlas/util");
      recoverUnit(out, [out, side, join(dir, "g.validation.json")]);
      consistent(`trial ${k} (after recovery)`);
    }
    assert.ok(killedMidway >= 12, `most trials were killed mid-run (${killedMidway})`);
    const last = run(1);
    await exited(last);
    consistent("after the next run");
    assert.deepEqual(readdirSync(dir).sort(), ["g.graph.safetensors", "g.json"], "no temp, lock or journal left");
  });
});

describe("each error a user can cause is one sentence and writes nothing", () => {
  test("item 4: invalid UTF-8 in a corpus names the file, byte and line; no --out folder is created", () => {
    const bad = join(root, "binary.txt");
    writeFileSync(bad, Buffer.concat([Buffer.from("good text\nmore text\n"), Buffer.from([0x41, 0xff, 0xfe, 0x00])]));
    const out = join(root, "utf8-run");
    const r = atlas(...trainArgs(out).map((a) => (a === corpus ? bad : a)));
    oneLineError(r, new RegExp(`${bad}: invalid UTF-8 at byte 21 \\(line 3\\); a corpus must be UTF-8 text`));
    assert.equal(existsSync(out), false);
  });

  // The shipped demo model may or may not have an `<unk>` row (it gains one when it is retrained), so
  // both cases run on copies of it whose vocab_map.json says which: with `<unk>`, a GPT-2 id the compact
  // vocabulary lacks reads as `<unk>`; without, the prompt is refused naming the token.
  const quasar = "The quasar lasted";
  function demoModelCopy(name: string, withUnk: boolean): { dir: string; missing: number; vocab: number[] } {
    const dir = join(root, name);
    cpSync(demoModel, dir, { recursive: true });
    const mapPath = join(dir, "vocab_map.json");
    const vocab = JSON.parse(readFileSync(mapPath, "utf8")) as number[];
    const prompt = encode(quasar);
    const inVocab = new Set(vocab);
    const missing = prompt.find((g) => !inVocab.has(g));
    assert.ok(missing !== undefined, `every token of "${quasar}" is in the demo vocabulary: pick another prompt`);
    const u = vocab.indexOf(UNK_ID);
    if (withUnk && u < 0) {
      // Re-purpose the row of the largest GPT-2 id that the prompt does not use (BOS stays).
      const row = vocab.reduce(
        (best, g, i) => (g !== BOS_ID && !prompt.includes(g) && (best < 0 || g > vocab[best]!) ? i : best),
        -1,
      );
      vocab[row] = UNK_ID;
    } else if (!withUnk && u >= 0) {
      // Give the `<unk>` row a real GPT-2 id that neither the vocabulary nor the prompt has.
      let g = BOS_ID - 1;
      while (inVocab.has(g) || prompt.includes(g)) g--;
      vocab[u] = g;
    }
    writeFileSync(mapPath, JSON.stringify(vocab));
    return { dir, missing, vocab };
  }

  test("item 4: a prompt token the compact vocabulary lacks (no <unk> row) is named; nothing is written", () => {
    const { dir: model, missing } = demoModelCopy("model-no-unk", false);
    const dir = join(root, "vocab");
    mkdirSync(dir);
    const r = atlas(
      "trace",
      "--clt",
      demoClt,
      "--model",
      model,
      "--prompt",
      quasar,
      "--out",
      join(dir, "q.json"),
      "--quiet",
    );
    const token = JSON.stringify(decodeToken(missing)).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    oneLineError(
      r,
      new RegExp(
        `trace: --prompt: the token ${token} \\(GPT-2 id ${missing}\\) is not in the model's compact vocabulary \\(\\d+ tokens, no <unk> row\\)`,
      ),
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  test("item 4: with an <unk> row the same prompt is not refused: the token reads as <unk>", () => {
    const { dir: model, missing, vocab } = demoModelCopy("model-unk", true);
    const table = atlas("logits", "--model", model, "--prompt", quasar, "--top", "1");
    assert.equal(table.code, 0, table.stderr);
    assert.ok(
      table.stdout.includes(`${JSON.stringify(decodeToken(missing))}→<unk>`),
      `expected the missing token shown as read by <unk>:\n${table.stdout}`,
    );
    const out = join(root, "vocab-unk", "q.json");
    mkdirSync(join(root, "vocab-unk"));
    const r = atlas(
      "trace",
      "--clt",
      demoClt,
      "--model",
      model,
      "--prompt",
      quasar,
      "--out",
      out,
      "--quiet",
      "--max-feature-nodes",
      "200",
    );
    assert.equal(r.code, 0, r.stderr);
    const g = parseCircuitTracerJson(readFileSync(out, "utf8"), out);
    assert.equal(g.metadata.prompt, quasar);
    // The graph shows the tokens as the model read them: those it lacks as <unk>, the others as themselves.
    const want = encodeWithBos(quasar).map((t) => decodeToken(vocab.includes(t) ? t : UNK_ID));
    assert.deepEqual(g.metadata.prompt_tokens, want);
    assert.ok(want.includes("<unk>"));
  });

  test("item 5: an impossible size gets a memory estimate before any allocation; no folder", () => {
    const out = join(root, "huge");
    const r = atlas(...trainArgs(out).map((a) => (a === "32" ? "100000000" : a)));
    oneLineError(
      r,
      /--features-per-layer 100000000 needs about \d+ GiB for training a 4-layer, d=128 CLT .*more than this machine's .* GiB/,
    );
    assert.equal(existsSync(out), false);
  });

  test("item 5: a truncated checkpoint state.json is named; the run folder is unchanged", () => {
    const run = join(root, "truncated");
    const r1 = atlas(...trainArgs(run, "--checkpoint-every", "5").map((a) => (a === "20480" ? "10240" : a)));
    assert.equal(r1.code, 0, r1.stderr);
    const state = join(run, "checkpoint", "state.json");
    const text = readFileSync(state, "utf8");
    writeFileSync(state, text.slice(0, text.length >> 1));
    const before = snapshot(run);
    const r = atlas(...trainArgs(run, "--resume").map((a) => (a === "20480" ? "10240" : a)));
    oneLineError(r, new RegExp(`cannot resume: checkpoint file ${state} is damaged \\(.*\\); start over with --force`));
    assert.deepEqual(snapshot(run), before);
  });

  test("item 5: trace --out naming a folder, clt train --out naming a file: refused before any work", () => {
    const folder = join(root, "a-folder.json");
    mkdirSync(folder);
    oneLineError(
      atlas("trace", "--clt", demoClt, "--prompt", "The war lasted", "--out", folder, "--quiet"),
      new RegExp(`cannot write ${folder}: it is a folder; name a file`),
    );
    assert.deepEqual(readdirSync(folder), []);
    const file = join(root, "a-file");
    writeFileSync(file, "x");
    oneLineError(atlas(...trainArgs(file)), new RegExp(`--out ${file} is a file; it must name a folder`));
    assert.equal(readFileSync(file, "utf8"), "x");
  });

  test("item 5: lm train --heads 3 fails before writing its corpus", () => {
    const out = join(root, "lm-heads");
    oneLineError(
      atlas("lm", "train", "--out", out, "--heads", "3", "--quiet"),
      /--d-model 128 is not divisible by --heads 3/,
    );
    assert.equal(existsSync(out), false);
  });

  test("item 6: corpus demo --tokens 1000000000000 is refused with a size estimate", () => {
    const out = join(root, "big-corpus");
    oneLineError(
      atlas("corpus", "demo", "--out", out, "--tokens", "1000000000000"),
      /--tokens 1000000000000 needs about 5\.5 TiB on disk for .*train\.jsonl, but only .* is free; ask for at most \d+ tokens/,
    );
    assert.equal(existsSync(out), false);
  });

  test("item 7: NaN logits are an error, not a table", () => {
    const model = join(root, "nan-model");
    cpSync(demoModel, model, { recursive: true });
    const st = readSafetensors(join(model, "model.safetensors"));
    const tensors = new Map(
      [...st.tensors].map(([name, t]) => {
        const data = Float32Array.from(t.data as Float32Array);
        if (name.endsWith("ln_f.weight")) data[3] = Number.NaN;
        return [name, { dtype: "F32" as const, shape: t.shape, data }];
      }),
    );
    writeSafetensors(join(model, "model.safetensors"), tensors, st.metadata);
    const r = atlas("logits", "--model", model, "--prompt", "The war lasted");
    oneLineError(r, new RegExp(`the model in ${model} produced a non-finite logit \\(NaN\\) at position 0`));
  });

  test("item 7: clt eval does not replace the run's eval.json; --name keeps another evaluation beside it", () => {
    const run = join(root, "eval-run");
    cpSync(demoClt, run, { recursive: true });
    const before = snapshot(run);
    const r = atlas("clt", "eval", run, "--corpus", corpus, "--tokens", "10", "--model", demoModel);
    oneLineError(r, new RegExp(`${run}/eval\\.json already holds an evaluation; pass --name <name> to keep both`));
    assert.deepEqual(snapshot(run), before);
    const named = atlas(
      "clt",
      "eval",
      run,
      "--corpus",
      corpus,
      "--tokens",
      "256",
      "--model",
      demoModel,
      "--name",
      "quick",
    );
    assert.equal(named.code, 0, named.stderr);
    assert.ok(!named.stderr.includes("\r"), "whole progress lines when stderr is not a terminal");
    assert.ok(existsSync(join(run, "eval-quick.json")));
    assert.equal(snapshot(run)["eval.json"], before["eval.json"]);
  });
});
