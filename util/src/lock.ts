// The one lock: proper-lockfile (an atomic mkdir whose mtime the owner refreshes, so a lock whose
// owner stopped refreshing it goes stale) plus an owner record beside it, so a refusal can name the
// process that holds the lock and a lock whose owner died on this machine is taken over at once.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { basename, dirname } from "node:path";
import lockfile from "proper-lockfile";
import { cleanStaleTemps, HOST, pidAlive, writeJsonAtomic } from "./atomic.ts";

export interface LockOwner {
  pid: number;
  host: string;
  /** What holds the lock, e.g. "atlas clt train". */
  what: string;
  since: string;
}

/** Thrown when a lock is held by a live process; `message` is one sentence naming it. */
export class LockedError extends Error {
  constructor(
    message: string,
    readonly owner: LockOwner | null,
  ) {
    super(message);
    this.name = "LockedError";
  }
}

export interface LockOptions {
  /** The lock folder (default `<target>.lock`). */
  lockPath?: string;
  /** What takes the lock, shown to whoever is refused (e.g. "atlas clt train"). */
  what: string;
  /** Keep trying this long before refusing (default 0: refuse at once). */
  waitMs?: number;
  /** How to name the target in a refusal (default the target path). */
  label?: string;
}

export type Release = () => void;

// The owner refreshes the lock's mtime every UPDATE ms; a lock older than STALE ms is abandoned.
const STALE_MS = 20_000;
const UPDATE_MS = 5_000;
const OWNER_WAIT_MS = 3_000;

function ownerPath(lockPath: string): string {
  return `${lockPath}.owner.json`;
}

function readOwner(lockPath: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(ownerPath(lockPath), "utf8")) as LockOwner;
  } catch {
    return null;
  }
}

/** Takes the lock on `target` (which need not exist) or throws `LockedError`. */
export async function acquireLock(target: string, opts: LockOptions): Promise<Release> {
  const lockPath = opts.lockPath ?? `${target}.lock`;
  mkdirSync(dirname(lockPath), { recursive: true });
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    try {
      await lockfile.lock(target, {
        lockfilePath: lockPath,
        realpath: false,
        stale: STALE_MS,
        update: UPDATE_MS,
        retries: 0,
        // Someone removed or took over our lock (the machine slept past STALE_MS): say so, do not crash.
        onCompromised: (err) => process.emitWarning(`lock ${lockPath} compromised: ${err.message}`),
      });
      // A taker killed while writing its owner record leaves that write's temp: ours to clear now.
      cleanStaleTemps(dirname(lockPath), [basename(ownerPath(lockPath))]);
      const owner: LockOwner = { pid: process.pid, host: HOST, what: opts.what, since: new Date().toISOString() };
      writeJsonAtomic(ownerPath(lockPath), owner);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(ownerPath(lockPath), { force: true });
        // Synchronous, so a release in a `finally` or an exit handler is complete when it returns.
        try {
          lockfile.unlockSync(target, { lockfilePath: lockPath, realpath: false });
        } catch {
          rmSync(lockPath, { recursive: true, force: true });
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ELOCKED") throw err;
      let owner = readOwner(lockPath);
      // The owner writes its record just after taking the lock: give a busy machine a moment, so the
      // refusal can name it.
      for (let t = 0; !owner && t < OWNER_WAIT_MS && existsSync(lockPath); t += 50) {
        await new Promise((r) => setTimeout(r, 50));
        owner = readOwner(lockPath);
      }
      if (owner && owner.host === HOST && !pidAlive(owner.pid)) {
        // The owner was killed (kill -9, power loss): its lock is stale now, not in STALE_MS.
        rmSync(ownerPath(lockPath), { force: true });
        rmSync(lockPath, { recursive: true, force: true });
        continue;
      }
      if (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const who = owner
        ? `pid ${owner.pid}${owner.host !== HOST ? ` on ${owner.host}` : ""} (${owner.what}, since ${owner.since})`
        : "another process";
      throw new LockedError(
        `${opts.label ?? target} is in use by ${who}; wait for it to finish or stop it (a lock whose owner died is taken over automatically)`,
        owner,
      );
    }
  }
}

/** Runs `fn` holding the lock on `target`. */
export async function withLock<T>(target: string, opts: LockOptions, fn: () => Promise<T> | T): Promise<T> {
  const release = await acquireLock(target, opts);
  try {
    return await fn();
  } finally {
    release();
  }
}
