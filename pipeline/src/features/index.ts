// Feature statistics for dashboards: one streaming pass over held-out text → per-feature density,
// histogram, top-k / quantile / negative examples and logit effects (see formats.ts for the files).
export * from "./formats.ts";
