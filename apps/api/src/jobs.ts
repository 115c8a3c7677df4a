// traceGraph jobs: a bounded in-process queue that runs the pipeline (`atlas trace`, then
// `atlas ingest` of the new graph) one job at a time, so a burst of requests cannot fork a burst
// of model runs. Jobs live in memory (a restart forgets them; their graphs stay in the atlas).
import { randomUUID } from "node:crypto";
import { badInput } from "./errors.ts";

export type JobStatus = "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED";

export interface Job {
  id: string;
  kind: "traceGraph";
  status: JobStatus;
  prompt: string;
  transcoderId: string | null;
  author: string;
  graphId: string | null;
  error: string | null;
  log: string[];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface JobInput {
  prompt: string;
  transcoderId: string | null;
  author: string;
}

/** Runs one job; returns the id of the ingested graph. `log` appends progress lines. */
export type JobRunner = (job: Job, log: (line: string) => void) => Promise<string>;

export class JobQueue {
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private running = false;

  constructor(
    private readonly runner: JobRunner,
    private readonly maxQueued = 20,
    private readonly maxKept = 1000,
  ) {}

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  submit(input: JobInput): Job {
    if (this.queue.length >= this.maxQueued) {
      throw badInput(`the trace queue is full (${this.maxQueued} jobs waiting): try again later`);
    }
    const job: Job = {
      id: randomUUID(),
      kind: "traceGraph",
      status: "QUEUED",
      ...input,
      graphId: null,
      error: null,
      log: [],
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
    };
    this.jobs.set(job.id, job);
    for (const old of this.jobs.keys()) {
      if (this.jobs.size <= this.maxKept) break;
      const j = this.jobs.get(old)!;
      if (j.status === "SUCCEEDED" || j.status === "FAILED") this.jobs.delete(old);
    }
    this.queue.push(job);
    void this.pump();
    return job;
  }

  /** Resolves when every queued job has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.queue.length > 0) await new Promise((r) => setTimeout(r, 20));
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) {
        job.status = "RUNNING";
        job.startedAt = new Date().toISOString();
        try {
          job.graphId = await this.runner(job, (line) => {
            job.log.push(line);
            if (job.log.length > 200) job.log.shift();
          });
          job.status = "SUCCEEDED";
        } catch (err) {
          job.status = "FAILED";
          job.error = err instanceof Error ? err.message : String(err);
        }
        job.finishedAt = new Date().toISOString();
      }
    } finally {
      this.running = false;
    }
  }
}
