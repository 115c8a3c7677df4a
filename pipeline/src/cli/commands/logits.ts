// `atlas logits`: next-token logits of a GPT-2-family checkpoint for given GPT-2 token ids or a prompt.
// --json prints exactly {"logits": [[...vocab] per position]} (+ "vocab" for a compact-vocab model,
// where 50257 names the `<unk>` row that GPT-2 ids outside the vocabulary map to).
import type { Command } from "commander";
import { z } from "zod";
import { initBackend } from "../../backend/index.ts";
import { loadModel } from "../../model/index.ts";
import { BOS_ID, decodeToken, encode } from "../../tokenizer/index.ts";
import { parseOptions } from "../options.ts";

const LogitsArgs = z
  .object({
    model: z.string().min(1),
    ids: z
      .string()
      .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, "expected comma-separated token ids, e.g. 464,3290")
      .optional(),
    prompt: z.string().optional(),
    bos: z.boolean(),
    json: z.boolean().optional(),
    top: z.coerce.number().int().positive(),
  })
  .refine((o) => (o.ids === undefined) !== (o.prompt === undefined), "give exactly one of --ids or --prompt");

function show(id: number): string {
  try {
    return JSON.stringify(decodeToken(id));
  } catch {
    return `#${id}`;
  }
}

export function register(program: Command): void {
  program
    .command("logits")
    .description("print the model's logits at every position for GPT-2 token ids (or a tokenized prompt)")
    .requiredOption("--model <dir>", "HF GPT-2 folder (config.json + model.safetensors [+ vocab_map.json])")
    .option("--ids <ids>", "comma-separated GPT-2 token ids, used as given")
    .option("--prompt <text>", "text to tokenize; <|endoftext|> (50256) is prepended unless --no-bos")
    .option("--no-bos", "with --prompt: do not prepend <|endoftext|>")
    .option("--json", 'print {"logits": [[...] per position]} (+ "vocab" for a compact vocabulary)')
    .option("--top <k>", "tokens per position in the table output", "5")
    .action(async (raw: unknown) => {
      const o = parseOptions(LogitsArgs, raw, "logits");
      const gpt2Ids =
        o.ids !== undefined
          ? o.ids.split(",").map((s) => Number(s.trim()))
          : [...(o.bos ? [BOS_ID] : []), ...encode(o.prompt ?? "")];
      if (gpt2Ids.length === 0) throw new Error("logits: the prompt has no tokens");
      await initBackend();
      const model = await loadModel(o.model);
      const ids = model.toModelIds(gpt2Ids);
      const { logits } = model.run([ids]);
      const values = logits!.dataSync() as Float32Array;
      logits!.dispose();
      const V = model.config.vocabSize;
      const rows = Array.from({ length: ids.length }, (_, t) => values.subarray(t * V, (t + 1) * V));
      if (o.json) {
        // Streamed row by row: a full-vocab row is ~1 MB of JSON.
        process.stdout.write('{"logits": [');
        rows.forEach((row, t) => {
          process.stdout.write(`${t ? "," : ""}${JSON.stringify(Array.from(row))}`);
        });
        process.stdout.write("]");
        if (model.vocab) process.stdout.write(`, "vocab": ${JSON.stringify(Array.from(model.vocab))}`);
        process.stdout.write("}\n");
        return;
      }
      const toGpt2 = (m: number) => model.toGpt2Ids([m])[0]!;
      const lines = [`pos  token${" ".repeat(15)}top ${o.top} next tokens (logit)`];
      rows.forEach((row, t) => {
        const top = Array.from(row.keys())
          .sort((a, b) => row[b]! - row[a]!)
          .slice(0, o.top);
        // A token outside a compact vocabulary reads as the model sees it: " pand"→<unk>.
        const asModel = toGpt2(ids[t]!);
        const cur = (asModel === gpt2Ids[t] ? show(asModel) : `${show(gpt2Ids[t]!)}→${decodeToken(asModel)}`)
          .slice(0, 18)
          .padEnd(20);
        const next = top.map((m) => `${show(toGpt2(m))} ${row[m]!.toFixed(2)}`).join("  ");
        lines.push(`${String(t).padStart(3)}  ${cur}${next}`);
      });
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
