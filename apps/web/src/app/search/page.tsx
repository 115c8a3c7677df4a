import type { Metadata } from "next";
import Link from "next/link";
import { ApiProblem } from "../../components/ApiProblem.tsx";
import { fmt, pct } from "../../lib/format.ts";
import { featureHref } from "../../lib/links.ts";
import { load } from "../../lib/load.ts";
import { param, type SearchParams } from "../../lib/params.ts";
import { SearchDoc, SearchFiltersDoc } from "../../lib/queries.ts";
import { SearchControls } from "./SearchControls.tsx";

export const metadata: Metadata = { title: "Search features" };

const PAGE = 20;

type SP = Promise<SearchParams>;

export default async function SearchPage({ searchParams }: { searchParams: SP }) {
  const sp = await searchParams;
  const q = param(sp, "q");
  const layerRaw = param(sp, "layer");
  const layer = /^\d+$/.test(layerRaw) ? Number(layerRaw) : null;
  const source = param(sp, "source") || null;
  const transcoder = param(sp, "transcoder") || null;
  const after = param(sp, "after") || null;
  const offset = /^\d+$/.test(param(sp, "n")) ? Number(param(sp, "n")) : 0;

  const [filters, results] = await Promise.all([
    load(SearchFiltersDoc, {}),
    q ? load(SearchDoc, { query: q, layer, transcoder, labelSource: source, first: PAGE, after }) : null,
  ]);
  const nLayers = filters.ok ? Math.max(0, ...filters.data.atlas.transcoders.map((t) => t.nLayers)) : 0;
  const sources = filters.ok ? filters.data.atlas.labelSources.map((s) => s.source) : [];
  const transcoders = filters.ok ? filters.data.atlas.transcoders.map((t) => t.id) : [];

  const pageHref = (params: Record<string, string | null>) => {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries({
      q,
      layer: layer === null ? null : String(layer),
      source,
      transcoder,
      ...params,
    }))
      if (v) u.set(k, v);
    return `/search?${u}`;
  };

  return (
    <>
      <h1>Search features</h1>
      <SearchControls
        q={q}
        layer={layer}
        source={source}
        transcoder={transcoder}
        nLayers={nLayers}
        sources={sources}
        transcoders={transcoders}
      />
      {!q && <p className="muted">Type a word from a feature label, e.g. “year”, “number” or “after”.</p>}
      {results && !results.ok && <ApiProblem error={results.error} />}
      {results?.ok && (
        <section aria-labelledby="results-h">
          <h2 id="results-h" data-testid="result-count">
            {results.data.searchFeatures.totalCount === 0
              ? `No features match “${q}”`
              : `${results.data.searchFeatures.totalCount} feature${results.data.searchFeatures.totalCount === 1 ? "" : "s"} match “${q}”`}
            {results.data.searchFeatures.totalCount > 0 && (
              <span className="muted small">
                {" "}
                (showing {offset + 1}–{offset + results.data.searchFeatures.edges.length})
              </span>
            )}
          </h2>
          <ol className="results" data-testid="search-results" start={offset + 1}>
            {results.data.searchFeatures.edges.map(({ cursor, score, feature: f }) => (
              <li key={cursor}>
                <Link href={featureHref(f.id)} className="result-link">
                  {f.label?.text ?? <em>unlabeled</em>}
                </Link>{" "}
                {f.label && <span className="badge">{f.label.source}</span>}
                <div className="meta">
                  <span className="mono">{f.featureId}</span> · layer {f.layer} · match score {fmt(score)} · density{" "}
                  {pct(f.density, 3)} · max act {fmt(f.maxActivation)}
                  {f.label?.score != null && ` · label score ${fmt(f.label.score)}`}
                </div>
              </li>
            ))}
          </ol>
          <nav className="pager" aria-label="Result pages">
            {offset > 0 && <Link href={pageHref({})}>← First page</Link>}
            {results.data.searchFeatures.pageInfo.hasNextPage && results.data.searchFeatures.pageInfo.endCursor && (
              <Link
                href={pageHref({
                  after: results.data.searchFeatures.pageInfo.endCursor,
                  n: String(offset + results.data.searchFeatures.edges.length),
                })}
              >
                Next page →
              </Link>
            )}
          </nav>
        </section>
      )}
    </>
  );
}
