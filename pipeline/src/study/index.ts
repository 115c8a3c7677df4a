// Greater-than study: dataset, metrics, per-feature descriptors, heatmap images, report.
export * from "./dataset.ts";
export * from "./descriptors.ts";
export * from "./greater-than-study.ts";
export * from "./metrics.ts";
export * from "./render.ts";
export * from "./report.ts";
