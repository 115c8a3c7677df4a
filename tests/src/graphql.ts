// A GraphQL request over HTTP that must succeed: the data, or an error naming the API's messages.
export async function gqlData<T>(url: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const send = () =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
  let res: Response;
  try {
    res = await send();
  } catch (e) {
    // A kept-alive socket the server closed for idleness just as the request went out: send it once
    // more on a fresh one (only reads go through here).
    if ((e as { cause?: { code?: string } }).cause?.code !== "UND_ERR_SOCKET") throw e;
    res = await send();
  }
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
