// Connection settings from the environment, validated once with zod.
import { z } from "zod";

export const DEFAULT_URI = "bolt://127.0.0.1:7687";
/** Sent as basic auth. The local server runs with auth disabled (it listens on loopback only), so any
 * value works there; an external server needs its real credentials in NEO4J_USER / NEO4J_PASSWORD. */
export const DEFAULT_USER = "neo4j";
export const DEFAULT_PASSWORD = "atlas-dev-password";

const SCHEMES = ["bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"];

// An empty variable counts as unset (common in .env files and CI matrices).
const blankToUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema);

const EnvSchema = z.object({
  NEO4J_URI: opt(
    z
      .string()
      .default(DEFAULT_URI)
      .refine((uri) => parseUri(uri) !== null, {
        message: `must look like bolt://host:port (schemes: ${SCHEMES.join(", ")})`,
      }),
  ),
  NEO4J_USER: opt(z.string().default(DEFAULT_USER)),
  NEO4J_PASSWORD: opt(z.string().default(DEFAULT_PASSWORD)),
  NEO4J_DATABASE: opt(
    z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9.-]*$/, "not a valid database name")
      .default("neo4j"),
  ),
  NEO4J_MAX_RETRY_MS: opt(z.coerce.number().int().nonnegative().default(15_000)),
});

export interface DbConfig {
  uri: string;
  user: string;
  password: string;
  database: string;
  /** How long executeRead/executeWrite keep retrying transient errors. */
  maxRetryMs: number;
  host: string;
  port: number;
  /** True when the URI names this machine's loopback interface (the server `db:up` manages). */
  local: boolean;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): DbConfig {
  const r = EnvSchema.safeParse(env);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`invalid database config: ${issue?.path.join(".") ?? "env"} ${issue?.message ?? ""}`.trim());
  }
  const e = r.data;
  const target = parseUri(e.NEO4J_URI)!;
  return {
    uri: e.NEO4J_URI,
    user: e.NEO4J_USER,
    password: e.NEO4J_PASSWORD,
    database: e.NEO4J_DATABASE,
    maxRetryMs: e.NEO4J_MAX_RETRY_MS,
    host: target.host,
    port: target.port,
    local: isLoopback(target.host),
  };
}

export function parseUri(uri: string): { scheme: string; host: string; port: number } | null {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return null;
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (!SCHEMES.includes(scheme) || !u.hostname) return null;
  const port = u.port ? Number(u.port) : 7687;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { scheme, host: u.hostname.replace(/^\[|\]$/g, ""), port };
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
