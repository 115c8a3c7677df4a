import type { Metadata } from "next";
import Link from "next/link";
import { ApiProblem } from "../../../components/ApiProblem.tsx";
import { Heatmap } from "../../../components/Heatmap.tsx";
import type { StudyQuery } from "../../../gql/graphql.ts";
import { fmt, heatmapGrid } from "../../../lib/format.ts";
import { featureHref } from "../../../lib/links.ts";
import { load } from "../../../lib/load.ts";
import { param, type SearchParams } from "../../../lib/params.ts";
import { StudyDoc } from "../../../lib/queries.ts";

type Props = {
  params: Promise<{ name: string }>;
  searchParams: Promise<SearchParams>;
};
type S = NonNullable<StudyQuery["study"]>;

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  return { title: `Study: ${decodeURIComponent((await params).name)}` };
}

export default async function StudyPage({ params, searchParams }: Props) {
  const name = decodeURIComponent((await params).name);
  // Which transcoder's study, when the atlas holds several (the API picks when it holds one).
  const transcoder = param(await searchParams, "transcoder") || null;
  const r = await load(StudyDoc, { name, transcoder });
  if (!r.ok) return <ApiProblem error={r.error} />;
  const s = r.data.study;
  if (!s) return <ApiProblem error={new Error(`The API returned no study named ${name}.`)} />;
  return (
    <article data-testid="study-page">
      <h1>{s.name === "greater-than" ? "The greater-than study" : `Study: ${s.name}`}</h1>
      <p className="muted small">
        Transcoder <span className="mono">{s.transcoderId}</span>
      </p>
      {s.name === "greater-than" && (
        <p className="muted">
          Prompts like “The war lasted from the year 17YY to 17”: a model that does the task puts its probability on
          two-digit years ZZ &gt; YY. Following Hanna et al. (2023) and Goodfire's replication with CLTs, the metrics
          are on the full-vocabulary probabilities of the 100 tokens “00”…“99”; features are ranked by their influence
          at the final position over the study's attribution graphs.
        </p>
      )}
      {s.verdict && (
        <p className="panel">
          Verdict against Goodfire's picture: <strong data-testid="study-verdict">{s.verdict}</strong>
        </p>
      )}
      <Metrics s={s} />
      <section aria-labelledby="prob-h">
        <h2 id="prob-h">Probability heatmaps: mean p(ZZ) by start year YY</h2>
        <div style={{ display: "flex", flexWrap: "wrap", gap: "2rem" }}>
          {s.original?.heatmap && (
            <Heatmap rows={heatmapGrid(s.original.heatmap)} title="Original model" size={260} signed={false} />
          )}
          {s.replacement?.heatmap && (
            <Heatmap
              rows={heatmapGrid(s.replacement.heatmap)}
              title="Replacement model (CLT)"
              size={260}
              signed={false}
            />
          )}
        </div>
      </section>
      <section aria-labelledby="feat-h">
        <h2 id="feat-h">Ranked features</h2>
        <p className="muted small">
          Each map is the feature's direct effect on logit ZZ (columns) by start year YY (rows); green promotes, purple
          suppresses. Open a feature for its examples and connections.
        </p>
        <div className="small-multiples" data-testid="study-features">
          {s.features.map((f) => (
            <figure key={f.feature.id}>
              <Link
                href={featureHref(f.feature.id)}
                aria-label={`Feature ${f.feature.featureId}: ${f.feature.label?.text ?? "unlabeled"}`}
              >
                <Heatmap
                  rows={heatmapGrid(f.heatmap)}
                  title={`#${f.rank} ${f.feature.featureId}`}
                  size={150}
                  signed
                  compact
                />
              </Link>
              <figcaption>
                <strong>#{f.rank}</strong>{" "}
                <Link href={featureHref(f.feature.id)} className="mono">
                  {f.feature.featureId}
                </Link>{" "}
                {f.feature.label?.text ?? <em>unlabeled</em>}
                <div className="muted">
                  {f.types.join(", ") || "—"} · influence {fmt(f.influence)} · {f.graphsActive} graphs
                </div>
              </figcaption>
            </figure>
          ))}
        </div>
      </section>
    </article>
  );
}

function Metrics({ s }: { s: S }) {
  const rows: [string, (m: NonNullable<S["original"]>) => string][] = [
    ["prompts", (m) => String(m.n ?? "—")],
    ["probability difference (PD)", (m) => fmt(m.probabilityDifference)],
    ["cutoff sharpness", (m) => fmt(m.cutoffSharpness)],
    ["probability mass on years", (m) => fmt(m.yearMass)],
  ];
  return (
    <section aria-labelledby="metrics-h">
      <h2 id="metrics-h">Model vs replacement model</h2>
      <div className="table-wrap">
        <table data-testid="study-metrics">
          <thead>
            <tr>
              <th>metric</th>
              <th className="num">original model</th>
              <th className="num">replacement model</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(([name, get]) => (
              <tr key={name}>
                <td>{name}</td>
                <td className="num">{s.original ? get(s.original) : "—"}</td>
                <td className="num">{s.replacement ? get(s.replacement) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="small muted">
        Attribution graphs: {s.graphs} · mean replacement score {fmt(s.meanReplacementScore)} · mean completeness score{" "}
        {fmt(s.meanCompletenessScore)}
      </p>
    </section>
  );
}
