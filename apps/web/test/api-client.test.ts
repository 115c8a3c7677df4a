// The site's GraphQL client against a real local HTTP server: data, typed errors, and an API that
// is down or answers garbage (the pages turn these into a 404 or a clear message).
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { ApiError, ApiUnavailableError, isNotFound, request } from "../src/lib/api.ts";

let server: Server;
let url: string;
const seen: { query: string; variables: unknown; contentType: string | undefined }[] = [];

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const parsed = JSON.parse(body) as { query: string; variables: Record<string, unknown> };
      seen.push({ query: parsed.query, variables: parsed.variables, contentType: req.headers["content-type"] });
      const mode = parsed.variables.mode;
      if (mode === "garbage") {
        res.writeHead(502, { "content-type": "text/html" }).end("<html>bad gateway</html>");
      } else if (mode === "notfound") {
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            data: { feature: null },
            errors: [{ message: "no feature x", extensions: { code: "NOT_FOUND" } }],
          }),
        );
      } else if (mode === "bad") {
        res
          .writeHead(400, { "content-type": "application/json" })
          .end(
            JSON.stringify({ errors: [{ message: "first must be ≤ 100", extensions: { code: "BAD_USER_INPUT" } }] }),
          );
      } else if (mode === "slow") {
        setTimeout(() => res.writeHead(200).end("{}"), 2000);
      } else {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ data: { echo: parsed.variables } }));
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test("posts the document and variables as JSON and returns data", async () => {
  const data = await request<{ echo: unknown }, { mode: string; n: number }>(
    "query Q { x }",
    { mode: "ok", n: 3 },
    { url },
  );
  assert.deepEqual(data, { echo: { mode: "ok", n: 3 } });
  assert.equal(seen.at(-1)!.query, "query Q { x }");
  assert.equal(seen.at(-1)!.contentType, "application/json");
});

test("a NOT_FOUND GraphQL error is recognisable (the pages answer it with the 404 page)", async () => {
  const e = await request("query { f }", { mode: "notfound" }, { url }).catch((x: unknown) => x);
  assert.ok(e instanceof ApiError);
  assert.equal(e.code, "NOT_FOUND");
  assert.ok(isNotFound(e));
});

test("other GraphQL errors keep their code and message", async () => {
  const e = await request("query { f }", { mode: "bad" }, { url }).catch((x: unknown) => x);
  assert.ok(e instanceof ApiError);
  assert.equal(e.code, "BAD_USER_INPUT");
  assert.equal(e.message, "first must be ≤ 100");
  assert.ok(!isNotFound(e));
});

test("a non-GraphQL answer, a closed port and a timeout all read as 'API unavailable'", async () => {
  const garbage = await request("query { f }", { mode: "garbage" }, { url }).catch((x: unknown) => x);
  assert.ok(garbage instanceof ApiUnavailableError);
  assert.match(garbage.message, /HTTP 502/);

  const closed = createServer();
  await new Promise<void>((ok) => closed.listen(0, "127.0.0.1", ok));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((ok) => closed.close(() => ok()));
  const refused = await request("query { f }", {}, { url: `http://127.0.0.1:${port}/graphql` }).catch(
    (x: unknown) => x,
  );
  assert.ok(refused instanceof ApiUnavailableError);
  assert.match(refused.message, /not answering \(ECONNREFUSED\)/);

  const slow = await request("query { f }", { mode: "slow" }, { url, timeoutMs: 200 }).catch((x: unknown) => x);
  assert.ok(slow instanceof ApiUnavailableError);
  assert.match(slow.message, /timed out/);
});

test("the /graphql forwarder's API_UNAVAILABLE answer reads as 'API unavailable' in the browser", async () => {
  const fwd = createServer((_req, res) =>
    res.writeHead(502, { "content-type": "application/json" }).end(
      JSON.stringify({
        errors: [{ message: "The atlas API is not answering.", extensions: { code: "API_UNAVAILABLE" } }],
      }),
    ),
  );
  await new Promise<void>((ok) => fwd.listen(0, "127.0.0.1", ok));
  const u = `http://127.0.0.1:${(fwd.address() as AddressInfo).port}/graphql`;
  const e = await request("query { f }", {}, { url: u }).catch((x: unknown) => x);
  fwd.close();
  assert.ok(e instanceof ApiUnavailableError);
});
