// One GraphQL client for the site. Server components call the API directly (ATLAS_API_URL);
// client components call the same operations through this app's /graphql route, which forwards
// them, so the browser never needs to know where the API runs.

export const DEFAULT_API_URL = "http://127.0.0.1:4000/graphql";

export function apiUrl(): string {
  return process.env.ATLAS_API_URL ?? DEFAULT_API_URL;
}

/** A document plus the types of its result and variables (what the code generator emits). */
export interface TypedDocument<TResult, TVariables> {
  toString(): string;
  /** Phantom fields: never read, they only carry the types. */
  __apiType?: (variables: TVariables) => TResult;
}

export interface GraphQLErrorShape {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [k: string]: unknown };
}

/** The API could not be reached, timed out, or answered with something that is not GraphQL. */
export class ApiUnavailableError extends Error {
  override name = "ApiUnavailableError";
}

/** The API answered with GraphQL errors; `code` is the first error's extensions.code. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly errors: GraphQLErrorShape[],
  ) {
    super(message);
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.errors.some((x) => x.extensions?.code === "NOT_FOUND");
}

export interface RequestOptions {
  url?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export async function request<TResult, TVariables>(
  doc: TypedDocument<TResult, TVariables> | string,
  variables: TVariables,
  opts: RequestOptions = {},
): Promise<TResult> {
  const url = opts.url ?? apiUrl();
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 15_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json" },
      body: JSON.stringify({ query: doc.toString(), variables }),
      cache: "no-store",
      signal,
    });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    const why = timeout.aborted ? "timed out" : networkReason(e);
    throw new ApiUnavailableError(`The atlas API at ${url} is not answering (${why}).`);
  }
  let body: { data?: TResult | null; errors?: GraphQLErrorShape[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiUnavailableError(`The atlas API at ${url} answered HTTP ${res.status} without a GraphQL body.`);
  }
  if (body.errors?.length) {
    const first = body.errors[0]!;
    // The /graphql forwarder's way of saying the API behind it is down.
    if (first.extensions?.code === "API_UNAVAILABLE") throw new ApiUnavailableError(first.message);
    throw new ApiError(first.message, first.extensions?.code, body.errors);
  }
  if (!res.ok || body.data == null) {
    throw new ApiUnavailableError(`The atlas API at ${url} answered HTTP ${res.status} without data.`);
  }
  return body.data;
}

/** The system error code behind a failed fetch (undici nests it: cause, or cause.errors[] for several addresses). */
function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; errors?: { code?: string }[]; message?: string } }).cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (e as Error).message;
}
