// The API server: Apollo Server 5 on Express 5, schema from graph-schema/schema.graphql, thin
// resolvers over the db read layer, limits (depth, cost, page size, timeout), typed errors, CSRF
// prevention, API-key-protected mutations, GraphiQL in development.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { expressMiddleware } from "@as-integrations/express5";
import { typeDefs } from "@circuit-atlas/graph-schema";
import { makeExecutableSchema } from "@graphql-tools/schema";
import express from "express";
import { GraphQLScalarType } from "graphql";
import { authenticate } from "./auth.ts";
import { type ApiConfig, loadApiConfig } from "./config.ts";
import { formatError, timedOut } from "./errors.ts";
import { graphiqlRouter } from "./graphiql.ts";
import { JobQueue, type JobRunner } from "./jobs.ts";
import { limitsPlugin } from "./limits.ts";
import { createLoaders } from "./loaders.ts";
import { type Context, resolvers } from "./resolvers.ts";
import { pipelineRunner } from "./trace-runner.ts";

const JSONScalar = new GraphQLScalarType({
  name: "JSON",
  description: "Any JSON value.",
  serialize: (v) => v,
  parseValue: (v) => v,
});

export function buildSchema() {
  return makeExecutableSchema({ typeDefs, resolvers: { ...resolvers, JSON: JSONScalar } as never });
}

export interface ApiServer {
  url: string;
  port: number;
  jobs: JobQueue;
  close(): Promise<void>;
}

export interface StartOptions {
  config?: Partial<ApiConfig>;
  /** Replaces the pipeline runner of traceGraph jobs (tests). */
  jobRunner?: JobRunner;
  log?: (message: string, err?: unknown) => void;
}

export async function startApiServer(opts: StartOptions = {}): Promise<ApiServer> {
  const config: ApiConfig = { ...loadApiConfig(), ...opts.config };
  const log = opts.log ?? ((m: string, e?: unknown) => console.error(m, e ?? ""));
  const schema = buildSchema();
  const app = express();
  const httpServer = http.createServer(app);
  const jobs = new JobQueue(opts.jobRunner ?? pipelineRunner(config.jobsDir));

  const server = new ApolloServer<Context>({
    schema,
    introspection: config.introspection,
    csrfPrevention: true,
    includeStacktraceInErrorResponses: !config.production,
    formatError: formatError(config.production, (e) => log("graphql: internal error", e)),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      limitsPlugin(schema, { maxDepth: config.maxDepth, maxCost: config.maxCost, maxPage: config.maxPage }),
    ],
  });
  await server.start();

  app.disable("x-powered-by");
  if (config.graphiql) app.use(graphiqlRouter());
  app.get("/health", (_req, res) => {
    res.json({ ok: true });
  });
  app.use(
    "/graphql",
    express.json({ limit: config.maxBody }),
    expressMiddleware(server, {
      context: async ({ req }) => {
        const deadline = Date.now() + config.timeoutMs;
        // Every read gets what is left of the request's budget as its Neo4j transaction timeout.
        const readOpts = () => {
          const left = deadline - Date.now();
          if (left <= 0) throw timedOut(config.timeoutMs);
          return { timeoutMs: left };
        };
        return {
          config,
          caller: authenticate(req.headers, config.apiKeys),
          jobs,
          loaders: createLoaders(readOpts),
          readOpts,
        };
      },
    }),
  );
  // Body-parser errors (malformed JSON, too large) → 400/413 with a GraphQL-shaped error, never a 500 page.
  app.use(
    (
      err: { status?: number; type?: string; message?: string },
      _req: express.Request,
      res: express.Response,
      next: express.NextFunction,
    ) => {
      if (!err) return next();
      const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 400;
      res.status(status).json({
        errors: [
          {
            message:
              err.type === "entity.too.large"
                ? `the request body is larger than ${config.maxBody}`
                : "the request body is not valid JSON",
            extensions: { code: "BAD_REQUEST" },
          },
        ],
      });
    },
  );

  await new Promise<void>((ok) => httpServer.listen(config.port, config.host, ok));
  const port = (httpServer.address() as AddressInfo).port;
  return {
    url: `http://${config.host}:${port}/graphql`,
    port,
    jobs,
    async close() {
      await server.stop();
    },
  };
}
