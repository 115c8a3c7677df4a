import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { canonicalRepoId, hubCacheDir, type PullOptions, pullModel, repoCacheDir } from "../src/model/hub.ts";
import { loadModel } from "../src/model/load.ts";

// ---------------------------------------------------------------------------------------------
// A tiny random GPT-2 checkpoint in the HF layout (own minimal safetensors writer: u64 LE header
// length, JSON header, packed little-endian F32 data).

function tinyGpt2(seed: number): { config: Buffer; weights: Buffer } {
  const cfg = { n_layer: 2, n_head: 2, n_embd: 8, n_positions: 16, vocab_size: 20, layer_norm_epsilon: 1e-5 };
  const d = cfg.n_embd;
  const shapes: [string, number[]][] = [
    ["wte.weight", [cfg.vocab_size, d]],
    ["wpe.weight", [cfg.n_positions, d]],
    ["ln_f.weight", [d]],
    ["ln_f.bias", [d]],
  ];
  for (let i = 0; i < cfg.n_layer; i++) {
    shapes.push(
      [`h.${i}.ln_1.weight`, [d]],
      [`h.${i}.ln_1.bias`, [d]],
      [`h.${i}.attn.c_attn.weight`, [d, 3 * d]],
      [`h.${i}.attn.c_attn.bias`, [3 * d]],
      [`h.${i}.attn.c_proj.weight`, [d, d]],
      [`h.${i}.attn.c_proj.bias`, [d]],
      [`h.${i}.ln_2.weight`, [d]],
      [`h.${i}.ln_2.bias`, [d]],
      [`h.${i}.mlp.c_fc.weight`, [d, 4 * d]],
      [`h.${i}.mlp.c_fc.bias`, [4 * d]],
      [`h.${i}.mlp.c_proj.weight`, [4 * d, d]],
      [`h.${i}.mlp.c_proj.bias`, [d]],
    );
  }
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, () => (name.includes("ln") ? 1 : 0.1 * rand()));
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + 4 * n] };
    chunks.push(Buffer.from(data.buffer));
    offset += 4 * n;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const config = Buffer.from(JSON.stringify({ model_type: "gpt2", architectures: ["GPT2LMHeadModel"], ...cfg }));
  return { config, weights: Buffer.concat([len, Buffer.from(json), ...chunks]) };
}

// ---------------------------------------------------------------------------------------------
// A hub-shaped HTTP server on 127.0.0.1: /{repo}/resolve/{rev}/{file}; LFS files redirect (302)
// to /cdn/{sha256} with X-Linked-Etag / X-Linked-Size, as the real hub does.

interface RepoFiles {
  commit: string;
  files: Record<string, { body: Buffer; lfs: boolean }>;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const gitSha = (b: Buffer) => createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");

class HubServer {
  server!: Server;
  endpoint = "";
  repos = new Map<string, RepoFiles>();
  log: { method: string; url: string; range?: string; auth?: string }[] = [];
  /** Blob sha256s whose next GET is cut halfway through. */
  cutOnce = new Set<string>();
  /** Blob sha256s served with one flipped byte. */
  corrupt = new Set<string>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  gets(): typeof this.log {
    return this.log.filter((l) => l.method === "GET");
  }

  private blob(sha: string): Buffer | undefined {
    for (const repo of this.repos.values()) {
      for (const f of Object.values(repo.files)) if (f.lfs && sha256(f.body) === sha) return f.body;
    }
    return undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = decodeURIComponent(req.url ?? "");
    this.log.push({ method: req.method ?? "", url, range: req.headers.range, auth: req.headers.authorization });
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url);
    if (cdn) {
      const sha = cdn[1] as string;
      let body = this.blob(sha);
      if (!body) return void res.writeHead(404).end();
      if (this.corrupt.has(sha)) {
        body = Buffer.from(body);
        const i = body.length >> 1;
        body.writeUInt8((body[i] as number) ^ 0xff, i);
      }
      this.sendBytes(req, res, body, this.cutOnce.delete(sha));
      return;
    }
    const m = /^\/(.+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const repo = m && this.repos.get(m[1] as string);
    if (!m || !repo) return void res.writeHead(401, { "x-error-code": "RepoNotFound" }).end();
    const rev = m[2] as string;
    if (rev !== "main" && rev !== repo.commit)
      return void res.writeHead(404, { "x-error-code": "RevisionNotFound" }).end();
    const file = repo.files[m[3] as string];
    if (!file) return void res.writeHead(404, { "x-error-code": "EntryNotFound", "x-repo-commit": repo.commit }).end();
    if (file.lfs) {
      const sha = sha256(file.body);
      res.writeHead(302, {
        location: `/cdn/${sha}`,
        "x-repo-commit": repo.commit,
        "x-linked-etag": `"${sha}"`,
        "x-linked-size": String(file.body.length),
        etag: `"${gitSha(file.body)}"`,
      });
      return void res.end();
    }
    res.setHeader("x-repo-commit", repo.commit);
    res.setHeader("etag", `"${gitSha(file.body)}"`);
    this.sendBytes(req, res, file.body, false);
  }

  private sendBytes(req: IncomingMessage, res: ServerResponse, body: Buffer, cut: boolean): void {
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (range) {
      start = Number(range[1]);
      if (start >= body.length) return void res.writeHead(416).end();
      res.writeHead(206, {
        "content-length": String(body.length - start),
        "content-range": `bytes ${start}-${body.length - 1}/${body.length}`,
      });
    } else {
      res.writeHead(200, { "content-length": String(body.length) });
    }
    if (req.method === "HEAD") return void res.end();
    if (cut) {
      // Send part of the body, then drop the connection.
      res.write(body.subarray(start, start + ((body.length - start) >> 1)));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.end(body.subarray(start));
  }
}

const hub = new HubServer();
const tmp = mkdtempSync(join(tmpdir(), "atlas-hub-"));
const A = tinyGpt2(1);
const B = tinyGpt2(2);
// Compact vocabulary: GPT-2 id of each of the 20 model rows.
const VOCAB = Buffer.from(JSON.stringify([...Array.from({ length: 19 }, (_, i) => 464 + i), 50256]));
const COMMIT_A = "a".repeat(40);
const COMMIT_B = "b".repeat(40);
let caseNo = 0;
const freshCache = () => join(tmp, `cache-${caseNo++}`);
const opts = (cacheDir: string, extra: PullOptions = {}): PullOptions => ({
  cacheDir,
  endpoint: hub.endpoint,
  env: {},
  retries: 0,
  ...extra,
});

before(async () => {
  await hub.start();
  hub.repos.set("openai-community/gpt2", {
    commit: COMMIT_A,
    files: { "config.json": { body: A.config, lfs: false }, "model.safetensors": { body: A.weights, lfs: true } },
  });
  hub.repos.set("atlas/tiny", {
    commit: COMMIT_B,
    files: {
      "config.json": { body: B.config, lfs: false },
      "model.safetensors": { body: B.weights, lfs: true },
      "vocab_map.json": { body: VOCAB, lfs: false },
    },
  });
});
after(async () => {
  await hub.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test("full download into the huggingface_hub cache layout; gpt2 → openai-community/gpt2", async () => {
  const cache = freshCache();
  hub.log = [];
  const got = await pullModel("gpt2", opts(cache, { token: "hf_secret" }));
  const repoDir = join(cache, "models--openai-community--gpt2");
  assert.equal(got.dir, join(repoDir, "snapshots", COMMIT_A));
  assert.equal(got.commit, COMMIT_A);
  assert.deepEqual(got.files, ["config.json", "model.safetensors"]);
  assert.equal(got.fromCache, false);
  assert.deepEqual(readFileSync(join(got.dir, "config.json")), A.config);
  assert.deepEqual(readFileSync(join(got.dir, "model.safetensors")), A.weights);
  // Snapshot entries are relative symlinks into blobs/{etag}; LFS blobs are named by sha256.
  const link = join(got.dir, "model.safetensors");
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readlinkSync(link), join("..", "..", "blobs", sha256(A.weights)));
  assert.ok(existsSync(join(repoDir, "blobs", gitSha(A.config))));
  assert.equal(readFileSync(join(repoDir, "refs", "main"), "utf8"), COMMIT_A);
  // The optional vocab_map.json is absent: recorded like huggingface_hub does.
  assert.ok(existsSync(join(repoDir, ".no_exist", COMMIT_A, "vocab_map.json")));
  assert.ok(!readdirSync(join(repoDir, "blobs")).some((f) => f.endsWith(".incomplete")));
  assert.ok(hub.log.every((l) => l.url.startsWith("/cdn/") || l.url.startsWith("/openai-community/gpt2/")));
  assert.ok(hub.log.some((l) => l.auth === "Bearer hf_secret"));

  // A second pull only asks for metadata.
  hub.log = [];
  const again = await pullModel("openai-community/gpt2", opts(cache));
  assert.equal(again.fromCache, true);
  assert.equal(hub.gets().length, 0);
  assert.ok(hub.log.every((l) => l.auth === undefined));
});

test("optional vocab_map.json is fetched when present; HF_ENDPOINT / HF_HUB_CACHE / HF_TOKEN from env", async () => {
  const cache = freshCache();
  hub.log = [];
  const got = await pullModel("atlas/tiny", {
    retries: 0,
    env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_TOKEN: "tok" },
  });
  assert.equal(got.dir, join(cache, "models--atlas--tiny", "snapshots", COMMIT_B));
  assert.deepEqual(got.files, ["config.json", "model.safetensors", "vocab_map.json"]);
  assert.deepEqual(readFileSync(join(got.dir, "vocab_map.json")), VOCAB);
  assert.ok(hub.log.every((l) => l.auth === "Bearer tok"));
  // The snapshot folder is a loadable model folder.
  const model = await loadModel(got.dir);
  assert.equal(model.config.nLayers, 2);
  assert.deepEqual(model.toGpt2Ids([0, 19]), [464, 50256]);
  model.dispose();
});

test("resume: a dropped connection leaves .incomplete; the next run continues with a Range request", async () => {
  const cache = freshCache();
  const sha = sha256(A.weights);
  hub.cutOnce.add(sha);
  hub.log = [];
  await assert.rejects(
    pullModel("gpt2", opts(cache)),
    /download of model\.safetensors from openai-community\/gpt2 interrupted at \d+\/\d+ bytes .*run again to resume/,
  );
  const partial = join(repoCacheDir(cache, "gpt2"), "blobs", `${sha}.incomplete`);
  const partialSize = readFileSync(partial).length;
  assert.ok(partialSize > 0 && partialSize < A.weights.length);
  assert.ok(!existsSync(join(repoCacheDir(cache, "gpt2"), "snapshots", COMMIT_A, "model.safetensors")));

  hub.log = [];
  const got = await pullModel("gpt2", opts(cache));
  assert.deepEqual(readFileSync(join(got.dir, "model.safetensors")), A.weights);
  const blobGets = hub.gets().filter((l) => l.url === `/cdn/${sha}`);
  assert.deepEqual(
    blobGets.map((l) => l.range),
    [`bytes=${partialSize}-`],
  );
  assert.ok(!existsSync(partial));
});

test("resume: with retries, one call survives a dropped connection", async () => {
  const cache = freshCache();
  const sha = sha256(B.weights);
  hub.cutOnce.add(sha);
  hub.log = [];
  const got = await pullModel("atlas/tiny", opts(cache, { retries: 2 }));
  assert.deepEqual(readFileSync(join(got.dir, "model.safetensors")), B.weights);
  const ranges = hub
    .gets()
    .filter((l) => l.url === `/cdn/${sha}`)
    .map((l) => l.range);
  assert.equal(ranges.length, 2);
  assert.equal(ranges[0], undefined);
  assert.match(ranges[1] ?? "", /^bytes=\d+-$/);
});

test("checksum mismatch → error, and no corrupt file is left in the cache", async () => {
  const cache = freshCache();
  const sha = sha256(A.weights);
  hub.corrupt.add(sha);
  try {
    await assert.rejects(
      pullModel("gpt2", opts(cache)),
      new RegExp(`checksum mismatch for model\\.safetensors .*expected sha256 ${sha}`),
    );
  } finally {
    hub.corrupt.delete(sha);
  }
  const repoDir = repoCacheDir(cache, "gpt2");
  assert.deepEqual(
    readdirSync(join(repoDir, "blobs")).filter((f) => f !== gitSha(A.config)),
    [],
  );
  assert.ok(!existsSync(join(repoDir, "snapshots", COMMIT_A, "model.safetensors")));
});

test("offline: a complete cache works without any request; an empty cache is one clear error", async () => {
  const cache = freshCache();
  await pullModel("atlas/tiny", opts(cache));
  hub.log = [];
  const got = await pullModel("atlas/tiny", { cacheDir: cache, env: { HF_HUB_OFFLINE: "1" } });
  assert.equal(hub.log.length, 0);
  assert.equal(got.fromCache, true);
  assert.equal(got.commit, COMMIT_B);
  assert.deepEqual(got.files, ["config.json", "model.safetensors", "vocab_map.json"]);
  assert.deepEqual(readFileSync(join(got.dir, "model.safetensors")), B.weights);
  // By commit hash, too.
  const byCommit = await pullModel("atlas/tiny", { cacheDir: cache, offline: true, revision: COMMIT_B });
  assert.equal(byCommit.dir, got.dir);

  await assert.rejects(
    pullModel("gpt2", { cacheDir: freshCache(), env: { HF_HUB_OFFLINE: "1" } }),
    /HF_HUB_OFFLINE is set and openai-community\/gpt2@main is not in the cache .* \(no refs\/main\)/,
  );
  assert.equal(hub.log.length, 0);
});

test("network errors: one clear line, or the complete cache when the hub is unreachable", async () => {
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
  const port = (dead.address() as AddressInfo).port;
  await new Promise((r) => dead.close(r));
  const endpoint = `http://127.0.0.1:${port}`;
  await assert.rejects(
    pullModel("gpt2", { cacheDir: freshCache(), endpoint, env: {}, retries: 0 }),
    new RegExp(`cannot reach ${endpoint} \\(ECONNREFUSED\\).*HF_HUB_OFFLINE=1`),
  );
  const cache = freshCache();
  await pullModel("gpt2", opts(cache));
  const got = await pullModel("gpt2", { cacheDir: cache, endpoint, env: {}, retries: 0 });
  assert.equal(got.fromCache, true);
  assert.deepEqual(readFileSync(join(got.dir, "config.json")), A.config);
});

test("missing repo / revision / required file → clear errors", async () => {
  await assert.rejects(pullModel("nobody/nothing", opts(freshCache())), /model repo nobody\/nothing not found/);
  await assert.rejects(pullModel("gpt2", opts(freshCache(), { revision: "v9" })), /revision v9 not found/);
  await assert.rejects(
    pullModel("gpt2", opts(freshCache(), { files: ["config.json", "pytorch_model.bin"] })),
    /pytorch_model\.bin not found in openai-community\/gpt2 at revision main/,
  );
  assert.throws(() => canonicalRepoId("../etc/passwd"), /invalid model repo id/);
});

test("cache folder resolution follows huggingface_hub", () => {
  assert.equal(hubCacheDir({ HF_HUB_CACHE: "/x/hub", HF_HOME: "/y" }), "/x/hub");
  assert.equal(hubCacheDir({ HF_HOME: "/y" }), join("/y", "hub"));
  assert.equal(hubCacheDir({}), join(homedir(), ".cache", "huggingface", "hub"));
  assert.equal(repoCacheDir("/c", "gpt2"), join("/c", "models--openai-community--gpt2"));
  assert.equal(canonicalRepoId("distilgpt2"), "distilbert/distilgpt2");
});
