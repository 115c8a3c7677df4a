// Attribution graph object: influence, pruning, scores, circuit-tracer JSON and binary side file.
export * from "./adjacency.ts";
export * from "./binary.ts";
export * from "./graph.ts";
export * from "./influence.ts";
export * from "./json.ts";
export * from "./prune.ts";
export * from "./scores.ts";
