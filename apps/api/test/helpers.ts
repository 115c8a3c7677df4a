// Test helpers: the real API server on a free port (listen on 0) over the real Neo4j on NEO4J_URI.
import { after, before } from "node:test";
import { closeDriver, loadConfig, ping } from "@circuit-atlas/db";
import { type ApiServer, type StartOptions, startApiServer } from "../src/index.ts";
import { cleanup, seed } from "./seed.ts";

export const API_KEY = "test-key-0123456789";

export async function requireServer(): Promise<void> {
  const config = loadConfig();
  const r = await ping(config);
  if (!r.ok) {
    throw new Error(`Neo4j is not reachable at ${config.uri} (${r.reason}): start it with \`npm run db:up\``);
  }
}

export async function startApi(opts: StartOptions = {}): Promise<ApiServer> {
  return startApiServer({
    ...opts,
    config: {
      port: 0,
      host: "127.0.0.1",
      apiKeys: [{ name: "tester", key: API_KEY }],
      production: false,
      introspection: true,
      graphiql: true,
      // A shared, busy CI or dev machine must not turn slow answers into TIMEOUT failures here.
      timeoutMs: 60_000,
      ...opts.config,
    },
    log: opts.log ?? (() => {}),
  });
}

/**
 * The file's lifecycle: before its tests, seed the atlas and start the API (with `opts`); after them,
 * stop the API, remove the seed and close the driver. `started` receives the running server.
 */
export function withSeededApi(started: (api: ApiServer) => void, opts: StartOptions = {}): void {
  let api: ApiServer | undefined;
  before(async () => {
    await requireServer();
    await seed();
    api = await startApi(opts);
    started(api);
  });
  after(async () => {
    await api?.close();
    await cleanup();
    await closeDriver();
  });
}

// biome-ignore lint/suspicious/noExplicitAny: GraphQL JSON responses, checked field by field in the tests.
export type Json = any;

export interface GqlResponse {
  status: number;
  body: {
    data?: Record<string, Json> | null;
    errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  };
}

export async function gql(
  api: ApiServer,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GqlResponse> {
  const res = await fetch(api.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: GqlResponse["body"];
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`status ${res.status}, not JSON: ${text.slice(0, 300)}`);
  }
  return { status: res.status, body };
}

/** The data of a response that must have no errors. */
export async function data(api: ApiServer, query: string, variables: Record<string, unknown> = {}) {
  const r = await gql(api, query, variables);
  if (r.body.errors?.length || r.status !== 200) {
    throw new Error(`status ${r.status}: ${JSON.stringify(r.body.errors)}`);
  }
  return r.body.data!;
}

export const codes = (r: GqlResponse) => (r.body.errors ?? []).map((e) => e.extensions?.code);

export { closeDriver };
