import type { Metadata } from "next";
import Link from "next/link";
import { ApiProblem } from "../../components/ApiProblem.tsx";
import { fmt } from "../../lib/format.ts";
import { graphHref } from "../../lib/links.ts";
import { load } from "../../lib/load.ts";
import { GraphsDoc } from "../../lib/queries.ts";

export const metadata: Metadata = { title: "Attribution graphs" };

export default async function GraphsPage({ searchParams }: { searchParams: Promise<{ after?: string }> }) {
  const { after } = await searchParams;
  const r = await load(GraphsDoc, { first: 50, after: after ?? null });
  if (!r.ok) return <ApiProblem error={r.error} />;
  const c = r.data.graphs;
  return (
    <>
      <h1>Attribution graphs</h1>
      <p className="muted">{c.totalCount} graph(s) in the atlas, newest first.</p>
      <div className="table-wrap">
        <table data-testid="graph-list">
          <thead>
            <tr>
              <th>prompt</th>
              <th className="num">nodes</th>
              <th className="num">edges</th>
              <th className="num">replacement</th>
              <th className="num">completeness</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {c.edges.map(({ node: g }) => (
              <tr key={g.id}>
                <td>
                  <Link href={graphHref(g.id)} className="mono">
                    {g.prompt}
                  </Link>
                </td>
                <td className="num">{g.nodeCount}</td>
                <td className="num">{g.edgeCount}</td>
                <td className="num">{fmt(g.replacementScore)}</td>
                <td className="num">{fmt(g.completenessScore)}</td>
                <td className="small">{g.createdAt ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Graph pages">
        {after && <Link href="/graphs">← First page</Link>}
        {c.pageInfo.hasNextPage && c.pageInfo.endCursor && (
          <Link href={`/graphs?after=${encodeURIComponent(c.pageInfo.endCursor)}`}>Next page →</Link>
        )}
      </nav>
    </>
  );
}
