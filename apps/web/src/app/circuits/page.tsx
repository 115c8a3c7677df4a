import type { Metadata } from "next";
import Link from "next/link";
import { ApiProblem } from "../../components/ApiProblem.tsx";
import { fmt } from "../../lib/format.ts";
import { featureHref } from "../../lib/links.ts";
import { load } from "../../lib/load.ts";
import { param, type SearchParams } from "../../lib/params.ts";
import { CircuitDoc, PathsDoc } from "../../lib/queries.ts";
import { CircuitExplorer } from "./CircuitExplorer.tsx";

export const metadata: Metadata = { title: "Circuit explorer" };

type SP = Promise<SearchParams>;
const PER_HOP = 8;

export default async function CircuitsPage({ searchParams }: { searchParams: SP }) {
  const sp = await searchParams;
  const from = param(sp, "from");
  const to = param(sp, "to");
  const graphId = param(sp, "graph") || null;
  const expand = param(sp, "expand").split(",").filter(Boolean);
  const [circuit, paths] = await Promise.all([
    from ? load(CircuitDoc, { featureId: from, direction: "BOTH", depth: 1, graphId, first: PER_HOP }) : null,
    from && to ? load(PathsDoc, { from, to, maxHops: 4, graphId, first: 10 }) : null,
  ]);
  return (
    <>
      <h1>Circuit explorer</h1>
      <p className="muted">
        Start from a feature and expand its upstream or downstream neighbours hop by hop, over the aggregate of all
        ingested attribution graphs (edge weights summed over graphs) or within one graph. Give a second feature to find
        the strongest paths between the two.
      </p>
      <form className="search-form" action="/circuits">
        <label>
          From feature
          <input name="from" type="text" defaultValue={from} placeholder="e.g. 3_117" required />
        </label>
        <label>
          To feature (optional, for paths)
          <input name="to" type="text" defaultValue={to} placeholder="e.g. 5_40" />
        </label>
        <label>
          Graph (optional)
          <input name="graph" type="text" defaultValue={graphId ?? ""} placeholder="aggregate" />
        </label>
        <button type="submit">Explore</button>
      </form>
      {circuit && !circuit.ok && <ApiProblem error={circuit.error} />}
      {circuit?.ok && (
        <CircuitExplorer
          key={`${from}|${graphId}`}
          from={from}
          graphId={graphId}
          initial={circuit.data.circuit}
          expand={expand}
          perHop={PER_HOP}
        />
      )}
      {paths && !paths.ok && <ApiProblem error={paths.error} />}
      {paths?.ok && (
        <section aria-labelledby="paths-h">
          <h2 id="paths-h">
            Strongest paths from <span className="mono">{from}</span> to <span className="mono">{to}</span>
          </h2>
          <p className="muted small">
            Path score: the product over its edges of each edge's share of its target's total |input weight| (in [0,
            1]).
          </p>
          {paths.data.paths.length === 0 ? (
            <p>No path within 4 hops.</p>
          ) : (
            <ol data-testid="paths">
              {paths.data.paths.map((p) => (
                <li key={p.nodes.map((n) => n.id).join(">")}>
                  <span className="mono small">
                    score {fmt(p.score)} · {p.sign < 0 ? "inhibitory" : "excitatory"} · {p.hops} hop(s)
                  </span>
                  <div>
                    {p.nodes.map((n, i) => (
                      <span key={n.id}>
                        {i > 0 && (
                          <span className={(p.edges[i - 1]?.weight ?? 0) < 0 ? "w-neg" : "w-pos"}>
                            {" "}
                            → ({fmt(p.edges[i - 1]?.weight)}){" "}
                          </span>
                        )}
                        <Link href={featureHref(n.id)}>{n.label?.text ?? n.featureId}</Link>
                      </span>
                    ))}
                  </div>
                </li>
              ))}
            </ol>
          )}
        </section>
      )}
    </>
  );
}
