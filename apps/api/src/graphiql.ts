// GraphiQL for development, served by the API itself from npm packages (graphiql 3's UMD build on
// React 18's UMD builds): no CDN, so it works offline. GET /graphql with `Accept: text/html`.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import express, { type Router } from "express";

const require = createRequire(import.meta.url);
const dirOf = (pkg: string) => dirname(require.resolve(`${pkg}/package.json`));

const ASSETS: Record<string, string> = {
  "react.js": join(dirOf("react"), "umd/react.production.min.js"),
  "react-dom.js": join(dirOf("react-dom"), "umd/react-dom.production.min.js"),
  "graphiql.js": join(dirOf("graphiql"), "graphiql.min.js"),
  "graphiql.css": join(dirOf("graphiql"), "graphiql.min.css"),
};

export const GRAPHIQL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Circuit Atlas · GraphiQL</title>
<link rel="stylesheet" href="/graphiql/graphiql.css">
<style>html,body,#graphiql{height:100%;margin:0}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/react.js"></script>
<script src="/graphiql/react-dom.js"></script>
<script src="/graphiql/graphiql.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({ url: location.origin + "/graphql" });
const defaultQuery = "# Circuit Atlas\\n{\\n  searchFeatures(query: \\"year\\", first: 5) {\\n    totalCount\\n    edges { score feature { id layer label { text source } } }\\n  }\\n}\\n";
ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, { fetcher, defaultQuery }));
</script>
</body>
</html>`;

export function graphiqlRouter(): Router {
  const r = express.Router();
  for (const [name, file] of Object.entries(ASSETS)) {
    r.get(`/graphiql/${name}`, (_req, res) => {
      res.setHeader("Cache-Control", "public, max-age=3600");
      res.sendFile(file);
    });
  }
  r.get("/graphql", (req, res, next) => {
    if (!req.accepts("html") || req.query.query) return next();
    res.type("html").send(GRAPHIQL_HTML);
  });
  return r;
}
