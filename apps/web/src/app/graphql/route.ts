// Forwards GraphQL POSTs from the browser to the API (ATLAS_API_URL, read at request time), so client
// components re-fetch through the same contract as server components without knowing the API's address.
import { apiUrl } from "../../lib/api.ts";

export const dynamic = "force-dynamic";

const MAX_BODY = 64 * 1024;

export async function POST(req: Request): Promise<Response> {
  const body = await req.text();
  if (body.length > MAX_BODY) return gqlError(413, "The GraphQL request is larger than 64 KiB.", "BAD_USER_INPUT");
  try {
    const res = await fetch(apiUrl(), {
      method: "POST",
      headers: { "content-type": "application/json", accept: req.headers.get("accept") ?? "application/json" },
      body,
      cache: "no-store",
      signal: AbortSignal.timeout(15_000),
    });
    return new Response(res.body, {
      status: res.status,
      headers: { "content-type": res.headers.get("content-type") ?? "application/json" },
    });
  } catch {
    return gqlError(502, "The atlas API is not answering.", "API_UNAVAILABLE");
  }
}

function gqlError(status: number, message: string, code: string): Response {
  return Response.json({ errors: [{ message, extensions: { code } }] }, { status });
}
