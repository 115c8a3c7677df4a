// `atlas corpus …`: the generated demo corpus.
import type { Command } from "commander";
import { z } from "zod";
import { writeDemoCorpus } from "../../data/demo-corpus.ts";
import { parseOptions } from "../options.ts";

const DemoArgs = z.object({
  out: z.string().min(1),
  tokens: z.coerce.number().int().positive(),
  seed: z.coerce.number().int().min(0),
  split: z.enum(["train", "heldout"]),
});

export function register(program: Command): void {
  const corpus = program.command("corpus").description("training corpora");
  corpus
    .command("demo")
    .description(
      "write the generated demo corpus as {out}/{split}.jsonl (template English with greater-than date ranges; " +
        "the heldout split uses only held-out event nouns)",
    )
    .requiredOption("--out <dir>", "output folder")
    .option("--tokens <n>", "GPT-2 tokens to generate", "1000000")
    .option("--seed <n>", "random seed", "0")
    .option("--split <split>", "train | heldout", "train")
    .action((raw: unknown) => {
      const o = parseOptions(DemoArgs, raw, "corpus demo");
      const stats = writeDemoCorpus(o.out, { tokens: o.tokens, seed: o.seed, split: o.split });
      process.stderr.write(
        `${stats.split}: ${stats.documents} documents, ${stats.tokens} tokens, ${(stats.bytes / 1e6).toFixed(2)} MB\n`,
      );
      process.stdout.write(`${stats.path}\n`);
    });
}
