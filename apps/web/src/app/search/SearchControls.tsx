"use client";
// The search box and filters: results follow as you type (debounced), by replacing the URL so the
// server renders them and the address stays shareable. Without JavaScript it is a plain GET form.
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useRef, useState, useTransition } from "react";

export interface SearchControlsProps {
  q: string;
  layer: number | null;
  source: string | null;
  transcoder: string | null;
  nLayers: number;
  sources: string[];
  transcoders: string[];
}

export function SearchControls(p: SearchControlsProps) {
  const router = useRouter();
  const pathname = usePathname();
  const [q, setQ] = useState(p.q);
  const [layer, setLayer] = useState(p.layer === null ? "" : String(p.layer));
  const [source, setSource] = useState(p.source ?? "");
  const [transcoder, setTranscoder] = useState(p.transcoder ?? "");
  const [pending, startTransition] = useTransition();
  const dirty = useRef(false);
  const layers = Array.from({ length: p.nLayers }, (_, l) => l);

  useEffect(() => {
    if (!dirty.current) return;
    const t = setTimeout(() => {
      const u = new URLSearchParams();
      if (q.trim()) u.set("q", q.trim());
      if (layer) u.set("layer", layer);
      if (source) u.set("source", source);
      if (transcoder) u.set("transcoder", transcoder);
      startTransition(() => router.replace(`${pathname}?${u}`, { scroll: false }));
    }, 250);
    return () => clearTimeout(t);
  }, [q, layer, source, transcoder, pathname, router]);

  const change =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      dirty.current = true;
      set(v);
    };

  return (
    <search>
      <form action="/search" className="search-form" aria-busy={pending}>
        <label>
          Label text
          <input
            name="q"
            type="search"
            value={q}
            autoComplete="off"
            data-testid="search-input"
            onChange={(e) => change(setQ)(e.target.value)}
          />
        </label>
        <label>
          Layer
          <select name="layer" value={layer} onChange={(e) => change(setLayer)(e.target.value)}>
            <option value="">all</option>
            {layers.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label source
          <select name="source" value={source} onChange={(e) => change(setSource)(e.target.value)}>
            <option value="">any</option>
            {p.sources.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Transcoder
          <select name="transcoder" value={transcoder} onChange={(e) => change(setTranscoder)(e.target.value)}>
            <option value="">all</option>
            {p.transcoders.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
        <span className="muted small" aria-live="polite">
          {pending ? "searching…" : ""}
        </span>
      </form>
    </search>
  );
}
