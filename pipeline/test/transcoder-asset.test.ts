// The shipped demo CLT loads, matches the demo model, and still reconstructs its MLP outputs.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { initBackend } from "../src/backend/index.ts";
import { openCorpus } from "../src/data/index.ts";
import { loadModel } from "../src/model/index.ts";
import { CLT } from "../src/transcoder/clt.ts";
import { evalClt } from "../src/transcoder/eval.ts";

const assets = join(import.meta.dirname, "..", "assets");
const root = mkdtempSync(join(tmpdir(), "clt-asset-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("assets/demo-clt: loads, fits assets/demo-model, reconstructs demo text (FVU < 0.25, L0 ≤ 32/layer)", async () => {
  await initBackend(undefined, { quiet: true });
  const clt = CLT.load(join(assets, "demo-clt"));
  assert.deepEqual(clt.shape, { nLayers: 4, dModel: 128, nFeatures: 512 });
  assert.equal(clt.modelDir, join(assets, "demo-model"));
  for (const th of clt.weights.threshold)
    assert.ok(
      th.every((v) => v > 0),
      "thresholds positive",
    );
  const model = await loadModel(clt.modelDir!);
  const text = [
    "The siege lasted from the year 1732 to the year 1781. The price rose from 12 to 19 marks.",
    "The treaty lasted from the year 1608 to the year 1655. If you have 8 pears and get 2 more, you have 10.",
    "The voyage lasted from the year 1455 to the year 1490. The numbers go 22, 25, 28, 31 and so on.",
  ].join("\n\n");
  const path = join(root, "t.txt");
  writeFileSync(path, text.repeat(4));
  const r = await evalClt({ clt, model, corpus: await openCorpus(path), tokens: 4 * 63, nCtx: 64 });
  assert.ok(r.fvu.mean < 0.25, `FVU ${r.fvu.mean}`);
  for (const l0 of r.l0.per_layer) assert.ok(l0 > 0 && l0 <= 32, `L0 ${l0}`);
  assert.ok(r.replacement.top1_agreement > 0.7, `top-1 ${r.replacement.top1_agreement}`);
});
