// The committed operation types (src/gql/) must be what graphql-codegen makes from today's SDL and
// documents: an operation that no longer matches the schema fails here, not in the browser.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { generate } from "@graphql-codegen/cli";
import config from "../codegen.ts";

const webRoot = resolve(fileURLToPath(import.meta.url), "../..");

test("src/gql is up to date with graph-schema/schema.graphql and the site's operations", async () => {
  const cwd = process.cwd();
  process.chdir(webRoot);
  try {
    const outputs = (await generate({ ...config, cwd: webRoot, silent: true }, false)) as {
      filename: string;
      content: string;
    }[];
    assert.ok(outputs.length >= 3);
    for (const o of outputs) {
      const committed = readFileSync(join(webRoot, o.filename), "utf8");
      assert.equal(committed, o.content, `${o.filename} is stale: run npm run codegen -w @circuit-atlas/web`);
    }
  } finally {
    process.chdir(cwd);
  }
});
