// `atlas ingest RUN_DIR`: a CLT run, its attribution graphs (+ validations) and studies into the
// atlas in Neo4j (NEO4J_URI). Idempotent: run it again to finish an interrupted ingest.
import { closeDriver } from "@circuit-atlas/db";
import type { Command } from "commander";
import { z } from "zod";
import { ingestRunDir } from "../../ingest/index.ts";
import { parseOptions } from "../options.ts";

const Args = z.object({
  graphs: z.array(z.string().min(1)).optional(),
  clt: z.string().min(1).optional(),
  virtualTopK: z.coerce.number().int().min(0),
  concurrency: z.coerce.number().int().min(1).max(8),
  edgesPerTx: z.coerce.number().int().min(1),
  bulk: z.boolean().optional(),
  bulkDir: z.string().min(1).optional(),
  quiet: z.boolean().optional(),
});

export function register(program: Command): void {
  program
    .command("ingest")
    .description(
      "write a run into the atlas (Neo4j at NEO4J_URI): the CLT run (RUN_DIR itself, --clt, or the one the graphs record), " +
        "graph JSONs with their .graph.safetensors side files and .validation.json, greater-than studies; idempotent",
    )
    .argument("<run-dir>", "directory with pipeline outputs (CLT run dir, graphs, study dirs)")
    .option("--graphs <files...>", "graph JSON files (default: every graph JSON with a side file under RUN_DIR)")
    .option("--clt <dir>", "CLT run directory (default: RUN_DIR if it is one, else the CLT the graphs record)")
    .option("--virtual-top-k <k>", "store the top-k virtual weights per feature (0: skip)", "0")
    .option("--concurrency <n>", "graph batches written at the same time", "1")
    .option("--edges-per-tx <n>", "whole graphs per transaction until about this many edges", "50000")
    .option(
      "--bulk",
      "first load of an empty local database with Neo4j's offline importer (stops and restarts the local server)",
    )
    .option("--bulk-dir <dir>", "keep the bulk import's CSV files here (default: a temporary directory)")
    .option("--quiet", "no progress output")
    .action(async (runDir: string, raw: unknown) => {
      const o = parseOptions(Args, raw, "ingest");
      const log = (m: string) => {
        if (!o.quiet) process.stderr.write(`${m}\n`);
      };
      try {
        const s = await ingestRunDir(runDir, {
          ...(o.graphs ? { graphs: o.graphs } : {}),
          ...(o.clt ? { clt: o.clt } : {}),
          virtualTopK: o.virtualTopK,
          concurrency: o.concurrency,
          edgesPerTx: o.edgesPerTx,
          ...(o.bulk ? { bulk: true } : {}),
          ...(o.bulkDir ? { bulkDir: o.bulkDir } : {}),
          log,
          progress: !o.quiet,
        });
        process.stdout.write(`${JSON.stringify(s)}\n`);
      } finally {
        await closeDriver();
      }
    });
}
