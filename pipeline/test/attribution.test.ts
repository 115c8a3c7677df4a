import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { logitTarget } from "../src/attribution/attribute.ts";
import {
  type AttributionResult,
  attribute,
  buildContext,
  buildSourceLayout,
  computeRows,
  decoderRow,
  encoderRow,
  featureLogitEffects,
  frozenRun,
  intervene,
  predictedEffects,
  ranks,
  replacementMlpOut,
  spearman,
  validateAttribution,
} from "../src/attribution/index.ts";
import { initBackend } from "../src/backend/index.ts";
import { parseFeatureSpec } from "../src/cli/commands/intervene.ts";
import { sideFilePath } from "../src/cli/commands/trace.ts";
import { graphLayout, nodeId, toDense, validateGraph } from "../src/graph/index.ts";
import type { GPT2 } from "../src/model/index.ts";
import { randomClt, tinyModel } from "./attribution-helpers.ts";

describe("CLI argument helpers", () => {
  test("--feature specs and the side-file name", () => {
    assert.deepEqual(parseFeatureSpec("8:1234*-1"), { layer: 8, featureIndex: 1234, mode: "scale", value: -1 });
    assert.deepEqual(parseFeatureSpec("7:99@5,6=0.5"), {
      layer: 7,
      featureIndex: 99,
      mode: "set",
      value: 0.5,
      positions: [5, 6],
    });
    assert.deepEqual(parseFeatureSpec("3:12+2.5"), { layer: 3, featureIndex: 12, mode: "add", value: 2.5 });
    assert.deepEqual(parseFeatureSpec("3:12"), { layer: 3, featureIndex: 12, mode: "scale", value: 0 });
    assert.throws(() => parseFeatureSpec("3-12"), /bad --feature "3-12"/);
    assert.equal(sideFilePath("out/graph.json"), "out/graph.graph.safetensors");
  });
});

const PROMPT = [50256, 5, 17, 42, 9, 30, 11, 3]; // GPT-2 ids; all in the tiny compact vocab

describe("attribution on a tiny random model + random CLT", () => {
  let model: GPT2;
  let res: AttributionResult;
  const clt = randomClt(7, 3, 16, 24);

  before(async () => {
    await initBackend(undefined, { quiet: true });
    model = tinyModel(3);
    res = await attribute(model, clt, PROMPT, { batchSize: 5, scan: "rand-clt" });
  });

  test("the frozen local replacement model reproduces the original logits", async () => {
    const ctx = res.context;
    const r = await frozenRun(ctx, { mlpOut: replacementMlpOut(ctx) });
    let maxDiff = 0;
    let maxAbs = 0;
    for (let v = 0; v < r.lastLogits.length; v++) {
      maxDiff = Math.max(maxDiff, Math.abs(r.lastLogits[v]! - ctx.lastLogits[v]!));
      maxAbs = Math.max(maxAbs, Math.abs(ctx.lastLogits[v]!));
    }
    assert.ok(maxAbs > 0.1, "logits are not trivial");
    assert.ok(maxDiff <= 1e-4 * maxAbs, `max |Δlogit| ${maxDiff} (max |logit| ${maxAbs})`);
    // Replacing the MLPs by the CLT reconstruction alone (no errors) does change them.
    const noErr = ctx.reconstruction.map((rec, j) => {
      const out = rec.slice();
      out.set(ctx.mlpOut[j]!.subarray(0, ctx.d));
      return out;
    });
    const r2 = await frozenRun(ctx, { mlpOut: noErr });
    let d2 = 0;
    for (let v = 0; v < r2.lastLogits.length; v++) d2 = Math.max(d2, Math.abs(r2.lastLogits[v]! - ctx.lastLogits[v]!));
    assert.ok(d2 > 1e-3, "errors matter for exactness");
  });

  test("graph structure: features at positions ≥ 1, logits cover 95% (≤ 10)", () => {
    const g = res.graph;
    const l = validateGraph(g);
    assert.ok(g.features.length > 20, `${g.features.length} active features`);
    assert.equal(g.features.length, res.stats.nActiveFeatures, "all selected below the cap");
    assert.ok(g.features.every((f) => f.position >= 1 && f.activation > 0.15));
    const p = g.logits.reduce((a, x) => a + x.probability, 0);
    assert.ok(p >= 0.95 || g.logits.length === 10);
    assert.deepEqual(g.inputTokens, PROMPT);
    assert.equal(nodeId(g, l.logitStart), `4_${g.logits[0]!.tokenId}_${PROMPT.length - 1}`);
    // Error and embedding nodes have no inputs; position-0 errors have no outputs.
    const a = toDense(g.adjacency).data;
    for (let t = l.errorStart; t < l.logitStart; t++)
      for (let s = 0; s < l.size; s++) assert.equal(a[t * l.size + s], 0);
    for (let layer = 0; layer < g.nLayers; layer++) {
      const e = l.errorStart + layer * l.nPos;
      for (let t = 0; t < l.size; t++) assert.equal(a[t * l.size + e], 0);
    }
  });

  test("additivity: Σ incoming edges + constant terms = pre-activation / logit value", () => {
    const a = res.additivity!;
    assert.ok(a.rows > 20);
    assert.ok(a.maxRelativeResidual < 1e-4, `relative residual ${a.maxRelativeResidual}`);
    assert.ok(a.maxFeatureResidual < 1e-4, `feature residual ${a.maxFeatureResidual}`);
    assert.ok(a.maxLogitResidual < 1e-4, `logit residual ${a.maxLogitResidual}`);
  });

  test("edges equal finite differences of the frozen linear model", async () => {
    const ctx = res.context;
    const g = res.graph;
    const l = graphLayout(g);
    const A = toDense(g.adjacency).data;
    const { d, T } = ctx;
    const base = replacementMlpOut(ctx);
    const wte = model.weights["wte.weight"]!.dataSync() as Float32Array;
    const embed = new Float32Array(T * d);
    ctx.modelIds.forEach((id, p) => {
      embed.set(wte.subarray(id * d, (id + 1) * d), p * d);
    });
    const baseRun = await frozenRun(ctx, { mlpOut: base, embed, residMid: true });
    // Target readouts: feature pre-activation, or the demeaned logit of a logit node.
    const readout = (r: Awaited<ReturnType<typeof frozenRun>>, t: number): number => {
      if (t >= l.logitStart) {
        const k = t - l.logitStart;
        const v = model.toModelIds([g.logits[k]!.tokenId])[0]!;
        let mean = 0;
        for (const x of r.lastLogits) mean += x;
        return r.lastLogits[v]! - mean / r.lastLogits.length;
      }
      const f = g.features[t]!;
      const enc = encoderRow(clt, f.layer, f.featureIndex);
      let s = 0;
      for (let k = 0; k < d; k++) s += enc[k]! * r.residMid![f.layer]![f.position * d + k]!;
      return s;
    };
    // Targets: the last logit node and the three latest-layer features at the last position.
    const targets = [
      l.logitStart,
      ...g.features
        .map((f, i) => ({ f, i }))
        .filter((x) => x.f.layer === 2)
        .slice(-3)
        .map((x) => x.i),
    ];
    // Sources: a few layer-0/1 features, an error node and an embedding node.
    const srcFeatures = g.features
      .map((f, i) => ({ f, i }))
      .filter((x) => x.f.layer < 2)
      .filter((_, k) => k % 7 === 0)
      .map((x) => x.i);
    const checks: { source: number; run: () => Promise<Awaited<ReturnType<typeof frozenRun>>> }[] = [];
    for (const s of srcFeatures) {
      const f = g.features[s]!;
      checks.push({
        source: s,
        run: () => {
          // Doubling the activation adds a_s·W_dec[s, j] to every output layer j ≥ ℓ_s.
          const m = base.map((x) => x.slice());
          for (let j = f.layer; j < ctx.L; j++) {
            const row = decoderRow(clt, f.layer, f.featureIndex, j);
            for (let k = 0; k < d; k++) m[j]![f.position * d + k]! += f.activation * row[k]!;
          }
          return frozenRun(ctx, { mlpOut: m, embed, residMid: true });
        },
      });
    }
    const errLayer = 0;
    const errPos = 3;
    checks.push({
      source: l.errorStart + errLayer * T + errPos,
      run: () => {
        const m = base.map((x) => x.slice());
        for (let k = 0; k < d; k++) m[errLayer]![errPos * d + k]! += ctx.errors[errLayer]![errPos * d + k]!;
        return frozenRun(ctx, { mlpOut: m, embed, residMid: true });
      },
    });
    const embPos = 2;
    checks.push({
      source: l.tokenStart + embPos,
      run: () => {
        const e = embed.slice();
        for (let k = 0; k < d; k++) e[embPos * d + k]! *= 2;
        return frozenRun(ctx, { mlpOut: base, embed: e, residMid: true });
      },
    });
    let compared = 0;
    let nonZero = 0;
    for (const c of checks) {
      const r = await c.run();
      for (const t of targets) {
        const fd = readout(r, t) - readout(baseRun, t);
        const edge = A[t * l.size + c.source]!;
        const scale = Math.max(1, Math.abs(readout(baseRun, t)));
        assert.ok(
          Math.abs(fd - edge) <= 2e-4 * scale,
          `edge ${nodeId(g, c.source)}→${nodeId(g, t)}: ${edge} vs FD ${fd}`,
        );
        compared++;
        if (Math.abs(edge) > 1e-3) nonZero++;
      }
    }
    assert.ok(compared >= 12 && nonZero >= compared / 2, `${compared} compared, ${nonZero} non-zero`);
  });

  test("batch size does not change the edges; the feature cap selects by influence", async () => {
    const r1 = await attribute(model, clt, PROMPT, { batchSize: 1, checkAdditivity: false });
    const a = toDense(res.graph.adjacency).data;
    const b = toDense(r1.graph.adjacency).data;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    assert.ok(maxDiff < 1e-5, `batch 1 vs 5: ${maxDiff}`);

    const capped = await attribute(model, clt, PROMPT, { maxFeatureNodes: 8, batchSize: 2, updateInterval: 1 });
    assert.equal(capped.graph.features.length, 8);
    assert.ok(capped.additivity!.maxRelativeResidual < 1e-4, "additivity holds with all columns");
    // The first features chosen are among the strongest direct inputs of the logit.
    const full = res.graph;
    const fl = graphLayout(full);
    const direct = full.features.map((_, i) => Math.abs(a[fl.logitStart * fl.size + i]!));
    const best = direct.indexOf(Math.max(...direct));
    const bf = full.features[best]!;
    assert.ok(
      capped.graph.features.some(
        (f) => f.layer === bf.layer && f.position === bf.position && f.featureIndex === bf.featureIndex,
      ),
      "the top direct-effect feature is selected",
    );
    // Rows of selected features equal the rows of the full graph restricted to the kept columns.
    const cl = graphLayout(capped.graph);
    const ca = toDense(capped.graph.adjacency).data;
    capped.graph.features.forEach((f, i) => {
      const j = full.features.findIndex(
        (x) => x.layer === f.layer && x.position === f.position && x.featureIndex === f.featureIndex,
      );
      const e = fl.errorStart + 1 * fl.nPos + 2; // error node (1, 2)
      assert.ok(Math.abs(ca[i * cl.size + cl.errorStart + 1 * cl.nPos + 2]! - a[j * fl.size + e]!) < 1e-5);
    });
  });

  test("custom target logit(a) − logit(b) is the difference of the single-logit rows", async () => {
    const r = await attribute(model, clt, PROMPT, {
      targets: [
        { label: "a-b", coefficients: { 7: 1, 8: -1 } },
        { label: "a", coefficients: { 7: 1 } },
        { label: "b", coefficients: { 8: 1 } },
      ],
      batchSize: 8,
    });
    assert.deepEqual(
      r.graph.logits.map((x) => [x.token, x.tokenId]),
      [
        ["a-b", 50257],
        ["a", 50258],
        ["b", 50259],
      ],
    );
    assert.ok(r.additivity!.maxLogitResidual < 1e-4, `logit residual ${r.additivity!.maxLogitResidual}`);
    const l = graphLayout(r.graph);
    const A = toDense(r.graph.adjacency).data;
    let maxDiff = 0;
    let maxAbs = 0;
    for (let c = 0; c < l.size; c++) {
      const ab = A[l.logitStart * l.size + c]!;
      const a = A[(l.logitStart + 1) * l.size + c]!;
      const b = A[(l.logitStart + 2) * l.size + c]!;
      maxDiff = Math.max(maxDiff, Math.abs(ab - (a - b)));
      maxAbs = Math.max(maxAbs, Math.abs(ab));
    }
    assert.ok(maxAbs > 1e-2 && maxDiff < 1e-5 * Math.max(1, maxAbs), `${maxDiff} (max ${maxAbs})`);
  });

  test("same-position rows (the study's logit effects) equal the full rows' columns at the target position", async () => {
    const ctx = await buildContext(model, clt, model.toModelIds(PROMPT));
    const src = buildSourceLayout(ctx);
    const last = ctx.T - 1;
    const ids = [5, 17, 42, 9];
    const targets = [
      ...ids.map((v) => ({ layer: ctx.L, position: last, vector: logitTargetVector(ctx, v) })),
      // Feature targets in lower layers too: their backward starts below the top.
      ...src.features
        .filter((f) => f.position === last && f.layer > 0)
        .slice(0, 3)
        .map((f) => ({ layer: f.layer, position: last, vector: encoderRow(clt, f.layer, f.featureIndex) })),
    ];
    assert.ok(targets.length > ids.length, "the prompt has features at the last position above layer 0");
    const full = new Float32Array(targets.length * src.nCols);
    computeRows(ctx, src, targets, full, 3);
    const sentinel = 12345;
    const same = new Float32Array(targets.length * src.nCols).fill(sentinel);
    // The sentinel must survive outside the target position; inside, rows add onto what is there.
    const atLast = new Set<number>();
    src.features.forEach((f, c) => {
      if (f.position === last) atLast.add(c);
    });
    atLast.add(src.errorCol(0, last));
    for (let k = 0; k < ctx.L; k++) atLast.add(src.errorCol(k, last));
    atLast.add(src.embedCol(last));
    for (let t = 0; t < targets.length; t++) for (const c of atLast) same[t * src.nCols + c] = 0;
    computeRows(ctx, src, targets, same, 3, { samePosition: true });
    let maxDiff = 0;
    let maxAbs = 0;
    for (let t = 0; t < targets.length; t++)
      for (let c = 0; c < src.nCols; c++) {
        const i = t * src.nCols + c;
        if (!atLast.has(c)) {
          assert.equal(same[i], sentinel, `column ${c} outside the target position was written`);
          continue;
        }
        maxDiff = Math.max(maxDiff, Math.abs(same[i]! - full[i]!));
        maxAbs = Math.max(maxAbs, Math.abs(full[i]!));
      }
    assert.ok(maxAbs > 1e-2 && maxDiff < 1e-5 * Math.max(1, maxAbs), `${maxDiff} (max ${maxAbs})`);
    // featureLogitEffects reads exactly those columns.
    const fx = featureLogitEffects(ctx, ids, last);
    fx.features.forEach((f, i) => {
      const c = src.features.findIndex(
        (g) => g.layer === f.layer && g.featureIndex === f.featureIndex && g.position === last,
      );
      for (let k = 0; k < ids.length; k++)
        assert.ok(
          Math.abs(fx.effects[k * fx.features.length + i]! - full[k * src.nCols + c]!) < 1e-5 * Math.max(1, maxAbs),
        );
    });
  });

  test("interventions: no change reproduces the baseline exactly", async () => {
    const ctx = res.context;
    const f = res.graph.features[0]!;
    for (const opts of [
      { patching: "constrained" as const, freezeAttention: true },
      { patching: "constrained" as const, freezeAttention: false },
      { patching: "iterative" as const, freezeAttention: false },
    ]) {
      const out = await intervene(
        ctx,
        [{ layer: f.layer, featureIndex: f.featureIndex, mode: "scale", value: 1 }],
        opts,
      );
      assert.equal(out.changes.length, 0);
      assert.deepEqual(Array.from(out.logits), Array.from(ctx.lastLogits), JSON.stringify(opts));
    }
    await assert.rejects(
      intervene(ctx, [{ layer: 9, featureIndex: 0, mode: "scale", value: 0 }]),
      /intervention layer 9 is outside 0..2/,
    );
  });

  test("constrained ablation with frozen attention moves the logit by exactly −(direct edge)", async () => {
    const g = res.graph;
    const l = graphLayout(g);
    const A = toDense(g.adjacency).data;
    const v = model.toModelIds([g.logits[0]!.tokenId])[0]!;
    const demeaned = (x: Float32Array) => x[v]! - x.reduce((a, b) => a + b, 0) / x.length;
    const clean = demeaned(res.context.lastLogits);
    let checked = 0;
    for (const i of [0, 5, g.features.length - 1]) {
      const f = g.features[i]!;
      const out = await intervene(res.context, [
        { layer: f.layer, featureIndex: f.featureIndex, positions: [f.position], mode: "scale", value: 0 },
      ]);
      assert.equal(out.changes.length, 1);
      const measured = demeaned(out.logits) - clean;
      const edge = A[l.logitStart * l.size + i]!;
      assert.ok(Math.abs(measured + edge) < 1e-4 * Math.max(1, Math.abs(clean)), `${measured} vs −${edge}`);
      // ×−1 doubles it.
      const neg = await intervene(res.context, [
        { layer: f.layer, featureIndex: f.featureIndex, positions: [f.position], mode: "scale", value: -1 },
      ]);
      assert.ok(Math.abs(demeaned(neg.logits) - clean + 2 * edge) < 2e-4 * Math.max(1, Math.abs(clean)));
      checked++;
    }
    assert.equal(checked, 3);
  });

  test("graph-predicted vs measured ablation effects and Spearman", async () => {
    assert.deepEqual(ranks([3, 1, 2, 2]), [4, 1, 2.5, 2.5]);
    assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
    assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
    // In the replacement model with frozen attention the only non-linearity left is the JumpReLU of
    // the downstream features, so the graph's linear prediction should match the measured ablation
    // effect closely (exactly, unless a downstream feature crosses its threshold).
    const rep = await validateAttribution(res, {
      topK: 12,
      intervention: { patching: "replacement", freezeAttention: true },
    });
    assert.equal(rep.entries.length, 12);
    assert.ok(rep.spearman > 0.9, `spearman ${rep.spearman}`);
    // For a small change (×0.99) no downstream feature crosses its threshold, so the linear
    // prediction through the graph must equal the replacement model's response.
    const g0 = res.graph;
    const l0 = graphLayout(g0);
    const v0 = model.toModelIds([g0.logits[0]!.tokenId])[0]!;
    const dm = (x: Float32Array) => x[v0]! - x.reduce((a, b) => a + b, 0) / x.length;
    let matched = 0;
    const idx = [0, 3, 7, 11, 20, 40].filter((i) => i < g0.features.length);
    for (const i of idx) {
      const f = g0.features[i]!;
      const pred = predictedEffects(res, i, -0.01 * f.activation)[l0.logitStart]!;
      const out = await intervene(
        res.context,
        [{ layer: f.layer, featureIndex: f.featureIndex, positions: [f.position], mode: "scale", value: 0.99 }],
        { patching: "replacement", freezeAttention: true },
      );
      const meas = dm(out.logits) - dm(res.context.lastLogits);
      if (Math.abs(pred - meas) <= 2e-3 * Math.max(Math.abs(meas), 1e-2)) matched++;
    }
    assert.ok(matched >= idx.length - 1, `${matched}/${idx.length} small-change effects predicted exactly`);
    // On the real model (live MLPs and attention) the same report runs; a random CLT is not faithful.
    const live = await validateAttribution(res, { topK: 5 });
    assert.ok(live.entries.every((e) => Number.isFinite(e.measured)));
    // A feature with no downstream features: predicted = −(direct edge).
    const g = res.graph;
    const l = graphLayout(g);
    const last = g.features.length - 1;
    const e = predictedEffects(res, last, -g.features[last]!.activation)[l.logitStart]!;
    assert.ok(Math.abs(e + toDense(g.adjacency).data[l.logitStart * l.size + last]!) < 1e-6);
  });
});

/** The injection vector of one raw logit (what `attribute` uses for a logit target). */
function logitTargetVector(ctx: Awaited<ReturnType<typeof buildContext>>, v: number): Float32Array {
  return logitTarget(ctx, new Map([[v, 1]])).injection;
}
