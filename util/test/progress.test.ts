import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { createProgress, formatDuration } from "../src/index.ts";

function capture(tty: boolean) {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  s.isTTY = tty;
  s.columns = 120;
  let text = "";
  s.on("data", (d) => {
    text += d.toString();
  });
  return { stream: s as unknown as NodeJS.WriteStream, text: () => text };
}

test("without a terminal every progress line is a whole line", async () => {
  const c = capture(false);
  const p = createProgress({ label: "eval", total: 100, unit: "tokens", stream: c.stream, everyMs: 1 });
  for (let i = 1; i <= 100; i += 9) {
    p.update(i, `step ${i}`);
    await new Promise((r) => setTimeout(r, 3));
  }
  p.log("a message");
  p.update(100);
  p.stop();
  await new Promise((r) => setImmediate(r));
  const out = c.text();
  assert.ok(!out.includes("\r"), "no carriage returns without a terminal");
  assert.ok(out.endsWith("\n"));
  const lines = out.trimEnd().split("\n");
  assert.ok(lines.length >= 3, out);
  for (const l of lines) assert.ok(l.startsWith("eval [") || l === "a message", `line ${JSON.stringify(l)}`);
  assert.match(lines.at(-1)!, /100\/100 tokens 100%/);
});

test("quiet draws nothing; durations read as minutes and seconds", () => {
  const c = capture(false);
  const p = createProgress({ label: "x", total: 5, stream: c.stream, quiet: true });
  p.update(3);
  p.log("hidden");
  p.stop();
  assert.equal(c.text(), "");
  assert.equal(formatDuration(839.8), "14m00s");
  assert.equal(formatDuration(59.6), "1m00s");
  assert.equal(formatDuration(125.2), "2m05s");
  assert.equal(formatDuration(9.2), "9s");
});
