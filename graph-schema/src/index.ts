// @circuit-atlas/graph-schema: the GraphQL SDL shared by apps/api and apps/web, and the TypeScript
// types generated from it (graphql-codegen, src/generated/types.ts).
//
//   import { typeDefs, type Feature, type QuerySearchFeaturesArgs } from "@circuit-atlas/graph-schema";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Absolute path of schema.graphql (for codegen configs and tools that read the file). */
export const schemaPath: string = fileURLToPath(new URL("../schema.graphql", import.meta.url));

/** The SDL text. */
export const typeDefs: string = readFileSync(schemaPath, "utf8");

export type * from "./generated/types.ts";
