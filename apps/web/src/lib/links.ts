// URLs of atlas objects. Feature ids are qualified ("demo-clt/2_17"): each part is encoded on its own,
// so the URL reads /features/demo-clt/2_17 (a catch-all route joins the parts back).

export function featureHref(id: string, params?: Record<string, string>): string {
  const q = params ? `?${new URLSearchParams(params)}` : "";
  return `/features/${id.split("/").map(encodeURIComponent).join("/")}${q}`;
}

export function graphHref(id: string, params?: Record<string, string>): string {
  const q = params && Object.keys(params).length ? `?${new URLSearchParams(params)}` : "";
  return `/graphs/${encodeURIComponent(id)}${q}`;
}

export function circuitHref(from: string, to?: string): string {
  const q = new URLSearchParams({ from });
  if (to) q.set("to", to);
  return `/circuits?${q}`;
}

export function studyHref(name: string, transcoder?: string): string {
  return `/studies/${encodeURIComponent(name)}${transcoder ? `?${new URLSearchParams({ transcoder })}` : ""}`;
}

/** Route params of /features/[...id] back to the feature id. */
export function featureIdFromParams(parts: readonly string[]): string {
  return parts.map((p) => decodeURIComponent(p)).join("/");
}
