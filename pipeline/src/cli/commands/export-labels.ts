// `atlas export-labels --out FILE`: every label in the atlas (Neo4j at NEO4J_URI) as JSONL, one
// Label row per line (current flag, scores and provenance included), for backup.
import { closeDriver, exportLabels } from "@circuit-atlas/db";
import type { Command } from "commander";
import { z } from "zod";
import { writeFileAtomic } from "../../graph/index.ts";
import { parseOptions } from "../options.ts";

const Args = z.object({ out: z.string().min(1), transcoder: z.string().min(1).optional() });

export function register(program: Command): void {
  program
    .command("export-labels")
    .description("write every label in the atlas as JSONL (one label per line) for backup")
    .requiredOption("--out <file.jsonl>", "file to write (atomically)")
    .option("--transcoder <id>", "only the labels of this transcoder's features")
    .action(async (raw: unknown) => {
      const o = parseOptions(Args, raw, "export-labels");
      try {
        const rows = await exportLabels(o.transcoder);
        writeFileAtomic(o.out, rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
        process.stdout.write(`${o.out}\n`);
        process.stderr.write(`${rows.length} labels\n`);
      } finally {
        await closeDriver();
      }
    });
}
