// Search parameters as Next hands them to pages: a value, several, or none.

export type SearchParams = Record<string, string | string[] | undefined>;

/** The first value of a search parameter, trimmed; "" when absent. */
export function param(sp: SearchParams, key: string): string {
  const v = sp[key];
  return ((Array.isArray(v) ? v[0] : v) ?? "").trim();
}
