// Ingest of pipeline outputs (CLT runs, graphs, validations, studies) into the atlas in Neo4j.

export { copyDemoClt } from "./demo-run.ts";
export { type IngestOptions, type IngestSummary, ingestRunDir } from "./ingest.ts";
export * from "./sources.ts";
export { virtualBlock, virtualWeights } from "./virtual.ts";
