// The slow-backend warning: once, loudly, with the slowdown and the fix, only for an automatic
// fallback to wasm/cpu; the `backend: <name>` line stays.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { BLAS_FIX_COMMAND, slowBackendWarning } from "../src/backend/index.ts";

const atlas = fileURLToPath(new URL("../bin/atlas.mjs", import.meta.url));
const noNblas = fileURLToPath(new URL("./fixtures/no-nblas.cjs", import.meta.url));
const demoModel = fileURLToPath(new URL("../assets/demo-model", import.meta.url));

test("slowBackendWarning: wasm and cpu warn with the slowdown and the fix; blas and tensorflow do not", () => {
  const wasm = slowBackendWarning({ name: "wasm", tfBackend: "wasm", description: "wasm (XNNPACK)" }, "boom");
  assert.ok(wasm);
  assert.match(wasm, /SLOW BACKEND: running on wasm \(XNNPACK\)/);
  assert.match(wasm, /\(boom\)/);
  assert.match(wasm, /about 35× slower/);
  assert.ok(wasm.includes(`Fix (Debian/Ubuntu, as root or with sudo): ${BLAS_FIX_COMMAND}`));
  const cpu = slowBackendWarning({ name: "cpu", tfBackend: "cpu", description: "cpu (pure JS kernels)" }, null);
  assert.match(cpu ?? "", /more than 35× slower/);
  assert.match(cpu ?? "", /nblas is not installed/);
  assert.equal(slowBackendWarning({ name: "blas", tfBackend: "blas", description: "cpu+blas" }, null), null);
  assert.equal(slowBackendWarning({ name: "tensorflow", tfBackend: "tensorflow", description: "tf" }, null), null);
});

const logits = (env: Record<string, string | undefined>) =>
  spawnSync(process.execPath, [atlas, "logits", "--model", demoModel, "--prompt", "The war lasted", "--top", "2"], {
    encoding: "utf8",
    env: { ...process.env, ATLAS_BACKEND: undefined, ...env },
  });

test("atlas logits without nblas: falls back to wasm, prints its backend line and the warning once", () => {
  const r = logits({ NODE_OPTIONS: `--require ${noNblas}` });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^backend: wasm /m);
  assert.equal(r.stderr.match(/SLOW BACKEND/g)?.length, 1, r.stderr);
  assert.match(r.stderr, /cannot open shared object file \(simulated\)/);
  assert.ok(r.stderr.includes(BLAS_FIX_COMMAND));
});

test("atlas logits with an explicit ATLAS_BACKEND=wasm: the backend line, no fallback warning", () => {
  const r = logits({ ATLAS_BACKEND: "wasm" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^backend: wasm /m);
  assert.doesNotMatch(r.stderr, /SLOW BACKEND/);
});
