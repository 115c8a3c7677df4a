// API configuration from the environment (zod at the edge: one clear sentence per bad variable).
import { z } from "zod";

const bool = z.enum(["1", "0", "true", "false", "on", "off"]).transform((v) => ["1", "true", "on"].includes(v));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const Env = z.object({
  PORT: int(0, 65535).default(4000),
  HOST: z.string().min(1).default("127.0.0.1"),
  NODE_ENV: z.string().default("development"),
  /** "name:key,name2:key2" or a bare key (named "default"); empty = mutations disabled. */
  ATLAS_API_KEYS: z.string().default(""),
  ATLAS_API_KEY: z.string().default(""),
  ATLAS_API_INTROSPECTION: bool.optional(),
  ATLAS_API_GRAPHIQL: bool.optional(),
  ATLAS_API_MAX_DEPTH: int(2, 50).default(10),
  ATLAS_API_MAX_COST: int(10, 10_000_000).default(10_000),
  ATLAS_API_MAX_PAGE: int(1, 10_000).default(100),
  ATLAS_API_TIMEOUT_MS: int(100, 600_000).default(10_000),
  ATLAS_API_MAX_BODY: z.string().default("100kb"),
  /** Where traceGraph jobs write their graphs. */
  ATLAS_API_JOBS_DIR: z.string().default("runs/api-jobs"),
});

export interface ApiKey {
  name: string;
  key: string;
}

export interface ApiConfig {
  port: number;
  host: string;
  production: boolean;
  apiKeys: ApiKey[];
  introspection: boolean;
  graphiql: boolean;
  maxDepth: number;
  maxCost: number;
  maxPage: number;
  timeoutMs: number;
  maxBody: string;
  jobsDir: string;
}

export function parseApiKeys(spec: string): ApiKey[] {
  return spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s, i) => {
      const at = s.indexOf(":");
      return at > 0
        ? { name: s.slice(0, at), key: s.slice(at + 1) }
        : { name: i === 0 ? "default" : `key${i}`, key: s };
    })
    .filter((k) => k.key.length > 0);
}

export function loadApiConfig(env: Record<string, string | undefined> = process.env): ApiConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`invalid environment variable ${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === "production";
  return {
    port: e.PORT,
    host: e.HOST,
    production,
    apiKeys: parseApiKeys([e.ATLAS_API_KEYS, e.ATLAS_API_KEY].filter(Boolean).join(",")),
    introspection: e.ATLAS_API_INTROSPECTION ?? !production,
    graphiql: e.ATLAS_API_GRAPHIQL ?? !production,
    maxDepth: e.ATLAS_API_MAX_DEPTH,
    maxCost: e.ATLAS_API_MAX_COST,
    maxPage: e.ATLAS_API_MAX_PAGE,
    timeoutMs: e.ATLAS_API_TIMEOUT_MS,
    maxBody: e.ATLAS_API_MAX_BODY,
    jobsDir: e.ATLAS_API_JOBS_DIR,
  };
}
