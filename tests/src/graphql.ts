// A GraphQL request over HTTP that must succeed: the data, or an error naming the API's messages.
export async function gqlData<T>(url: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: { data?: T; errors?: { message: string }[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`API answered ${res.status} with non-JSON: ${text.slice(0, 300)}`);
  }
  if (body.errors?.length || res.status !== 200 || !body.data)
    throw new Error(`API (${res.status}): ${(body.errors ?? []).map((e) => e.message).join("; ")}`);
  return body.data;
}
