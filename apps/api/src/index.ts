// @circuit-atlas/api: the Circuit Atlas GraphQL API (Apollo Server 5) over the Neo4j atlas.
export { type ApiConfig, loadApiConfig } from "./config.ts";
export { ErrorCode } from "./errors.ts";
export { type Job, JobQueue, type JobRunner } from "./jobs.ts";
export { estimator, queryDepth } from "./limits.ts";
export { type ApiServer, buildSchema, type StartOptions, startApiServer } from "./server.ts";
