// Data loading for server components: unknown ids become the 404 page; an unreachable API or a
// GraphQL error becomes a value the page renders as a clear message (never an unhandled crash).
import { notFound } from "next/navigation";
import { ApiError, ApiUnavailableError, isNotFound, request, type TypedDocument } from "./api.ts";

export type Loaded<T> = { ok: true; data: T } | { ok: false; error: ApiUnavailableError | ApiError };

export async function load<TResult, TVariables>(
  doc: TypedDocument<TResult, TVariables>,
  variables: TVariables,
): Promise<Loaded<TResult>> {
  try {
    return { ok: true, data: await request(doc, variables) };
  } catch (e) {
    if (isNotFound(e)) notFound();
    if (e instanceof ApiUnavailableError || e instanceof ApiError) return { ok: false, error: e };
    throw e;
  }
}
