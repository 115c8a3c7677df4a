// bench:web — is the graph viewer smooth at 1,000 nodes? Chromium (Debian, headless, offline) loads
// the viewer's link graph on a synthetic graph (default 1,000 nodes, ~10,000 edges, 24 positions,
// 12 layers) and measures, inside the page, the time from a hover to the next painted frame for
// 300 nodes; the floor is the same measurement on a page whose hover only sets one React state.
// Prints latencies and their ratio to the floor (speed is reported here, never asserted in tests).
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { summarizeSamples } from "@circuit-atlas/util";
import { build } from "esbuild";
import { launchBrowser } from "../src/browser.ts";
import { repoRoot } from "../src/stack.ts";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
const query = new URLSearchParams({
  nodes: args.nodes ?? "1000",
  edges: args.edges ?? "10000",
  positions: "24",
  layers: "12",
});

// The React the web app itself resolves (the workspace root may hoist another major for other packages).
const webRequire = createRequire(join(repoRoot, "apps", "web", "package.json"));
const pkgDir = (name: string) => dirname(webRequire.resolve(`${name}/package.json`));

const bundle = await build({
  alias: { react: pkgDir("react"), "react-dom": pkgDir("react-dom") },
  entryPoints: [join(repoRoot, "tests", "bench", "viewer-harness.tsx")],
  bundle: true,
  write: false,
  minify: true,
  format: "esm",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "error",
});
const js = bundle.outputFiles[0]!.text;
const css = `:root{--feature:#0f766e;--error-node:#6b7280;--io-node:#334155;--pin:#c2410c;--pos:#1b7837;--neg:#9c2a8e}
.graph-canvas-wrap{position:relative}.graph-canvas-wrap canvas,.graph-canvas-wrap svg.nodes{position:absolute;inset:0}`;
const html = `<!doctype html><html><head><style>${css}</style></head><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>`;
const server = createServer((req, res) => {
  if (req.url?.startsWith("/app.js")) res.writeHead(200, { "content-type": "text/javascript" }).end(js);
  else res.writeHead(200, { "content-type": "text/html" }).end(html);
});
await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const browser = await launchBrowser();
async function measure(url: string) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { __rendered?: number }).__rendered !== undefined);
  const rendered = await page.evaluate(() => (window as unknown as { __rendered: number }).__rendered);
  // A string, not a function: tsx would add helpers to a function that do not exist in the page.
  const lat: number[] = await page.evaluate(`(async () => {
    const els = [...document.querySelectorAll("[data-node-id]")];
    const out = [];
    const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    await frame();
    for (let i = 0; i < Math.min(300, els.length); i++) {
      const el = els[(i * 7919) % els.length];
      const t0 = performance.now();
      el.dispatchEvent(new PointerEvent("pointerover", { bubbles: true }));
      await frame();
      out.push(performance.now() - t0);
    }
    return out;
  })()`);
  const edges = await page.evaluate(() => (window as unknown as { __edges?: number }).__edges ?? 0);
  await page.close();
  const { p50, p95 } = summarizeSamples(lat);
  return { rendered, p50, p95, edges };
}

const floor = await measure(`${base}/?floor=1&${query}`);
const viewer = await measure(`${base}/?${query}`);
await browser.close();
server.close();
const r = (x: number) => x.toFixed(1);
console.log(`graph viewer, ${query.get("nodes")} nodes / ${viewer.edges} edges (Chromium headless, this machine):`);
console.log(`  first render ${r(viewer.rendered)} ms (floor page ${r(floor.rendered)} ms)`);
console.log(`  hover → next frame: p50 ${r(viewer.p50)} ms, p95 ${r(viewer.p95)} ms`);
console.log(`  floor (one React state update): p50 ${r(floor.p50)} ms, p95 ${r(floor.p95)} ms`);
console.log(
  `  ratio to floor: p50 ${(viewer.p50 / floor.p50).toFixed(2)}×, p95 ${(viewer.p95 / floor.p95).toFixed(2)}×`,
);
