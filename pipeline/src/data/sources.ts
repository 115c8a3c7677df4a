// Streaming document readers for plain text, JSONL and Parquet corpora.
//
// A corpus is an ordered list of files (a file, a folder searched recursively, or a glob), each
// read lazily as an async iterable of documents:
//   - text (.txt, .text, .md, optionally .gz): documents are paragraphs separated by one or more
//     blank lines (so a large file streams; use textSplit: "file" for one document per file);
//   - JSONL (.jsonl, .ndjson, optionally .gz): one JSON object per line, text in `textField`
//     (default "text"); blank lines are skipped, a bad line is an error naming file and line;
//   - Parquet (.parquet): the string column `textField` (default "text"), read one row group at a
//     time, so a multi-GB shard never sits in memory. Snappy/gzip/zstd/brotli/lz4 pages are supported.
// Whitespace-only documents and null values are skipped.
//
// Every document carries its position {fileIndex, docIndex}; docIndex is the paragraph ordinal
// (text), 0-based line (JSONL) or row (Parquet) within its file, so a reader can restart exactly
// at a document (Parquet skips whole row groups without reading them).
import { createReadStream } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { sha256Files } from "./hash.ts";

export type CorpusFormat = "text" | "jsonl" | "parquet";
export type TextSplit = "paragraph" | "file";

export interface CorpusFile {
  path: string;
  format: CorpusFormat;
  size: number;
}

export interface DocPosition {
  fileIndex: number;
  docIndex: number;
}

export interface CorpusDocument extends DocPosition {
  text: string;
}

export interface CorpusOptions {
  /** Force one format for every file instead of detecting it from the extension. */
  format?: CorpusFormat;
  /** JSONL field / Parquet column holding the text (default "text"). */
  textField?: string;
  /** How plain-text files are cut into documents (default "paragraph": split on blank lines). */
  textSplit?: TextSplit;
}

export interface Corpus {
  /** What was opened (as given by the caller). */
  source: string;
  files: CorpusFile[];
  textField: string;
  textSplit: TextSplit;
  /** Documents in file order, starting at `from` (default: the first document). */
  documents(from?: DocPosition): AsyncGenerator<CorpusDocument>;
}

const EXTENSIONS: Record<string, CorpusFormat> = {
  ".txt": "text",
  ".text": "text",
  ".md": "text",
  ".jsonl": "jsonl",
  ".ndjson": "jsonl",
  ".parquet": "parquet",
};

/** The format implied by a file name (`.gz` is looked through), or null. */
export function detectFormat(path: string): CorpusFormat | null {
  const name = basename(path).toLowerCase().replace(/\.gz$/, "");
  const dot = name.lastIndexOf(".");
  if (dot < 0) return null;
  return EXTENSIONS[name.slice(dot)] ?? null;
}

/**
 * Opens a corpus: a file, a folder (all files with a known extension, recursively, sorted) or a glob
 * (`*`, `?`, `**`, `{a,b}`). Fails with one clear error if nothing readable matches.
 */
export async function openCorpus(pathOrGlob: string, options: CorpusOptions = {}): Promise<Corpus> {
  const textField = options.textField ?? "text";
  const textSplit = options.textSplit ?? "paragraph";
  if (textField.length === 0) throw new Error("textField must not be empty");
  if (options.format && !["text", "jsonl", "parquet"].includes(options.format)) {
    throw new Error(`unknown corpus format "${options.format}" (expected text, jsonl or parquet)`);
  }
  const paths = await expandPaths(pathOrGlob, options.format);
  const files: CorpusFile[] = [];
  for (const p of paths) {
    const format = options.format ?? detectFormat(p);
    if (!format) {
      throw new Error(`cannot tell the format of ${p}: use .txt, .jsonl or .parquet, or pass a format`);
    }
    const st = await stat(p).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot read ${p}: ${err.code ?? err.message}`);
    });
    files.push({ path: p, format, size: st.size });
  }
  return {
    source: pathOrGlob,
    files,
    textField,
    textSplit,
    documents: (from) => readDocuments(files, textField, textSplit, from),
  };
}

async function* readDocuments(
  files: CorpusFile[],
  textField: string,
  textSplit: TextSplit,
  from: DocPosition = { fileIndex: 0, docIndex: 0 },
): AsyncGenerator<CorpusDocument> {
  for (let fileIndex = from.fileIndex; fileIndex < files.length; fileIndex++) {
    const file = files[fileIndex] as CorpusFile;
    const skip = fileIndex === from.fileIndex ? from.docIndex : 0;
    const docs =
      file.format === "parquet"
        ? readParquet(file.path, textField, skip)
        : file.format === "jsonl"
          ? readJsonl(file.path, textField)
          : readText(file.path, textSplit);
    for await (const [docIndex, text] of docs) {
      if (docIndex < skip) continue;
      yield { text, fileIndex, docIndex };
    }
  }
}

function openStream(path: string): Readable {
  const raw = createReadStream(path);
  if (!path.toLowerCase().endsWith(".gz")) return raw;
  const gunzip = createGunzip();
  raw.on("error", (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

async function* lines(path: string): AsyncGenerator<string> {
  const input = openStream(path);
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of rl) yield line;
  } catch (err) {
    throw readError(path, err);
  } finally {
    rl.close();
    input.destroy();
  }
}

function readError(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  return new Error(`cannot read ${path}: ${e.code ?? e.message}`);
}

async function* readText(path: string, split: TextSplit): AsyncGenerator<[number, string]> {
  if (split === "file") {
    let text: string;
    try {
      text = path.toLowerCase().endsWith(".gz") ? await streamToString(openStream(path)) : await readFile(path, "utf8");
    } catch (err) {
      throw readError(path, err);
    }
    if (text.trim()) yield [0, text];
    return;
  }
  let para: string[] = [];
  let index = 0;
  for await (const line of lines(path)) {
    if (line.trim() === "") {
      if (para.length > 0) yield [index++, para.join("\n")];
      para = [];
    } else {
      para.push(line);
    }
  }
  if (para.length > 0) yield [index, para.join("\n")];
}

async function streamToString(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function* readJsonl(path: string, field: string): AsyncGenerator<[number, string]> {
  let lineIndex = -1;
  for await (const line of lines(path)) {
    lineIndex++;
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`${path}:${lineIndex + 1}: invalid JSON (${(err as Error).message})`);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new Error(`${path}:${lineIndex + 1}: expected a JSON object`);
    }
    const text = (value as Record<string, unknown>)[field];
    if (text === null) continue;
    if (typeof text !== "string") {
      const why = text === undefined ? "has no field" : "has a non-string field";
      throw new Error(`${path}:${lineIndex + 1}: line ${why} "${field}"`);
    }
    if (text.trim()) yield [lineIndex, text];
  }
}

async function* readParquet(path: string, column: string, skipRows: number): AsyncGenerator<[number, string]> {
  let file: Awaited<ReturnType<typeof asyncBufferFromFile>>;
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    file = await asyncBufferFromFile(path);
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot read ${path}: ${e.code ?? `not a valid Parquet file (${e.message})`}`);
  }
  const columns = parquetSchema(metadata).children.map((c) => c.element.name);
  if (!columns.includes(column)) {
    throw new Error(`${path}: no column "${column}" (columns: ${columns.join(", ") || "none"})`);
  }
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupEnd = groupStart + Number(group.num_rows);
    if (groupEnd <= skipRows) {
      groupStart = groupEnd;
      continue;
    }
    const rowStart = Math.max(groupStart, skipRows);
    let rows: unknown[][] = [];
    try {
      await parquetRead({
        file,
        metadata,
        columns: [column],
        rowStart,
        rowEnd: groupEnd,
        compressors,
        onComplete: (r) => {
          rows = r;
        },
      });
    } catch (err) {
      throw new Error(`${path}: cannot decode rows ${rowStart}..${groupEnd} (${(err as Error).message})`);
    }
    for (let i = 0; i < rows.length; i++) {
      const text = rows[i]?.[0];
      if (text === null || text === undefined) continue;
      if (typeof text !== "string") {
        throw new Error(`${path}: column "${column}" is not a string column (row ${rowStart + i})`);
      }
      if (text.trim()) yield [rowStart + i, text];
    }
    groupStart = groupEnd;
  }
}

// ---------------------------------------------------------------------------------------------
// Path expansion

const GLOB_CHARS = /[*?{]/;

async function expandPaths(pathOrGlob: string, format: CorpusFormat | undefined): Promise<string[]> {
  if (!GLOB_CHARS.test(pathOrGlob)) {
    const p = resolve(pathOrGlob);
    const st = await stat(p).catch((err: NodeJS.ErrnoException) => {
      throw new Error(err.code === "ENOENT" ? `corpus not found: ${pathOrGlob}` : `cannot read ${p}: ${err.code}`);
    });
    if (!st.isDirectory()) return [p];
    const all = await walk(p);
    const found = all.filter((f) => (format ? detectFormat(f) === format : detectFormat(f) !== null));
    if (found.length === 0) {
      throw new Error(`no corpus files (.txt, .jsonl, .parquet) in folder ${pathOrGlob}`);
    }
    return found;
  }
  const abs = isAbsolute(pathOrGlob) ? pathOrGlob : join(process.cwd(), pathOrGlob);
  const parts = abs.split(sep);
  const firstGlob = parts.findIndex((s) => GLOB_CHARS.test(s));
  const base = parts.slice(0, firstGlob).join(sep) || sep;
  const re = globToRegExp(parts.slice(firstGlob).join("/"));
  const all = await walk(base).catch(() => [] as string[]);
  const found = all.filter((f) => re.test(relative(base, f).split(sep).join("/")));
  if (found.length === 0) throw new Error(`no files match ${pathOrGlob}`);
  return found;
}

async function walk(dir: string): Promise<string[]> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw readError(dir, err);
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** `**` crosses folders, `*` and `?` do not, `{a,b}` is an alternation. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*" && glob[i + 1] === "*") {
      if (glob[i + 2] === "/") {
        re += "(?:.*/)?";
        i += 2;
      } else {
        re += ".*";
        i += 1;
      }
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "{") {
      re += "(?:";
      depth++;
    } else if (c === "}" && depth > 0) {
      re += ")";
      depth--;
    } else if (c === "," && depth > 0) re += "|";
    else re += c.replace(/[.+^$()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** A corpus named without local paths: what was opened (its last path part), file count, content sha256. */
export interface CorpusId {
  name: string;
  files: number;
  sha256: string;
}

export function corpusId(corpus: Corpus): CorpusId {
  return {
    name: basename(corpus.source),
    files: corpus.files.length,
    sha256: sha256Files(corpus.files.map((f) => f.path)),
  };
}
