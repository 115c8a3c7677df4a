// What a page shows when the API cannot answer: a clear message, never a crash or a blank page.
import { ApiUnavailableError } from "../lib/api.ts";

export function ApiProblem({ error }: { error: Error }) {
  const down = error instanceof ApiUnavailableError;
  return (
    <div className="notice" role="alert" data-testid="api-problem">
      <h2 style={{ marginTop: 0 }}>{down ? "The atlas API is not reachable" : "The atlas API returned an error"}</h2>
      <p>{error.message}</p>
      {down && (
        <p className="small">
          Start it with <code>npm run api</code> (it needs Neo4j: <code>npm run db:up</code>), or point this site at a
          running one with <code>ATLAS_API_URL</code>. Then reload this page.
        </p>
      )}
    </div>
  );
}
