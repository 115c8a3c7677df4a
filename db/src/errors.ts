// Typed errors: callers catch these instead of matching Neo4j status codes themselves.

/** Base class of every error this package throws on purpose. `code` is Neo4j's status code when there is one. */
export class DbError extends Error {
  readonly code: string | undefined;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code;
  }
}

/** A uniqueness (or existence) constraint rejected a write. `label`/`property` are parsed from Neo4j's message when present. */
export class ConstraintViolationError extends DbError {
  readonly label: string | undefined;
  readonly property: string | undefined;
  constructor(message: string, options: { cause?: unknown; code?: string; label?: string; property?: string }) {
    super(message, options);
    this.label = options.label;
    this.property = options.property;
  }
}

/** A query that must return a row returned none. */
export class NotFoundError extends DbError {}

/** The server cannot be reached (down, wrong URI, or gone mid-transaction after retries ran out). */
export class DbUnavailableError extends DbError {}

/** The server rejected the credentials. */
export class DbAuthError extends DbError {}

/** Cypher the server refused to parse or plan (a bug in our query, never user input: we only send parameters). */
export class CypherError extends DbError {}

/** A Neo4j integer outside JavaScript's safe integer range (±2^53−1) where a number was expected. */
export class IntegerOverflowError extends DbError {}

/** A migration file changed after it was applied, or the migration folder is malformed. */
export class MigrationError extends DbError {}

interface Neo4jLikeError {
  code?: unknown;
  message?: unknown;
  name?: unknown;
}

const CONSTRAINT_CODES = new Set([
  "Neo.ClientError.Schema.ConstraintValidationFailed",
  "Neo.ClientError.Schema.ConstraintViolation",
]);
const UNAVAILABLE_CODES = new Set([
  "ServiceUnavailable",
  "SessionExpired",
  "Neo.TransientError.General.DatabaseUnavailable",
]);

/** Maps a driver error to one of the classes above; anything else is returned unchanged. */
export function mapError(err: unknown, uri?: string): unknown {
  if (err instanceof DbError || typeof err !== "object" || err === null) return err;
  const e = err as Neo4jLikeError;
  const code = typeof e.code === "string" ? e.code : undefined;
  const message = typeof e.message === "string" ? e.message : String(err);
  if (!code) return err;
  if (CONSTRAINT_CODES.has(code)) {
    // e.g. "Node(12) already exists with label `Model` and property `id` = 'm1'"
    const label = /label `([^`]+)`/.exec(message)?.[1];
    const property = /propert(?:y|ies) `([^`]+)`/.exec(message)?.[1];
    return new ConstraintViolationError(`constraint violated: ${message}`, { cause: err, code, label, property });
  }
  if (UNAVAILABLE_CODES.has(code)) {
    const where = uri ? ` at ${uri}` : "";
    return new DbUnavailableError(`Neo4j is not reachable${where} (${message}); start it with \`npm run db:up\``, {
      cause: err,
      code,
    });
  }
  if (code === "Neo.ClientError.Security.Unauthorized" || code === "Neo.ClientError.Security.AuthenticationRateLimit") {
    return new DbAuthError(`Neo4j rejected the credentials (check NEO4J_USER / NEO4J_PASSWORD): ${message}`, {
      cause: err,
      code,
    });
  }
  if (code.startsWith("Neo.ClientError.Statement.")) {
    return new CypherError(`${code}: ${message}`, { cause: err, code });
  }
  return err;
}
