// Streaming UTF-8 validation for corpus files: Node's decoders turn invalid bytes into U+FFFD
// silently, so a binary file would become a corpus of replacement characters. The checker reports the
// first invalid byte's offset (and line) across chunk boundaries.

export class Utf8Checker {
  private need = 0; // continuation bytes still expected
  private lo = 0x80; // allowed range of the next continuation byte (tight after E0/ED/F0/F4)
  private hi = 0xbf;
  private offset = 0;
  private seqStart = 0;
  private line = 1;

  /** Checks the next chunk; returns the first invalid byte's position, or null. */
  push(chunk: Uint8Array): { offset: number; line: number } | null {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      const at = this.offset + i;
      if (this.need > 0) {
        if (b < this.lo || b > this.hi) return { offset: this.seqStart, line: this.line };
        this.lo = 0x80;
        this.hi = 0xbf;
        this.need--;
        continue;
      }
      this.seqStart = at;
      if (b < 0x80) {
        if (b === 0x0a) this.line++;
      } else if (b >= 0xc2 && b <= 0xdf) this.need = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        this.need = 2;
        if (b === 0xe0) this.lo = 0xa0; // no overlong forms
        if (b === 0xed) this.hi = 0x9f; // no UTF-16 surrogates
      } else if (b >= 0xf0 && b <= 0xf4) {
        this.need = 3;
        if (b === 0xf0) this.lo = 0x90;
        if (b === 0xf4) this.hi = 0x8f; // nothing above U+10FFFF
      } else return { offset: at, line: this.line };
    }
    this.offset += chunk.length;
    return null;
  }

  /** At the end of the file: a sequence cut short is invalid too. */
  end(): { offset: number; line: number } | null {
    return this.need > 0 ? { offset: this.seqStart, line: this.line } : null;
  }
}

/** The one sentence for an invalid byte in `path`. */
export function invalidUtf8(path: string, at: { offset: number; line: number }): Error {
  return new Error(
    `${path}: invalid UTF-8 at byte ${at.offset} (line ${at.line}); a corpus must be UTF-8 text (is this a binary file?)`,
  );
}

/** Throws `invalidUtf8` unless all of `bytes` is valid UTF-8. */
export function assertUtf8(path: string, bytes: Uint8Array): void {
  const c = new Utf8Checker();
  const bad = c.push(bytes) ?? c.end();
  if (bad) throw invalidUtf8(path, bad);
}
