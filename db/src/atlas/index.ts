// The atlas in Neo4j: graph model (row schemas, ids) and the write side (batched, idempotent).
export * from "./model.ts";
export * from "./write.ts";
