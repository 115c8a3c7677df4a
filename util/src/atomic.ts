// The one atomic write: bytes go to a temp file beside the target (same file system), are fsynced,
// and the temp is renamed over the target, so a reader sees the old file or the new one, never half.
// Data may be a list of chunks: a multi-GB safetensors file is written straight from its tensors
// without first concatenating them into one buffer (write-file-atomic takes a single buffer, and its
// temp names cannot be told apart from user files after a kill -9, which `cleanStaleTemps` needs).

import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";

export type Chunks = string | Uint8Array | Iterable<string | Uint8Array>;

// `.name.tmp-<pid>-<random>`: hidden, recognisable, and carrying the writer's pid so the next run can
// tell a dead writer's leftover from a live writer's work in progress.
const TEMP_RE = /^\.(.+)\.tmp-(\d+)-[0-9a-f]{8}$/;

/** A fresh temp path beside `path` (for files or folders that are renamed into place later). */
export function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Writes `data` to `path` atomically (temp + fsync + rename); creates the parent folder. */
export function writeFileAtomic(path: string, data: Chunks): void {
  checkTarget(path);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPath(path);
  try {
    writeDurable(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Checks, without writing, that `path` can become a file: not a folder, and no part of its folder path
 * is a file. One sentence naming the path instead of a raw EISDIR/EEXIST/ENOTDIR after the work is done.
 */
export function checkTarget(path: string): void {
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new Error(`cannot write ${path}: it is a folder; name a file`);
  }
  let d = dirname(resolve(path));
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  if (!statSync(d).isDirectory()) {
    throw new Error(`cannot write ${path}: ${d} is a file, not a folder`);
  }
}

/** Writes `data` to a new file `path` and fsyncs it (the first half of an atomic write). */
export function writeDurable(path: string, data: Chunks): void {
  const fd = openSync(path, "wx");
  try {
    const chunks = typeof data === "string" || data instanceof Uint8Array ? [data] : data;
    for (const c of chunks) writeAll(fd, typeof c === "string" ? Buffer.from(c, "utf8") : c);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** `writeFileAtomic` of pretty-printed JSON with a trailing newline. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  // writeSync may write less than asked for large buffers; loop until all bytes are out.
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}

/** True while process `pid` exists on this machine (EPERM: it exists but is someone else's). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** This machine's name, recorded by locks so a pid is only judged on the machine it belongs to. */
export const HOST = hostname();

/**
 * Removes temp files and folders in `dir` left by writers that are gone (killed runs); a live
 * writer's temps (this process's too) are kept. With `only`, just the temps of those target names. Returns what it removed.
 */
export function cleanStaleTemps(dir: string, only?: readonly string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m || (only && !only.includes(m[1]!))) continue;
    if (pidAlive(Number(m[2]))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

/**
 * Puts the finished folder `src` in place of `dst` (a checkpoint): the previous `dst` is kept as
 * `dst.old` until the new one is in, so a kill at any point leaves one complete folder
 * (`restoreSwappedDir` brings `dst.old` back when the kill fell between the two renames).
 */
export function swapDir(src: string, dst: string): void {
  const old = `${dst}.old`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(dst)) renameSync(dst, old);
  renameSync(src, dst);
  rmSync(old, { recursive: true, force: true });
}

/** Undoes a swap interrupted between its two renames (only `dst.old` exists). */
export function restoreSwappedDir(dst: string): void {
  if (!existsSync(dst) && existsSync(`${dst}.old`)) renameSync(`${dst}.old`, dst);
}
