import type { Metadata } from "next";
import Link from "next/link";
import { ApiProblem } from "../../../components/ApiProblem.tsx";
import { Heatmap } from "../../../components/Heatmap.tsx";
import { Histogram } from "../../../components/Histogram.tsx";
import { TokenString } from "../../../components/TokenString.tsx";
import type { FeaturePageQuery } from "../../../gql/graphql.ts";
import { fmt, heatmapGrid, histogramBins, pct, showToken } from "../../../lib/format.ts";
import { circuitHref, featureHref, featureIdFromParams, graphHref } from "../../../lib/links.ts";
import { load } from "../../../lib/load.ts";
import { param, type SearchParams } from "../../../lib/params.ts";
import { FeatureDoc } from "../../../lib/queries.ts";

type Props = {
  params: Promise<{ id: string[] }>;
  searchParams: Promise<SearchParams>;
};
type F = NonNullable<FeaturePageQuery["feature"]>;
type LabelT = NonNullable<F["label"]>;

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  return { title: `Feature ${featureIdFromParams((await params).id)}` };
}

export default async function FeaturePage({ params, searchParams }: Props) {
  const id = featureIdFromParams((await params).id);
  const graphId = param(await searchParams, "graph") || null;
  const r = await load(FeatureDoc, { id, graphId });
  if (!r.ok) return <ApiProblem error={r.error} />;
  const f = r.data.feature;
  if (!f) return <ApiProblem error={new Error(`The API returned no feature for ${id}.`)} />;
  return (
    <article data-testid="feature-page">
      <p className="muted small" style={{ marginBottom: 0 }}>
        <span className="mono">{f.id}</span> · layer {f.layer} · feature {f.index}
      </p>
      <h1>
        {f.label?.text ?? <em>unlabeled feature</em>} {f.label && <span className="badge">{f.label.source}</span>}
      </h1>
      {f.label?.description && <p>{f.label.description}</p>}
      <dl className="stats">
        <Stat name="density" value={pct(f.density, 3)} />
        <Stat name="max activation" value={fmt(f.maxActivation)} />
        <Stat name="mean activation" value={fmt(f.meanActivation)} />
        <Stat name="in graphs" value={String(f.graphCount)} />
        {f.label?.score != null && <Stat name="label score" value={fmt(f.label.score)} />}
        {f.greaterThan && <Stat name="greater-than rank" value={`#${f.greaterThan.rank}`} />}
      </dl>
      <p>
        <Link href={circuitHref(f.id)}>Explore its circuit</Link>
      </p>
      {f.label && <LabelDetails label={f.label} />}
      {f.labelHistory.length > 1 && <LabelHistory labels={f.labelHistory} />}

      <div className="grid-2">
        <section aria-labelledby="examples-h">
          <h2 id="examples-h">Top activating examples</h2>
          {f.topExamples.length === 0 ? (
            <p className="muted">No examples recorded.</p>
          ) : (
            <ol className="example-list" data-testid="top-examples">
              {f.topExamples.map((ex) => (
                <li key={exampleKey(ex)}>
                  <span className="muted small mono">{fmt(ex.maxActivation)} </span>
                  <TokenString tokens={ex.tokens} activations={ex.activations} max={f.maxActivation ?? undefined} />
                </li>
              ))}
            </ol>
          )}
          {f.quantileExamples.length > 0 && (
            <>
              <h3>Examples by activation interval</h3>
              {f.quantileExamples.map((q) => (
                <details key={`${q.lower}:${q.upper}`}>
                  <summary>
                    {fmt(q.lower)} – {fmt(q.upper)} <span className="muted small">({q.examples.length})</span>
                  </summary>
                  <ol className="example-list">
                    {q.examples.map((ex) => (
                      <li key={exampleKey(ex)}>
                        <TokenString
                          tokens={ex.tokens}
                          activations={ex.activations}
                          max={f.maxActivation ?? undefined}
                        />
                      </li>
                    ))}
                  </ol>
                </details>
              ))}
            </>
          )}
        </section>
        <section aria-labelledby="dist-h">
          <h2 id="dist-h">Activations</h2>
          {f.histogram ? (
            <Histogram bins={histogramBins(f.histogram)} title="Nonzero activations" logY />
          ) : (
            <p className="muted">No histogram recorded.</p>
          )}
          <div className="grid-2" style={{ gridTemplateColumns: "repeat(auto-fit, minmax(150px, 1fr))" }}>
            <LogitTable title="Top logits (promoted)" rows={f.topLogits} />
            <LogitTable title="Bottom logits (suppressed)" rows={f.bottomLogits} />
          </div>
          {f.heatmap && (
            <>
              <h2>Greater-than heatmap</h2>
              <Heatmap
                rows={heatmapGrid(f.heatmap)}
                title="Direct effect on logit ZZ, by start year YY"
                size={280}
                signed
              />
              {f.greaterThan && (
                <p className="small muted">
                  Rank {f.greaterThan.rank} in the <Link href="/studies/greater-than">greater-than study</Link> · types:{" "}
                  {f.greaterThan.types.join(", ") || "—"} · active in {f.greaterThan.graphsActive} graphs
                </p>
              )}
            </>
          )}
        </section>
      </div>

      <section aria-labelledby="nb-h">
        <h2 id="nb-h">
          Connected features{" "}
          {graphId ? (
            <>
              in graph <span className="mono">{graphId}</span>
            </>
          ) : (
            "across all graphs"
          )}
        </h2>
        <GraphScope f={f} graphId={graphId} />
        <div className="grid-2">
          <NeighborTable title="Upstream (writes into this feature)" rows={f.upstream} />
          <NeighborTable title="Downstream (this feature writes into)" rows={f.downstream} />
        </div>
        {f.virtualNeighbors.length > 0 && (
          <>
            <h3>Virtual weights (decoder · encoder, residual-direct)</h3>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>feature</th>
                    <th>direction</th>
                    <th className="num">weight</th>
                  </tr>
                </thead>
                <tbody>
                  {f.virtualNeighbors.map((v) => (
                    <tr key={`${v.direction}:${v.feature.id}`}>
                      <td>
                        <Link href={featureHref(v.feature.id)}>{v.feature.label?.text ?? v.feature.featureId}</Link>
                      </td>
                      <td>{v.direction.toLowerCase()}</td>
                      <td className={`num ${v.weight < 0 ? "w-neg" : "w-pos"}`}>{fmt(v.weight)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </section>

      <section aria-labelledby="graphs-h">
        <h2 id="graphs-h">Graphs containing this feature</h2>
        {f.graphs.length === 0 ? (
          <p className="muted">None.</p>
        ) : (
          <ul data-testid="feature-graphs">
            {f.graphs.map((gr) => (
              <li key={gr.id}>
                <Link href={graphHref(gr.id)} className="mono">
                  {gr.prompt}
                </Link>
              </li>
            ))}
          </ul>
        )}
      </section>

      {f.causalEffects.length > 0 && <CausalTable f={f} />}
    </article>
  );
}

/** Examples carry no id: their text, peak and peak position identify them within one list. */
function exampleKey(ex: { tokens: readonly string[]; maxActivation: number; maxPosition: number }): string {
  return `${ex.maxPosition}:${ex.maxActivation}:${ex.tokens.join("")}`;
}

function Stat({ name, value }: { name: string; value: string }) {
  return (
    <div>
      <dt>{name}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function LabelDetails({ label }: { label: LabelT }) {
  return (
    <details className="panel">
      <summary>
        Label provenance and scores{" "}
        <span className="muted small">
          ({label.source}
          {label.explainer ? `, ${label.explainer}` : ""}, {label.createdAt})
        </span>
      </summary>
      {label.method && <p className="small">Method: {label.method}</p>}
      {label.scores.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>score</th>
              <th className="num">value</th>
              <th className="num">n</th>
              <th className="num">95% interval</th>
            </tr>
          </thead>
          <tbody>
            {label.scores.map((s) => (
              <tr key={s.name}>
                <td>{s.name}</td>
                <td className="num">{fmt(s.value)}</td>
                <td className="num">{s.n ?? "—"}</td>
                <td className="num">
                  {s.lower != null && s.upper != null ? `${fmt(s.lower)} – ${fmt(s.upper)}` : "—"}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {label.provenance != null && (
        <pre className="small" style={{ overflowX: "auto", maxHeight: "20rem" }}>
          {JSON.stringify(label.provenance, null, 2)}
        </pre>
      )}
    </details>
  );
}

function LabelHistory({ labels }: { labels: F["labelHistory"] }) {
  return (
    <details style={{ marginTop: "0.5rem" }}>
      <summary>Label history ({labels.length})</summary>
      <table>
        <thead>
          <tr>
            <th>label</th>
            <th>source</th>
            <th className="num">score</th>
            <th>created</th>
          </tr>
        </thead>
        <tbody>
          {labels.map((l) => (
            <tr key={l.id}>
              <td>
                {l.text} {l.current && <span className="badge">current</span>}
              </td>
              <td>{l.source}</td>
              <td className="num">{fmt(l.score)}</td>
              <td className="small">{l.createdAt}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

function LogitTable({ title, rows }: { title: string; rows: F["topLogits"] }) {
  return (
    <div>
      <h3>{title}</h3>
      {rows.length === 0 ? (
        <p className="muted small">none recorded</p>
      ) : (
        <table>
          <tbody>
            {rows.map((l) => (
              <tr key={l.token}>
                <td className="mono">{JSON.stringify(showToken(l.token))}</td>
                <td className={`num ${l.value < 0 ? "w-neg" : "w-pos"}`}>{fmt(l.value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function NeighborTable({ title, rows }: { title: string; rows: F["upstream"] }) {
  return (
    <div>
      <h3>{title}</h3>
      {rows.length === 0 ? (
        <p className="muted small">none</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>feature</th>
                <th className="num">weight</th>
                <th className="num">edges</th>
                <th className="num">graphs</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((n) => (
                <tr key={n.feature.id}>
                  <td>
                    <Link href={featureHref(n.feature.id)}>{n.feature.label?.text ?? n.feature.featureId}</Link>{" "}
                    <span className="muted small mono">{n.feature.featureId}</span>
                  </td>
                  <td className={`num ${n.weight < 0 ? "w-neg" : "w-pos"}`}>{fmt(n.weight)}</td>
                  <td className="num">{n.count}</td>
                  <td className="num">{n.graphs}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function GraphScope({ f, graphId }: { f: F; graphId: string | null }) {
  if (f.graphs.length === 0) return null;
  return (
    <form className="search-form" action={featureHref(f.id)}>
      <label>
        Scope
        <select name="graph" defaultValue={graphId ?? ""}>
          <option value="">all graphs (aggregate)</option>
          {f.graphs.map((g) => (
            <option key={g.id} value={g.id}>
              {g.prompt}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" className="secondary">
        Show
      </button>
    </form>
  );
}

function CausalTable({ f }: { f: F }) {
  return (
    <section aria-labelledby="causal-h">
      <h2 id="causal-h">Causal evidence (ablation)</h2>
      {f.causalSummary && (
        <p className="small">
          Over {f.causalSummary.count} validated node(s): predicted {fmt(f.causalSummary.predictedMean)}, measured on
          the live model {fmt(f.causalSummary.measuredLiveMean)}, on the frozen replacement{" "}
          {fmt(f.causalSummary.measuredFrozenMean)} (mean effect on the target logit).
        </p>
      )}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>graph</th>
              <th className="num">position</th>
              <th>target</th>
              <th className="num">predicted</th>
              <th className="num">measured (live)</th>
              <th className="num">measured (frozen)</th>
            </tr>
          </thead>
          <tbody>
            {f.causalEffects.map((c) => (
              <tr key={`${c.graphId}:${c.nodeId}`}>
                <td>
                  <Link href={graphHref(c.graphId, { node: c.nodeId })} className="mono">
                    {c.graphId}
                  </Link>
                </td>
                <td className="num">{c.position}</td>
                <td className="mono">{c.target ?? "—"}</td>
                <td className="num">{fmt(c.predicted)}</td>
                <td className="num">{fmt(c.measuredLive)}</td>
                <td className="num">{fmt(c.measuredFrozen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
