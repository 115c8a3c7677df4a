// `atlas intervene`: set or scale CLT feature activations on a prompt and show the new prediction.
import type { Command } from "commander";
import { z } from "zod";
import { buildContext, type FeatureIntervention, intervene } from "../../attribution/index.ts";
import { initBackend, softmax64 } from "../../backend/index.ts";
import { twoDigitTokenIds } from "../../study/dataset.ts";
import { probabilityDifference, yearProbabilities } from "../../study/metrics.ts";
import { BOS_ID, decodeToken, encode } from "../../tokenizer/index.ts";
import { cltModelOptions, loadCltAndModel, parseOptions } from "../options.ts";

/** "LAYER:INDEX[@P1,P2][*x | =x | +x]", e.g. "8:1234*-1", "7:99@5=0", "3:12+2.5" (default ×0). */
export function parseFeatureSpec(spec: string): FeatureIntervention {
  const m = /^(\d+):(\d+)(?:@(\d+(?:,\d+)*))?(?:([*=+])(-?\d+(?:\.\d+)?(?:e-?\d+)?))?$/.exec(spec.trim());
  if (!m) throw new Error(`bad --feature "${spec}" (expected LAYER:INDEX[@POS,…][*x|=x|+x], e.g. 8:1234*-1)`);
  const op = m[4] ?? "*";
  const iv: FeatureIntervention = {
    layer: Number(m[1]),
    featureIndex: Number(m[2]),
    mode: op === "*" ? "scale" : op === "=" ? "set" : "add",
    value: m[5] === undefined ? 0 : Number(m[5]),
  };
  if (m[3]) iv.positions = m[3].split(",").map(Number);
  return iv;
}

const Args = z.object({
  clt: z.string().min(1),
  model: z.string().min(1).optional(),
  prompt: z.string().min(1),
  feature: z.array(z.string()).min(1, "give at least one --feature"),
  patching: z.enum(["constrained", "iterative", "replacement"]),
  liveAttention: z.boolean().optional(),
  layers: z
    .string()
    .regex(/^\d+:\d+$/, "--layers must be START:END")
    .optional(),
  yy: z.coerce.number().int().min(0).max(99).optional(),
  top: z.coerce.number().int().positive(),
  json: z.boolean().optional(),
});

export function register(program: Command): void {
  cltModelOptions(
    program
      .command("intervene")
      .description(
        "change CLT feature activations on a prompt (constrained patching by default) and show the new prediction",
      ),
    "CLT run directory",
  )
    .requiredOption("--prompt <text>", "prompt; <|endoftext|> is prepended")
    .option(
      "--feature <spec>",
      "LAYER:INDEX[@POS,…][*x|=x|+x] (repeatable; default ×0 at every active position)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option("--patching <mode>", "constrained | iterative | replacement", "constrained")
    .option("--live-attention", "recompute attention patterns instead of freezing them")
    .option("--layers <start:end>", "constrained layer range (default: lowest intervened layer to the last)")
    .option("--yy <n>", "greater-than prompts: report the probability difference for start year YY")
    .option("--top <k>", "tokens to show", "10")
    .option("--json", "print the result as JSON")
    .action(async (raw: unknown) => {
      const o = parseOptions(
        Args,
        { ...(raw as object), feature: (raw as { feature?: string[] }).feature ?? [] },
        "intervene",
      );
      const ivs = o.feature.map(parseFeatureSpec);
      await initBackend(undefined, { quiet: true });
      const { loaded, model } = await loadCltAndModel(o, "intervene");
      const ctx = await buildContext(model, loaded.clt, model.toModelIds([BOS_ID, ...encode(o.prompt)]));
      const opts: Parameters<typeof intervene>[2] = { patching: o.patching, freezeAttention: !o.liveAttention };
      if (o.layers) opts.constrainedLayers = o.layers.split(":").map(Number) as [number, number];
      const out = await intervene(ctx, ivs, opts);
      const before = softmax64(ctx.lastLogits);
      const after = out.probabilities;
      const gpt2 = (v: number) => model.toGpt2Ids([v])[0]!;
      const order = Array.from(after.keys()).sort((a, b) => after[b]! - after[a]!);
      const top = order.slice(0, o.top).map((v) => ({
        token: decodeToken(gpt2(v)),
        tokenId: gpt2(v),
        before: before[v]!,
        after: after[v]!,
      }));
      let pd: { before: number; after: number } | undefined;
      if (o.yy !== undefined) {
        const ids = model.toModelIds(twoDigitTokenIds());
        const full = (p: Float64Array) => Float64Array.from({ length: model.config.vocabSize }, (_, i) => p[i]!);
        pd = {
          before: probabilityDifference(yearProbabilities(full(before), ids), o.yy),
          after: probabilityDifference(yearProbabilities(full(after), ids), o.yy),
        };
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ changes: out.changes, top, probabilityDifference: pd }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${out.changes.length} activation change(s):\n`);
      for (const c of out.changes) {
        process.stdout.write(
          `  ${c.layer}_${c.featureIndex} @${c.position}: ${c.from.toFixed(3)} → ${c.to.toFixed(3)}\n`,
        );
      }
      process.stdout.write("token                before    after\n");
      for (const t of top) {
        process.stdout.write(
          `${JSON.stringify(t.token).padEnd(20)} ${t.before.toFixed(4).padStart(7)}  ${t.after.toFixed(4).padStart(7)}\n`,
        );
      }
      if (pd)
        process.stdout.write(`probability difference (YY=${o.yy}): ${pd.before.toFixed(4)} → ${pd.after.toFixed(4)}\n`);
    });
}
