// graphql-codegen: result and variable types of every operation the site sends, checked against the
// SDL in graph-schema/ (src/gql/, committed). Run `npm run codegen -w @circuit-atlas/web` after editing
// an operation or the SDL; a test fails when the committed output is stale.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../graph-schema/schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        // Documents as plain strings: no GraphQL runtime in the browser bundle.
        documentMode: "string",
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { JSON: "unknown" },
        avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
        maybeValue: "T | null",
      },
    },
  },
};
export default config;
