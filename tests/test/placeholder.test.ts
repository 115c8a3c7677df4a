// Placeholder until this workspace's issue lands: proves the entry point loads under the shared toolchain.
import assert from "node:assert/strict";
import { test } from "node:test";

test("@circuit-atlas/tests entry point loads", async () => {
  const mod = await import("../src/index.ts");
  assert.equal(typeof mod, "object");
});
