// The `atlas` CLI. Each concept registers its own subcommands from src/cli/commands/*.ts.
import { Command } from "commander";
import { registerCommands } from "./commands/index.ts";

const program = new Command()
  .name("atlas")
  .description("Circuit Atlas pipeline: GPT-2-family models, cross-layer transcoders, attribution graphs")
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str) });

registerCommands(program);

// `atlas logits … | head` closes the pipe early: that is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // One clear line and a non-zero exit for every user-facing failure.
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`atlas: error: ${msg}\n`);
  if (process.env.ATLAS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
