import Link from "next/link";
import { ApiProblem } from "../components/ApiProblem.tsx";
import type { HomeQuery } from "../gql/graphql.ts";
import { fmt, pct } from "../lib/format.ts";
import { graphHref, studyHref } from "../lib/links.ts";
import { load } from "../lib/load.ts";
import { HomeDoc } from "../lib/queries.ts";

export default async function Home() {
  const r = await load(HomeDoc, {});
  return (
    <>
      <h1>Circuit Atlas</h1>
      <p className="muted">
        Features of cross-layer transcoders on GPT-2-family models, their labels and scores, attribution graphs, and the
        circuits that recur across prompts.
      </p>
      <search>
        <form action="/search" className="search-form">
          <label>
            Search feature labels
            <input name="q" type="search" placeholder="e.g. year, numbers, after" required />
          </label>
          <button type="submit">Search</button>
        </form>
      </search>
      {r.ok ? <Overview atlas={r.data.atlas} /> : <ApiProblem error={r.error} />}
    </>
  );
}

type Atlas = HomeQuery["atlas"];

function Overview({ atlas }: { atlas: Atlas }) {
  return (
    <>
      <section aria-labelledby="holds">
        <h2 id="holds">What this atlas holds</h2>
        <dl className="stats">
          <div>
            <dt>Models</dt>
            <dd>{atlas.models.map((m) => m.name).join(", ") || "—"}</dd>
          </div>
          <div>
            <dt>Transcoders</dt>
            <dd>{atlas.transcoders.map((t) => `${t.id} (${t.kind.toUpperCase()})`).join(", ") || "—"}</dd>
          </div>
          <div>
            <dt>Features</dt>
            <dd data-testid="feature-count">{atlas.featureCount.toLocaleString("en")}</dd>
          </div>
          <div>
            <dt>Labeled</dt>
            <dd>
              {atlas.labeledFeatureCount.toLocaleString("en")} ({pct(atlas.labelCoverage, 1)})
            </dd>
          </div>
          <div>
            <dt>Label sources</dt>
            <dd>{atlas.labelSources.map((s) => `${s.source} ${s.count}`).join(", ") || "—"}</dd>
          </div>
          <div>
            <dt>Graphs</dt>
            <dd>{atlas.graphCount}</dd>
          </div>
        </dl>
        {atlas.transcoders.length > 0 && (
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Transcoders</caption>
              <thead>
                <tr>
                  <th>transcoder</th>
                  <th className="num">layers</th>
                  <th className="num">features / layer</th>
                  <th className="num">FVU</th>
                  <th className="num">L0 (all layers)</th>
                  <th className="num">dead</th>
                  <th className="num">top-1 agreement</th>
                </tr>
              </thead>
              <tbody>
                {atlas.transcoders.map((t) => (
                  <tr key={t.id}>
                    <td className="mono">{t.id}</td>
                    <td className="num">{t.nLayers}</td>
                    <td className="num">{t.nFeatures}</td>
                    <td className="num">{fmt(t.fvuMean)}</td>
                    <td className="num">{fmt(t.l0Total)}</td>
                    <td className="num">{pct(t.deadFraction, 1)}</td>
                    <td className="num">{pct(t.top1Agreement, 1)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="featured">
        <h2 id="featured">Featured graphs</h2>
        {atlas.featuredGraphs.length === 0 ? (
          <p className="muted">No attribution graphs have been ingested yet.</p>
        ) : (
          <ul className="results" data-testid="featured-graphs">
            {atlas.featuredGraphs.map((g) => (
              <li key={g.id}>
                <Link href={graphHref(g.id)}>
                  <span className="mono">{g.prompt}</span>
                </Link>
                <div className="meta">
                  {g.nodeCount} nodes · {g.edgeCount} edges · replacement {fmt(g.replacementScore)} · completeness{" "}
                  {fmt(g.completenessScore)}
                </div>
              </li>
            ))}
          </ul>
        )}
        <p>
          <Link href="/graphs">All graphs</Link>
        </p>
      </section>
      {atlas.studies.length > 0 && (
        <section aria-labelledby="studies">
          <h2 id="studies">Studies</h2>
          <ul>
            {atlas.studies.map((s) => (
              <li key={`${s.transcoderId}/${s.name}`}>
                <Link href={studyHref(s.name, s.transcoderId)}>{s.name}</Link>
                <span className="muted mono small"> {s.transcoderId}</span>
                {s.verdict && <span className="muted"> — {s.verdict}</span>}
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}
