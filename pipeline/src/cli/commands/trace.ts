// `atlas trace`: the attribution graph of a prompt under a CLT, written as circuit-tracer /
// Neuronpedia JSON (pruned) plus a binary side file with the full unpruned adjacency.
import { basename } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { attribute, validateAttribution } from "../../attribution/index.ts";
import { initBackend } from "../../backend/index.ts";
import {
  graphScores,
  prunedGraphScores,
  pruneGraph,
  toCircuitTracerJson,
  writeCircuitTracerJson,
  writeFileAtomic,
  writeGraphBinary,
} from "../../graph/index.ts";
import { cltModelOptions, loadCltAndModel, parseOptions, sourceId } from "../options.ts";

const unit = z.coerce.number().min(0).max(1);
const TraceArgs = z.object({
  clt: z.string().min(1),
  model: z.string().min(1).optional(),
  prompt: z.string().min(1),
  out: z.string().regex(/\.json$/, "--out must end in .json"),
  maxFeatureNodes: z.coerce.number().int().positive(),
  nodeThreshold: unit,
  edgeThreshold: unit,
  batchSize: z.coerce.number().int().positive(),
  slug: z.string().min(1).optional(),
  scan: z.string().min(1).optional(),
  validate: z.coerce.number().int().min(0),
  quiet: z.boolean().optional(),
});

/** graph.json → graph.graph.safetensors */
export function sideFilePath(jsonPath: string): string {
  return jsonPath.replace(/\.json$/, ".graph.safetensors");
}

export function register(program: Command): void {
  cltModelOptions(
    program
      .command("trace")
      .description(
        "build the attribution graph of a prompt under a CLT; writes pruned circuit-tracer/Neuronpedia JSON " +
          "and <out>.graph.safetensors with the full adjacency",
      ),
    "CLT run directory (or circuit-tracer CLT directory)",
  )
    .requiredOption("--prompt <text>", "prompt; <|endoftext|> is prepended")
    .requiredOption("--out <file.json>", "graph JSON to write")
    .option("--max-feature-nodes <n>", "cap on feature nodes (adaptive order by influence)", "7500")
    .option("--node-threshold <x>", "cumulative influence kept by node pruning", "0.8")
    .option("--edge-threshold <x>", "cumulative influence kept by edge pruning", "0.98")
    .option("--batch-size <n>", "targets per backward pass", "64")
    .option("--slug <slug>", "graph slug (default: from the --out file name)")
    .option("--scan <id>", "transcoder set id in the JSON (default: the CLT directory name)")
    .option(
      "--validate <k>",
      "also ablate the top-k features by influence and compare with the graph's prediction (Spearman); writes <out>.validation.json",
      "0",
    )
    .option("--quiet", "no progress output")
    .action(async (raw: unknown) => {
      const o = parseOptions(TraceArgs, raw, "trace");
      const t0 = performance.now();
      const log = (m: string) => {
        if (!o.quiet) process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);
      };
      await initBackend(undefined, { quiet: o.quiet });
      const { loaded, modelDir, model } = await loadCltAndModel(o, "trace");
      log(
        `model ${modelDir}, CLT ${o.clt} (${loaded.clt.shape.nFeatures} features × ${loaded.clt.shape.nLayers} layers)`,
      );
      // The JSON names the model and the CLT by folder name + weights sha256, never by local path.
      const ids = { model: sourceId(modelDir), clt: sourceId(o.clt) };
      const r = await attribute(model, loaded.clt, o.prompt, {
        maxFeatureNodes: o.maxFeatureNodes,
        batchSize: o.batchSize,
        scan: o.scan ?? ids.clt.name,
        modelName: ids.model.name,
        onProgress: log,
      });
      const g = r.graph;
      const prune = pruneGraph(g, { nodeThreshold: o.nodeThreshold, edgeThreshold: o.edgeThreshold });
      const full = graphScores(g);
      const pruned = prunedGraphScores(g, prune.nodeMask);
      const side = sideFilePath(o.out);
      const json = toCircuitTracerJson(g, prune, {
        slug: o.slug ?? basename(o.out, ".json"),
        atlas: {
          model: ids.model.name,
          model_sha256: ids.model.sha256,
          clt: ids.clt.name,
          clt_sha256: ids.clt.sha256,
          n_active_features: r.stats.nActiveFeatures,
          n_feature_nodes: g.features.length,
          scores: { unpruned: full, pruned },
          additivity: r.additivity,
          side_file: basename(side),
        },
      });
      writeCircuitTracerJson(o.out, json);
      writeGraphBinary(side, g, { influence: prune.influence });
      const a = r.additivity;
      log(
        `${r.stats.nActiveFeatures} active features, ${g.features.length} feature nodes, ${g.logits.length} logits; ` +
          `pruned: ${json.nodes.length} nodes, ${json.links.length} links`,
      );
      log(
        `replacement ${full.replacement.toFixed(3)} / completeness ${full.completeness.toFixed(3)} (unpruned), ` +
          `${pruned.replacement.toFixed(3)} / ${pruned.completeness.toFixed(3)} (pruned)` +
          (a ? `; additivity max residual ${a.maxFeatureResidual.toExponential(1)}` : ""),
      );
      process.stdout.write(`${o.out}\n${side}\n`);
      if (o.validate > 0) {
        // Two settings: the live model (what an experimenter sees) and the frozen local replacement
        // (attention patterns and LN scales fixed: the setting the graph's linear prediction is exact in).
        const live = await validateAttribution(r, { topK: o.validate });
        const frozen = await validateAttribution(r, {
          topK: o.validate,
          intervention: { patching: "iterative", freezeAttention: true, freezeLayerNorm: true },
        });
        const vPath = o.out.replace(/\.json$/, ".validation.json");
        writeFileAtomic(vPath, JSON.stringify({ live, frozen }, null, 2));
        log(
          `validation on "${live.target}" (top ${live.entries.length} by influence): Spearman predicted vs measured ablation ` +
            `${live.spearman.toFixed(3)} on the live model, ${frozen.spearman.toFixed(3)} with attention + LN frozen`,
        );
        process.stdout.write(`${vPath}\n`);
      }
      process.stderr.write(`time: ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
    });
}
