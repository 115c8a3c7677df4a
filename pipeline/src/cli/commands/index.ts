// One line per command group; each module exports `register(program)`.
import type { Command } from "commander";
import { register as build } from "./build.ts";
import { register as clt } from "./clt.ts";
import { register as corpus } from "./corpus.ts";
import { register as exportLabels } from "./export-labels.ts";
import { register as features } from "./features.ts";
import { register as ingest } from "./ingest.ts";
import { register as intervene } from "./intervene.ts";
import { register as label } from "./label.ts";
import { register as lm } from "./lm.ts";
import { register as registerLogits } from "./logits.ts";
import { register as model } from "./model.ts";
import { register as study } from "./study.ts";
import { register as trace } from "./trace.ts";

type Register = (program: Command) => void;
const groups: Register[] = [
  build,
  clt,
  corpus,
  lm,
  model,
  registerLogits,
  trace,
  intervene,
  study,
  features,
  label,
  ingest,
  exportLabels,
];

export function registerCommands(program: Command): void {
  for (const register of groups) register(program);
}
