// A local OpenAI-compatible Chat Completions server for the labeler tests. It checks every
// request's shape (model, messages, response_format json_schema, bearer key), records violations,
// and answers through a script: (request, nth call for this key) → reply.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ChatRequest {
  model: string;
  messages: { role: string; content: string }[];
  response_format?: {
    type: string;
    json_schema?: { name: string; strict?: boolean; schema?: { required?: string[] } };
  };
  temperature?: number;
}

export type Reply =
  | { kind: "json"; content: string }
  | { kind: "status"; status: number; retryAfterMs?: number }
  | { kind: "hang"; ms: number; answer: string };

export interface TestServer {
  url: string;
  requests: ChatRequest[];
  violations: string[];
  close(): Promise<void>;
}

export async function startOpenAiServer(opts: {
  model: string;
  key: string;
  script: (req: ChatRequest) => Reply;
}): Promise<TestServer> {
  const requests: ChatRequest[] = [];
  const violations: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        violations.push(`unexpected ${req.method} ${req.url}`);
        res.writeHead(404).end();
        return;
      }
      if (req.headers.authorization !== `Bearer ${opts.key}`)
        violations.push(`bad authorization ${req.headers.authorization}`);
      let r: ChatRequest;
      try {
        r = JSON.parse(body) as ChatRequest;
      } catch {
        violations.push("request body is not JSON");
        res.writeHead(400).end();
        return;
      }
      requests.push(r);
      if (r.model !== opts.model) violations.push(`model ${r.model} ≠ ${opts.model}`);
      const roles = (r.messages ?? []).map((m) => m.role).join(",");
      if (roles !== "system,user" || r.messages.some((m) => typeof m.content !== "string" || !m.content)) {
        violations.push(`messages ${roles}`);
      }
      const rf = r.response_format;
      if (
        rf?.type !== "json_schema" ||
        !rf.json_schema?.name ||
        rf.json_schema.strict !== true ||
        !rf.json_schema.schema?.required?.length
      ) {
        violations.push(`response_format ${JSON.stringify(rf)}`);
      }
      const reply = opts.script(r);
      const ok = (content: string) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id: `chatcmpl-${requests.length}`,
            object: "chat.completion",
            created: Math.floor(Date.now() / 1000),
            model: r.model,
            choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content } }],
            usage: {
              prompt_tokens: Math.ceil(body.length / 4),
              completion_tokens: Math.ceil(content.length / 4),
              total_tokens: 0,
            },
          }),
        );
      };
      if (reply.kind === "json") ok(reply.content);
      else if (reply.kind === "status") {
        res.writeHead(reply.status, {
          "content-type": "application/json",
          ...(reply.retryAfterMs !== undefined ? { "retry-after-ms": String(reply.retryAfterMs) } : {}),
        });
        res.end(JSON.stringify({ error: { message: `scripted ${reply.status}`, type: "test" } }));
      } else {
        const t = setTimeout(() => {
          if (!res.destroyed) ok(reply.answer);
        }, reply.ms);
        res.on("close", () => clearTimeout(t));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    violations,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
