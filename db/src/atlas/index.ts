// The atlas in Neo4j: graph model (row schemas, ids), the write side (batched, idempotent) and the
// read side (batched for the API's DataLoaders).
export * from "./bulk.ts";
export * from "./human-label.ts";
export * from "./model.ts";
export * from "./read.ts";
export * from "./write.ts";
