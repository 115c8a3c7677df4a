// The LLM boundary: Chat Completions with structured output (response_format json_schema) against
// any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama). The SDK retries 429, 5xx,
// connection errors and timeouts (maxRetries, honouring retry-after); malformed answers (not JSON,
// wrong shape) are retried here. A shared limiter caps concurrent requests and requests per minute.
// Answers are cached on disk by a hash of everything that determines the request.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import type { z } from "zod";
import { writeFileAtomic } from "../transcoder/io.ts";

export interface LlmOptions {
  /** Default: OPENAI_BASE_URL (the SDK's default, api.openai.com, when unset). */
  baseURL?: string;
  /** Default: OPENAI_API_KEY ("not-needed" for local servers that ignore it). */
  apiKey?: string;
  model: string;
  temperature?: number;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
  /** SDK retries for 429 / 5xx / timeouts. */
  maxRetries?: number;
  /** Extra attempts when the answer is not valid JSON of the expected shape. */
  malformedRetries?: number;
  concurrency?: number;
  requestsPerMinute?: number;
  /** Directory of cached answers (null: no cache). */
  cacheDir?: string | null;
  /** Skip cache reads (relabeling); answers are still written. */
  refresh?: boolean;
  seed?: number;
}

export interface Usage {
  calls: number;
  promptTokens: number;
  completionTokens: number;
}

export interface CallResult<T> {
  value: T;
  usage: Usage;
  cacheKey: string;
  cached: boolean;
  attempts: number;
}

export class LlmError extends Error {
  constructor(
    message: string,
    readonly attempts: number,
  ) {
    super(message);
  }
}

/** FIFO limiter: at most `concurrency` requests in flight, starts spaced ≥ 60000/rpm ms apart. */
class Limiter {
  private active = 0;
  private queue: (() => void)[] = [];
  private nextStart = 0;
  constructor(
    private readonly concurrency: number,
    private readonly rpm: number,
  ) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.concurrency) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      if (this.rpm > 0) {
        const now = Date.now();
        const wait = Math.max(0, this.nextStart - now);
        this.nextStart = Math.max(now, this.nextStart) + 60000 / this.rpm;
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

export class LlmClient {
  readonly client: OpenAI;
  readonly endpoint: string;
  private readonly limiter: Limiter;

  constructor(readonly o: LlmOptions) {
    const baseURL = o.baseURL ?? process.env.OPENAI_BASE_URL;
    this.client = new OpenAI({
      apiKey: o.apiKey ?? process.env.OPENAI_API_KEY ?? "not-needed",
      ...(baseURL ? { baseURL } : {}),
      timeout: o.timeoutMs ?? 60_000,
      maxRetries: o.maxRetries ?? 4,
    });
    this.endpoint = this.client.baseURL;
    this.limiter = new Limiter(o.concurrency ?? 4, o.requestsPerMinute ?? 0);
  }

  /**
   * One structured call. `schema` validates the parsed answer; `jsonSchema` is what the endpoint is
   * told (response_format json_schema, strict). Throws LlmError after the retries are used up.
   */
  async call<T>(
    name: string,
    messages: { role: "system" | "user"; content: string }[],
    jsonSchema: Record<string, unknown>,
    schema: z.ZodType<T>,
    check?: (v: T) => string | null,
  ): Promise<CallResult<T>> {
    const temperature = this.o.temperature ?? 0;
    const request = {
      model: this.o.model,
      messages,
      temperature,
      ...(this.o.seed !== undefined ? { seed: this.o.seed } : {}),
      response_format: { type: "json_schema" as const, json_schema: { name, strict: true, schema: jsonSchema } },
    };
    const cacheKey = createHash("sha256")
      .update(JSON.stringify({ endpoint: this.endpoint, ...request }))
      .digest("hex");
    const path = this.o.cacheDir ? join(this.o.cacheDir, cacheKey.slice(0, 2), `${cacheKey}.json`) : null;
    if (path && !this.o.refresh && existsSync(path)) {
      const hit = JSON.parse(readFileSync(path, "utf8")) as { content: string };
      const parsed = parseAnswer(hit.content, schema, check);
      if (parsed.ok)
        return {
          value: parsed.value,
          usage: { calls: 0, promptTokens: 0, completionTokens: 0 },
          cacheKey,
          cached: true,
          attempts: 0,
        };
    }
    const usage: Usage = { calls: 0, promptTokens: 0, completionTokens: 0 };
    const tries = 1 + (this.o.malformedRetries ?? 2);
    let last = "";
    for (let attempt = 1; attempt <= tries; attempt++) {
      let content: string;
      try {
        const res = await this.limiter.run(() => this.client.chat.completions.create(request));
        usage.calls++;
        usage.promptTokens += res.usage?.prompt_tokens ?? 0;
        usage.completionTokens += res.usage?.completion_tokens ?? 0;
        content = res.choices[0]?.message?.content ?? "";
      } catch (e) {
        // The SDK has already retried what is retryable (429, 5xx, timeouts).
        throw new LlmError(`${this.o.model} at ${this.endpoint}: ${(e as Error).message}`, attempt);
      }
      const parsed = parseAnswer(content, schema, check);
      if (parsed.ok) {
        if (path) {
          mkdirSync(join(this.o.cacheDir!, cacheKey.slice(0, 2)), { recursive: true });
          writeFileAtomic(path, JSON.stringify({ content, model: this.o.model, at: new Date().toISOString() }));
        }
        return { value: parsed.value, usage, cacheKey, cached: false, attempts: attempt };
      }
      last = parsed.error;
    }
    throw Object.assign(new LlmError(`${this.o.model} gave no valid answer after ${tries} attempts: ${last}`, tries), {
      usage,
    });
  }
}

function parseAnswer<T>(
  content: string,
  schema: z.ZodType<T>,
  check?: (v: T) => string | null,
): { ok: true; value: T } | { ok: false; error: string } {
  let raw: unknown;
  try {
    // Some local servers wrap JSON in a code fence despite the schema.
    raw = JSON.parse(content.replace(/^\s*```(?:json)?\s*|\s*```\s*$/g, ""));
  } catch {
    return { ok: false, error: `answer is not JSON: ${JSON.stringify(content.slice(0, 80))}` };
  }
  const r = schema.safeParse(raw);
  if (!r.success) return { ok: false, error: `answer has the wrong shape: ${r.error.issues[0]?.message ?? ""}` };
  const problem = check?.(r.data) ?? null;
  return problem ? { ok: false, error: problem } : { ok: true, value: r.data };
}
