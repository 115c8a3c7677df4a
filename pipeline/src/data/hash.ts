// Content hashes that name files without their local paths (run configs, shipped assets).
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";

/** sha256 (hex) of the concatenated contents of `paths`, read in 1 MiB chunks. */
export function sha256Files(paths: readonly string[]): string {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const p of paths) {
    const fd = openSync(p, "r");
    try {
      for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) hash.update(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  }
  return hash.digest("hex");
}
