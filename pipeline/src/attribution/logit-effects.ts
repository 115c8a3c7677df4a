// Direct effects of features on raw logits: the attribution graph's edge feature → logit v (through
// frozen attention and the frozen ln_final) for chosen logits at the last position, without
// building, pruning or assembling a whole graph. The greater-than study's heatmaps are these edges.
import { logitTarget } from "./attribute.ts";
import type { ActiveFeature, PromptContext } from "./context.ts";
import { buildSourceLayout, computeRows, type Target } from "./engine.ts";

export interface LogitEffects {
  /** The active features at `position` (columns of `effects`). */
  features: ActiveFeature[];
  /** [logits.length, features.length]: effects[k · nFeatures + i] = edge features[i] → logit k. */
  effects: Float32Array;
}

/** Edges from every active feature at `position` to each raw logit in `modelIds` (model vocab ids). */
export function featureLogitEffects(ctx: PromptContext, modelIds: readonly number[], position: number): LogitEffects {
  const src = buildSourceLayout(ctx);
  const cols: number[] = [];
  src.features.forEach((f, col) => {
    if (f.position === position) cols.push(col);
  });
  const features = cols.map((c) => src.features[c]!);
  const effects = new Float32Array(modelIds.length * cols.length);
  if (cols.length === 0) return { features, effects };
  const targets: Target[] = modelIds.map((v) => ({
    layer: ctx.L,
    position: ctx.T - 1,
    vector: logitTarget(ctx, new Map([[v, 1]])).injection,
  }));
  const rows = new Float32Array(targets.length * src.nCols);
  // Only the columns at `position` are read: the same-position backward is exact for them when the
  // targets sit there too, and T times cheaper.
  computeRows(ctx, src, targets, rows, targets.length, { samePosition: position === ctx.T - 1 });
  for (let k = 0; k < targets.length; k++)
    cols.forEach((c, i) => {
      effects[k * cols.length + i] = rows[k * src.nCols + c]!;
    });
  return { features, effects };
}
