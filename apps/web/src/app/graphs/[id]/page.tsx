import type { Metadata } from "next";
import { ApiProblem } from "../../../components/ApiProblem.tsx";
import { GraphViewer } from "../../../components/graph-viewer/GraphViewer.tsx";
import { fmt, pct } from "../../../lib/format.ts";
import { toViewGraph } from "../../../lib/graph-client.ts";
import { parseViewState } from "../../../lib/graph-state.ts";
import { load } from "../../../lib/load.ts";
import type { SearchParams } from "../../../lib/params.ts";
import { GraphDoc } from "../../../lib/queries.ts";

type Props = { params: Promise<{ id: string }>; searchParams: Promise<SearchParams> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  return { title: `Graph ${decodeURIComponent((await params).id)}` };
}

export default async function GraphPage({ params, searchParams }: Props) {
  const id = decodeURIComponent((await params).id);
  const state = parseViewState(await searchParams);
  const r = await load(GraphDoc, { id, nodeThreshold: state.nodeThreshold, edgeThreshold: state.edgeThreshold });
  if (!r.ok) return <ApiProblem error={r.error} />;
  const g = r.data.graph;
  if (!g) return <ApiProblem error={new Error(`The API returned no graph for ${id}.`)} />;
  return (
    <>
      <h1 className="mono" style={{ fontSize: "1.3rem" }}>
        {g.prompt}
      </h1>
      <dl className="stats">
        <div>
          <dt>graph</dt>
          <dd className="mono">{g.id}</dd>
        </div>
        <div>
          <dt>replacement score</dt>
          <dd>{fmt(g.replacementScore)}</dd>
        </div>
        <div>
          <dt>completeness score</dt>
          <dd>{fmt(g.completenessScore)}</dd>
        </div>
        {g.validationSpearmanLive != null && (
          <div>
            <dt>ablation ρ (live / frozen)</dt>
            <dd>
              {fmt(g.validationSpearmanLive)} / {fmt(g.validationSpearmanFrozen)}
            </dd>
          </div>
        )}
        <div>
          <dt>target logits</dt>
          <dd className="mono">
            {g.targetLogits.map((t) => `${JSON.stringify(t.token)} ${pct(t.probability, 1)}`).join(", ") || "—"}
          </dd>
        </div>
      </dl>
      <GraphViewer initialGraph={toViewGraph(g)} initialState={state} />
    </>
  );
}
