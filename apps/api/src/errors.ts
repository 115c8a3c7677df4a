// Typed GraphQL errors: every error a client can cause carries `extensions.code`, so the web app
// (and the tests) branch on codes, never on messages. Unknown errors are masked in production.
import { unwrapResolverError } from "@apollo/server/errors";
import { GraphQLError, type GraphQLFormattedError } from "graphql";

export const ErrorCode = {
  BAD_USER_INPUT: "BAD_USER_INPUT",
  NOT_FOUND: "NOT_FOUND",
  UNAUTHENTICATED: "UNAUTHENTICATED",
  QUERY_TOO_COMPLEX: "QUERY_TOO_COMPLEX",
  TIMEOUT: "TIMEOUT",
  INTERNAL_SERVER_ERROR: "INTERNAL_SERVER_ERROR",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

function typed(code: ErrorCode, message: string, status: number, extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status }, ...extra } });
}

export const badInput = (message: string, argument?: string, status = 200) =>
  typed(ErrorCode.BAD_USER_INPUT, message, status, argument ? { argument } : {});
export const notFound = (what: string) => typed(ErrorCode.NOT_FOUND, `${what} not found`, 200);
export const unauthenticated = (message: string) => typed(ErrorCode.UNAUTHENTICATED, message, 401);
export const tooComplex = (message: string, extra: Record<string, unknown>) =>
  typed(ErrorCode.QUERY_TOO_COMPLEX, message, 400, extra);
export const timedOut = (ms: number) => typed(ErrorCode.TIMEOUT, `the query took longer than ${ms} ms`, 200);

const KNOWN = new Set<string>([
  ...Object.values(ErrorCode),
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
]);

/**
 * Apollo's formatError: keeps typed errors; maps Neo4j timeouts to TIMEOUT; anything else becomes
 * INTERNAL_SERVER_ERROR, with its message hidden in production (the server logs it).
 */
export function formatError(production: boolean, log: (e: unknown) => void) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (typeof code === "string" && KNOWN.has(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) return formatted;
    const original = unwrapResolverError(error);
    const text = original instanceof Error ? original.message : String(original);
    if (/TransactionTimedOut|transaction has been terminated|timed ?out/i.test(text)) {
      return { ...formatted, message: "the query took too long", extensions: { code: ErrorCode.TIMEOUT } };
    }
    log(original);
    return production
      ? {
          message: "internal server error",
          path: formatted.path,
          extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
        }
      : { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.INTERNAL_SERVER_ERROR } };
  };
}
