// Downloading a model directory (config.json + model.safetensors [+ vocab_map.json]) from a Hugging
// Face hub, into the same cache layout huggingface_hub uses, so an existing HF cache is reused:
//
//   {cache}/models--{org}--{name}/blobs/{etag}                      file contents
//   {cache}/models--{org}--{name}/snapshots/{commit}/{file}          → ../../blobs/{etag} (symlink)
//   {cache}/models--{org}--{name}/refs/{revision}                    commit hash of a branch/tag
//   {cache}/models--{org}--{name}/.no_exist/{commit}/{file}           marker: optional file absent
//
// cache = $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. Files are fetched from
// {HF_ENDPOINT or https://huggingface.co}/{repo}/resolve/{revision}/{file}; a HEAD request first
// gives the commit (X-Repo-Commit), the LFS sha256 (X-Linked-Etag, else ETag) and the size
// (X-Linked-Size, else Content-Length). Downloads go to blobs/{etag}.incomplete and resume with an
// HTTP Range request after a dropped connection (also across runs); the result is checked against
// the size and, when the etag is a 64-hex sha256, against the sha256 before being renamed into
// place, so a corrupt file is never left in the cache. HF_TOKEN is sent as a Bearer token;
// HF_HUB_OFFLINE=1 uses only the cache.
import { createHash, type Hash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { copyFile, mkdir, open, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { createProgress, type Progress, writeFileAtomic } from "@circuit-atlas/util";

/** Short legacy names → canonical repo ids (the hub redirects these too). */
const CANONICAL: Record<string, string> = {
  gpt2: "openai-community/gpt2",
  "gpt2-medium": "openai-community/gpt2-medium",
  "gpt2-large": "openai-community/gpt2-large",
  "gpt2-xl": "openai-community/gpt2-xl",
  distilgpt2: "distilbert/distilgpt2",
};

export const DEFAULT_FILES = ["config.json", "model.safetensors"];
export const OPTIONAL_FILES = ["vocab_map.json"];

export interface DownloadProgress {
  file: string;
  received: number;
  /** Total bytes, or null when the server did not say. */
  total: number | null;
  done: boolean;
}

export interface PullOptions {
  revision?: string;
  cacheDir?: string;
  endpoint?: string;
  token?: string;
  offline?: boolean;
  /** Required files (default config.json, model.safetensors). */
  files?: string[];
  /** Files fetched when present; a 404 is not an error (default vocab_map.json). */
  optionalFiles?: string[];
  /** Automatic resume attempts after a dropped connection (default 3). */
  retries?: number;
  /** Abort a request that receives nothing for this long (default 60 s). */
  idleTimeoutMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** Environment to read HF_* variables from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface PulledModel {
  repoId: string;
  revision: string;
  commit: string;
  /** Snapshot folder holding the files: pass it to loadModel(). */
  dir: string;
  /** Files present in `dir` (required + optional ones that exist). */
  files: string[];
  /** True when nothing was fetched (offline, or everything already cached). */
  fromCache: boolean;
}

export function canonicalRepoId(repoId: string): string {
  const id = repoId.trim();
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(id) || id.includes("..")) {
    throw new Error(`invalid model repo id "${repoId}" (expected "org/name" or a name such as "gpt2")`);
  }
  return CANONICAL[id] ?? id;
}

/** The hub cache folder, resolved like huggingface_hub does. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, "hub");
  return join(homedir(), ".cache", "huggingface", "hub");
}

/** `{cache}/models--{org}--{name}` */
export function repoCacheDir(cacheDir: string, repoId: string): string {
  return join(cacheDir, `models--${canonicalRepoId(repoId).replace(/\//g, "--")}`);
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ["1", "true", "yes", "on"].includes(v.toLowerCase());
}

const COMMIT_RE = /^[0-9a-f]{40}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

export async function pullModel(repoIdIn: string, options: PullOptions = {}): Promise<PulledModel> {
  const env = options.env ?? process.env;
  const repoId = canonicalRepoId(repoIdIn);
  const revision = options.revision ?? "main";
  if (!/^[\w./-]+$/.test(revision) || revision.includes("..")) throw new Error(`invalid revision "${revision}"`);
  const cacheDir = options.cacheDir ?? hubCacheDir(env);
  const repoDir = repoCacheDir(cacheDir, repoId);
  const endpoint = (options.endpoint ?? env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");
  const token = options.token ?? env.HF_TOKEN;
  const offline = options.offline ?? isTrue(env.HF_HUB_OFFLINE);
  const required = options.files ?? DEFAULT_FILES;
  const optional = options.optionalFiles ?? OPTIONAL_FILES;
  for (const f of [...required, ...optional]) {
    if (f.startsWith("/") || f.split("/").includes("..")) throw new Error(`invalid file name "${f}"`);
  }

  if (offline) {
    const cached = await fromCache(repoDir, repoId, revision, required, optional);
    if (typeof cached === "string") {
      throw new Error(`HF_HUB_OFFLINE is set and ${repoId}@${revision} is not in the cache ${cacheDir} (${cached})`);
    }
    return cached;
  }

  const ctx: Ctx = {
    repoId,
    revision,
    repoDir,
    endpoint,
    token,
    retries: options.retries ?? 3,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    onProgress: options.onProgress,
  };
  let commit: string | null = null;
  const present: string[] = [];
  let fetched = false;
  for (const [file, isOptional] of [
    ...required.map((f) => [f, false] as const),
    ...optional.map((f) => [f, true] as const),
  ]) {
    let meta: FileMeta | null;
    try {
      meta = await headFile(ctx, file);
    } catch (err) {
      // Like huggingface_hub: when the hub is unreachable, a complete cached snapshot still works.
      if (err instanceof NetworkError) {
        const cached = await fromCache(repoDir, repoId, revision, required, optional);
        if (typeof cached !== "string") return cached;
      }
      throw err;
    }
    if (meta === null) {
      if (!isOptional) {
        throw new Error(`${file} not found in ${repoId} at revision ${revision} (${endpoint})`);
      }
      if (commit) await markMissing(repoDir, commit, file);
      continue;
    }
    if (commit && meta.commit !== commit) {
      throw new Error(`${repoId}@${revision} changed while downloading (commit ${commit} → ${meta.commit}); run again`);
    }
    commit = meta.commit;
    if (await ensureFile(ctx, file, meta)) fetched = true;
    present.push(file);
  }
  if (!commit) throw new Error(`no files downloaded from ${repoId}`);
  if (revision !== commit) writeFileAtomic(join(repoDir, "refs", revision), commit);
  return { repoId, revision, commit, dir: join(repoDir, "snapshots", commit), files: present, fromCache: !fetched };
}

/** A complete cached snapshot, or a string saying what is missing. */
async function fromCache(
  repoDir: string,
  repoId: string,
  revision: string,
  required: string[],
  optional: string[],
): Promise<PulledModel | string> {
  let commit = revision;
  if (!COMMIT_RE.test(revision)) {
    const ref = await readFile(join(repoDir, "refs", revision), "utf8").catch(() => null);
    // Servers that send no X-Repo-Commit leave the snapshot under the revision name itself.
    if (ref !== null) commit = ref.trim();
    else if (!existsSync(join(repoDir, "snapshots", revision))) return `no refs/${revision}`;
  }
  const dir = join(repoDir, "snapshots", commit);
  for (const f of required) if (!existsSync(join(dir, f))) return `missing ${f}`;
  const files = [...required, ...optional.filter((f) => existsSync(join(dir, f)))];
  return { repoId, revision, commit, dir, files, fromCache: true };
}

interface Ctx {
  repoId: string;
  revision: string;
  repoDir: string;
  endpoint: string;
  token: string | undefined;
  retries: number;
  idleTimeoutMs: number;
  onProgress: ((p: DownloadProgress) => void) | undefined;
}

interface FileMeta {
  commit: string;
  /** sha256 (LFS) or git blob sha; names the blob. Null when the server sent no etag. */
  etag: string | null;
  size: number | null;
  url: string;
}

class NetworkError extends Error {}

function headersFor(ctx: Ctx, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { "user-agent": "circuit-atlas", "accept-encoding": "identity", ...extra };
  if (ctx.token) h.authorization = `Bearer ${ctx.token}`;
  return h;
}

function networkError(url: string, err: unknown): NetworkError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return new NetworkError(
    `cannot reach ${new URL(url).origin} (${why}); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use the cache`,
  );
}

function cleanEtag(v: string | null): string | null {
  if (!v) return null;
  return v.replace(/^W\//, "").replace(/^"|"$/g, "") || null;
}

/** HEAD the resolve URL (not following the CDN redirect); null for a missing file. */
async function headFile(ctx: Ctx, file: string): Promise<FileMeta | null> {
  let url = `${ctx.endpoint}/${ctx.repoId}/resolve/${encodeURIComponent(ctx.revision)}/${file}`;
  for (let hop = 0; hop < 5; hop++) {
    let res: Response;
    try {
      res = await fetch(url, {
        method: "HEAD",
        redirect: "manual",
        headers: headersFor(ctx),
        signal: AbortSignal.timeout(ctx.idleTimeoutMs),
      });
    } catch (err) {
      throw networkError(url, err);
    }
    const h = res.headers;
    const errorCode = h.get("x-error-code");
    if (res.status === 401 || res.status === 403) {
      if (errorCode === "RepoNotFound")
        throw new Error(`model repo ${ctx.repoId} not found (or private: set HF_TOKEN)`);
      throw new Error(`access to ${ctx.repoId} denied (HTTP ${res.status}); set HF_TOKEN to a token with access`);
    }
    if (res.status === 404) {
      if (errorCode === "RepoNotFound") throw new Error(`model repo ${ctx.repoId} not found`);
      if (errorCode === "RevisionNotFound") throw new Error(`revision ${ctx.revision} not found in ${ctx.repoId}`);
      return null;
    }
    const linkedEtag = h.get("x-linked-etag");
    const commit = h.get("x-repo-commit");
    const location = h.get("location");
    if (res.status >= 300 && res.status < 400 && location && !linkedEtag && !commit) {
      // A renamed repo: follow to the canonical resolve URL and HEAD again.
      url = new URL(location, url).toString();
      continue;
    }
    if (!(res.ok || (res.status >= 300 && res.status < 400))) {
      throw new Error(`HTTP ${res.status} for ${url}`);
    }
    const sizeHeader = h.get("x-linked-size") ?? (res.ok ? h.get("content-length") : null);
    const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : null;
    return {
      commit: commit ?? ctx.revision,
      etag: cleanEtag(linkedEtag ?? h.get("etag")),
      size,
      url: location ? new URL(location, url).toString() : url,
    };
  }
  throw new Error(`too many redirects for ${file} in ${ctx.repoId}`);
}

async function markMissing(repoDir: string, commit: string, file: string): Promise<void> {
  const p = join(repoDir, ".no_exist", commit, file);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, "");
}

async function fileSize(path: string): Promise<number | null> {
  return stat(path).then(
    (s) => s.size,
    () => null,
  );
}

/** Makes snapshots/{commit}/{file} point at a complete blob; true when bytes were downloaded. */
async function ensureFile(ctx: Ctx, file: string, meta: FileMeta): Promise<boolean> {
  const snapPath = join(ctx.repoDir, "snapshots", meta.commit, file);
  if (meta.etag) {
    const blob = join(ctx.repoDir, "blobs", meta.etag);
    const blobSize = await fileSize(blob);
    if (blobSize !== null && (meta.size === null || blobSize === meta.size)) {
      if (!existsSync(snapPath)) await link(blob, snapPath);
      return false;
    }
  }
  const blobName = await download(ctx, file, meta);
  await link(join(ctx.repoDir, "blobs", blobName), snapPath);
  return true;
}

async function link(blob: string, snapPath: string): Promise<void> {
  await mkdir(dirname(snapPath), { recursive: true });
  await rm(snapPath, { force: true });
  try {
    await symlink(relative(dirname(snapPath), blob), snapPath);
  } catch {
    await copyFile(blob, snapPath); // file systems without symlinks
  }
}

/** Downloads into blobs/, resuming a previous .incomplete file; returns the blob name. */
async function download(ctx: Ctx, file: string, meta: FileMeta): Promise<string> {
  const blobsDir = join(ctx.repoDir, "blobs");
  await mkdir(blobsDir, { recursive: true });
  // Without an etag there is nothing stable to resume against: download to a per-file temp name.
  const partial = join(blobsDir, `${meta.etag ?? `nometa-${file.replace(/\//g, "_")}`}.incomplete`);
  let lastError: unknown = null;
  for (let attempt = 0; attempt <= ctx.retries; attempt++) {
    try {
      const { sha256, received } = await fetchInto(ctx, file, meta, partial);
      if (meta.size !== null && received !== meta.size) {
        await rm(partial, { force: true });
        throw new Error(`size mismatch for ${file}: got ${received} bytes, expected ${meta.size} (download discarded)`);
      }
      if (meta.etag && SHA256_RE.test(meta.etag) && sha256 !== meta.etag) {
        await rm(partial, { force: true });
        throw new ChecksumError(
          `checksum mismatch for ${file} from ${ctx.repoId}: expected sha256 ${meta.etag}, got ${sha256} (download discarded)`,
        );
      }
      const blobName = meta.etag ?? sha256;
      await rename(partial, join(blobsDir, blobName));
      return blobName;
    } catch (err) {
      if (!(err instanceof TransferError)) throw err;
      lastError = err;
      if (attempt < ctx.retries) await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** attempt, 5000)));
    }
  }
  const got = (await fileSize(partial)) ?? 0;
  const of = meta.size !== null ? `/${meta.size}` : "";
  throw new Error(
    `download of ${file} from ${ctx.repoId} interrupted at ${got}${of} bytes (${(lastError as Error).message}); run again to resume`,
  );
}

class ChecksumError extends Error {}
/** A failure worth retrying with a Range request (connection dropped, timeout, 5xx). */
class TransferError extends Error {}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

async function fetchInto(
  ctx: Ctx,
  file: string,
  meta: FileMeta,
  partial: string,
): Promise<{ sha256: string; received: number }> {
  let have = (await fileSize(partial)) ?? 0;
  if (meta.size !== null && have > meta.size) {
    await rm(partial, { force: true });
    have = 0;
  }
  const hash = createHash("sha256");
  if (meta.size !== null && have === meta.size) {
    await hashFile(partial, hash);
    return { sha256: hash.digest("hex"), received: have };
  }
  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(), ctx.idleTimeoutMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ac.abort(), ctx.idleTimeoutMs);
  };
  let res: Response;
  try {
    res = await fetch(meta.url, {
      headers: headersFor(ctx, have > 0 ? { range: `bytes=${have}-` } : {}),
      signal: ac.signal,
    });
  } catch (err) {
    clearTimeout(timer);
    throw new TransferError(networkError(meta.url, err).message);
  }
  try {
    if (res.status >= 500) throw new TransferError(`HTTP ${res.status}`);
    if (res.status === 416 && meta.size !== null && have === meta.size) {
      await hashFile(partial, hash);
      return { sha256: hash.digest("hex"), received: have };
    }
    if (res.status !== 200 && res.status !== 206)
      throw new Error(`HTTP ${res.status} downloading ${file} (${meta.url})`);
    if (res.status === 206) {
      const range = res.headers.get("content-range");
      if (!range?.startsWith(`bytes ${have}-`)) throw new Error(`bad Content-Range "${range}" for ${file}`);
      await hashFile(partial, hash);
    } else {
      have = 0; // the server ignored the Range request: start over
    }
    const fh = await open(partial, have > 0 ? "a" : "w");
    let received = have;
    const report = (done: boolean) => ctx.onProgress?.({ file, received, total: meta.size, done });
    report(false);
    try {
      if (res.body) {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          touch();
          hash.update(chunk);
          await fh.write(chunk);
          received += chunk.byteLength;
          report(false);
        }
      }
    } catch (err) {
      const why = ac.signal.aborted ? "no data for too long" : ((err as Error).message ?? String(err));
      throw new TransferError(`connection dropped: ${why}`);
    } finally {
      await fh.close();
    }
    if (meta.size !== null && received < meta.size) {
      throw new TransferError(`connection closed early at ${received}/${meta.size} bytes`);
    }
    report(true);
    return { sha256: hash.digest("hex"), received };
  } finally {
    clearTimeout(timer);
  }
}

/** Download progress on stderr through the shared reporter: one bar per file. */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): (p: DownloadProgress) => void {
  let current = "";
  let bar: Progress | null = null;
  return (p) => {
    if (p.file !== current) {
      bar?.stop();
      current = p.file;
      // A size the server did not announce: count up to what has arrived.
      bar = createProgress({ label: p.file, total: p.total ?? 0, unit: "bytes", stream, everyMs: 5000 });
    }
    bar?.update(p.received);
    if (p.done) {
      bar?.stop();
      bar = null;
    }
  };
}
