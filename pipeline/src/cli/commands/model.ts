// `atlas model …`: fetching GPT-2-family checkpoints from a Hugging Face hub.
import type { Command } from "commander";
import { z } from "zod";
import { pullModel, stderrProgress } from "../../model/hub.ts";
import { parseOptions } from "../options.ts";

const PullArgs = z.object({
  revision: z.string().min(1),
  cacheDir: z.string().min(1).optional(),
  offline: z.boolean().optional(),
  retries: z.coerce.number().int().min(0).max(100),
});

export function register(program: Command): void {
  const model = program.command("model").description("GPT-2-family model checkpoints");
  model
    .command("pull")
    .description(
      "download config.json + model.safetensors (+ vocab_map.json) into the Hugging Face cache; prints the snapshot folder",
    )
    .argument("<repo-id>", 'hub repo, e.g. "gpt2" (= openai-community/gpt2) or "org/name"')
    .option("--revision <rev>", "branch, tag or commit", "main")
    .option("--cache-dir <dir>", "cache folder (default $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)")
    .option("--offline", "use only the cache (same as HF_HUB_OFFLINE=1)")
    .option("--retries <n>", "automatic resume attempts after a dropped connection", "3")
    .action(async (repoId: string, raw: unknown) => {
      const o = parseOptions(PullArgs, raw, "model pull");
      const got = await pullModel(repoId, {
        revision: o.revision,
        cacheDir: o.cacheDir,
        offline: o.offline ? true : undefined,
        retries: o.retries,
        onProgress: stderrProgress(),
      });
      process.stderr.write(
        `${got.repoId}@${got.revision} (${got.commit.slice(0, 12)})${got.fromCache ? " from cache" : ""}: ${got.files.join(", ")}\n`,
      );
      process.stdout.write(`${got.dir}\n`);
    });
}
