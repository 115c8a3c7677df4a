// Run-folder ownership: one writer at a time (the lock, with the owner's pid in a refusal), an
// existing result is never replaced without --force, and a failed run leaves no empty folder behind.
// Adding to a run (evaluations, feature statistics, labels, ingest) takes the lock in "add" mode,
// which needs no --force.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { cleanStaleTemps } from "./atomic.ts";
import { acquireLock } from "./lock.ts";

export interface RunFolderOptions {
  /** The command, shown to a refused second writer, e.g. "atlas clt train". */
  what: string;
  /**
   * "create": this run writes a new result (refused when one of `results` exists, unless `force`,
   * which first empties the folder); "add": this run adds to or continues the folder's result.
   */
  mode: "create" | "add";
  /** Files whose presence means the folder holds a result, e.g. ["clt.safetensors"]. */
  results?: readonly string[];
  /** What the result is called in a refusal, e.g. "a CLT". */
  noun?: string;
  force?: boolean;
  /** The flag that named the folder, for refusals (default "--out"). */
  flag?: string;
}

export interface RunFolder {
  dir: string;
  /** Lets the folder go; after a failure, a folder this run created and left empty is removed. */
  release(opts?: { failed?: boolean }): void;
}

const LOCK = ".lock";

/** Checks without writing anything: is `dir` usable, and would "create" replace a result? */
export function checkRunFolder(dir: string, opts: RunFolderOptions): void {
  const flag = opts.flag ?? "--out";
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new Error(`${flag} ${dir} is a file; it must name a folder`);
  }
  if (opts.mode === "create" && !opts.force) {
    const found = (opts.results ?? []).find((f) => existsSync(join(dir, f)));
    if (found) {
      throw new Error(
        `${dir} already holds ${opts.noun ?? "a result"} (${found}); pass --force to replace it, or choose another ${flag}`,
      );
    }
  }
}

/** Validates, locks and (with --force) empties `dir`; call before any work that writes into it. */
export async function claimRunFolder(dir: string, opts: RunFolderOptions): Promise<RunFolder> {
  checkRunFolder(dir, opts);
  const existed = existsSync(dir);
  const release = await acquireLock(dir, { lockPath: join(dir, LOCK), what: opts.what, label: dir }).catch((err) => {
    if (!existed) removeIfEmpty(dir);
    throw err;
  });
  try {
    // Again under the lock: another writer may have finished a result since the first look.
    checkRunFolder(dir, opts);
  } catch (err) {
    release();
    throw err;
  }
  cleanStaleTemps(dir);
  if (opts.mode === "create" && opts.force) {
    for (const name of readdirSync(dir)) {
      if (name !== LOCK && !name.startsWith(`${LOCK}.`)) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
  let done = false;
  return {
    dir,
    release({ failed = false } = {}) {
      if (done) return;
      done = true;
      release();
      if (failed && !existed) removeIfEmpty(dir);
    },
  };
}

/** Claims `dir`, runs `work` in it and lets it go (a failed run's new, still-empty folder is removed). */
export async function inRunFolder<T>(dir: string, opts: RunFolderOptions, work: () => Promise<T>): Promise<T> {
  const folder = await claimRunFolder(dir, opts);
  let failed = true;
  try {
    const out = await work();
    failed = false;
    return out;
  } finally {
    folder.release({ failed });
  }
}

function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
  } catch {}
}
