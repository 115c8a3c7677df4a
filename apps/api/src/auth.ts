// API keys for mutations: sent as `x-api-key: <key>` (or `Authorization: Bearer <key>`), compared in
// constant time on their SHA-256 digests. Queries need no key.
import { createHash, timingSafeEqual } from "node:crypto";
import type { ApiKey } from "./config.ts";
import { unauthenticated } from "./errors.ts";

const digest = (s: string) => createHash("sha256").update(s).digest();

export interface Caller {
  /** The name of the matching key, or null for anonymous callers. */
  keyName: string | null;
}

export function authenticate(headers: Record<string, string | string[] | undefined>, keys: readonly ApiKey[]): Caller {
  const raw = headers["x-api-key"] ?? bearer(headers.authorization);
  const presented = Array.isArray(raw) ? raw[0] : raw;
  if (!presented) return { keyName: null };
  const d = digest(presented);
  let match: string | null = null;
  for (const k of keys) if (timingSafeEqual(d, digest(k.key))) match = k.name;
  return { keyName: match };
}

function bearer(h: string | string[] | undefined): string | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  const m = v ? /^Bearer\s+(.+)$/i.exec(v) : null;
  return m?.[1];
}

/** Throws UNAUTHENTICATED unless the caller presented a valid key. */
export function requireKey(caller: Caller, keysConfigured: boolean): string {
  if (caller.keyName) return caller.keyName;
  if (!keysConfigured) throw unauthenticated("mutations are disabled: the server has no API key (set ATLAS_API_KEYS)");
  throw unauthenticated("this mutation needs a valid API key in the x-api-key header");
}
