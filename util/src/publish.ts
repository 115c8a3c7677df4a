// Multi-file outputs published as one unit (e.g. `trace --out x.json` → x.json + x.graph.safetensors).
// Every file is first written completely to a temp beside its target and fsynced; then a journal
// `.<main>.publish` listing temp → target is written atomically (the commit point); then the temps are
// renamed into place, the main file last, and the journal removed. A run killed before the journal
// leaves the old unit (its temps are cleaned by the next run); one killed after it is rolled forward by
// the next writer or reader (`recoverUnit`), so nobody ever reads a main file and a side file of
// different runs.
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { type Chunks, cleanStaleTemps, tempPath, writeDurable, writeJsonAtomic } from "./atomic.ts";

export interface UnitFile {
  path: string;
  data: Chunks;
}

interface Journal {
  version: 1;
  /** [temp, target] pairs in rename order; the main file is last. */
  renames: [string, string][];
}

function journalPath(main: string): string {
  return join(dirname(main), `.${basename(main)}.publish`);
}

/**
 * Completes an interrupted publish of the unit whose main file is `main` (renames the remaining temps
 * named in its journal) and removes temps of dead writers for the unit's files. Call before reading
 * or writing a unit. Returns true when it rolled a publish forward.
 */
export function recoverUnit(main: string, files: readonly string[] = [main]): boolean {
  const jp = journalPath(main);
  let rolled = false;
  if (existsSync(jp)) {
    let j: Journal | null = null;
    try {
      j = JSON.parse(readFileSync(jp, "utf8")) as Journal;
    } catch {
      // A journal is written atomically, so an unreadable one was not written by us: leave it be.
      throw new Error(`${jp} is not a publish journal; remove it by hand`);
    }
    for (const [tmp, target] of j.renames) if (existsSync(tmp)) renameSync(tmp, target);
    rmSync(jp, { force: true });
    rolled = true;
  }
  const byDir = new Map<string, string[]>();
  for (const f of [main, ...files]) {
    const d = dirname(resolve(f));
    byDir.set(d, [...(byDir.get(d) ?? []), basename(f), basename(jp)]);
  }
  for (const [d, names] of byDir) cleanStaleTemps(d, names);
  return rolled;
}

/** Writes `files` as one unit; `files[0]` is the main file (renamed last). */
export function publishUnit(files: readonly UnitFile[]): void {
  if (files.length === 0) throw new Error("publishUnit: no files");
  const main = files[0]!.path;
  recoverUnit(
    main,
    files.map((f) => f.path),
  );
  const temps: [string, string][] = [];
  try {
    for (const f of files) {
      const tmp = tempPath(f.path);
      temps.push([tmp, f.path]);
      writeDurable(tmp, f.data);
    }
  } catch (err) {
    for (const [tmp] of temps) rmSync(tmp, { force: true });
    throw err;
  }
  // Side files first, the main file last: a reader that finds the main file finds its side files.
  const renames: [string, string][] = [...temps.slice(1), temps[0]!].map(([t, p]) => [resolve(t), resolve(p)]);
  const journal: Journal = { version: 1, renames };
  writeJsonAtomic(journalPath(main), journal);
  for (const [tmp, target] of renames) renameSync(tmp, target);
  rmSync(journalPath(main), { force: true });
}
