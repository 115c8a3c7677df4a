// The atlas site in a real browser against the real stack: Neo4j (NEO4J_URI) holding the demo atlas
// built by the pipeline's CLI and `atlas ingest` (tests/src/demo-atlas.ts, shared with the API test),
// the GraphQL API (`npm run api`), and the Next.js production build (`next build` + `next start`). Debian's Chromium through playwright-core, kept
// off the network. Screenshots go to .test-results/screenshots/, page render times to
// .test-results/site-timings.json (reported, not asserted: speed belongs in benchmarks).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { closeDriver, loadConfig, ping } from "@circuit-atlas/db";
import type { Browser, Page } from "playwright-core";
import { blockExternal, launchBrowser, navigationTiming } from "../src/browser.ts";
import { type DemoAtlas, demoAtlas, GREATER_THAN_PROMPT } from "../src/demo-atlas.ts";
import { gqlData } from "../src/graphql.ts";
import { freePort, repoRoot, resultsDir, type Server, startApi, startServer } from "../src/stack.ts";

const shots = join(resultsDir, "screenshots");

let demo: DemoAtlas;
let api: Server;
let web: Server;
let browser: Browser;
let apiUrl: string;
let webUrl: string;
const timings: Record<string, unknown> = {};

const gql = <T>(query: string, variables: Record<string, unknown> = {}) => gqlData<T>(apiUrl, query, variables);

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

function featurePath(id: string): string {
  return `/features/${id.split("/").map(encodeURIComponent).join("/")}`;
}

async function counts(page: Page): Promise<{ nodes: number; edges: number }> {
  const text = (await page.getByTestId("graph-counts").textContent()) ?? "";
  const m = /(\d+) nodes · (\d+) edges/.exec(text);
  assert.ok(m, `graph counts text: ${text}`);
  return { nodes: Number(m[1]), edges: Number(m[2]) };
}

/** Results on the search page's first page (apps/web/src/app/search/page.tsx). */
const SEARCH_PAGE = 20;

/**
 * What to search for to reach a feature of the greater-than study (those have heatmaps) from the
 * first page of results: "year" when it lists one, else the words of a studied feature's label
 * (the full-text search ranks features matching more of them first).
 */
async function pickSearch(): Promise<{ query: string; featureId: string }> {
  type Search = { searchFeatures: { edges: { feature: { id: string } }[] } };
  const studied = await gql<{ study: { features: { feature: { id: string; label: { text: string } | null } }[] } }>(
    'query($t: ID) { study(name: "greater-than", transcoder: $t) { features(first: 50) { feature { id label { text } } } } }',
    { t: demo.transcoderId },
  );
  const ids = new Set(studied.study.features.map((f) => f.feature.id));
  const firstPage = async (q: string) =>
    (
      await gql<Search>(
        "query($q: String!, $t: ID, $n: Int) { searchFeatures(query: $q, transcoder: $t, first: $n) { edges { feature { id } } } }",
        { q, t: demo.transcoderId, n: SEARCH_PAGE },
      )
    ).searchFeatures.edges.map((e) => e.feature.id);
  const year = (await firstPage("year")).find((id) => ids.has(id));
  if (year) return { query: "year", featureId: year };
  for (const f of studied.study.features) {
    const words = f.feature.label?.text.match(/[A-Za-z]{3,}/g);
    if (!words) continue;
    const query = [...new Set(words)].join(" ");
    if ((await firstPage(query)).includes(f.feature.id)) return { query, featureId: f.feature.id };
  }
  throw new Error("no studied feature of the demo atlas is on the first result page of a search for its label words");
}

/** The circuit explorer's hop size (apps/web/src/app/circuits/page.tsx). */
const PER_HOP = 8;
type Hop = { circuit: { nodes: { id: string }[]; edges: { source: string; target: string }[] } };

/**
 * A feature of the demo graphs and a downstream neighbour of it whose own downstream expansion adds
 * edges, with the node/edge counts the explorer must show before and after that expansion (the union
 * of the API's answers, computed here).
 */
async function pickCircuit() {
  const hop = (id: string, direction: string) =>
    gql<Hop>(
      "query($id: ID!, $d: Direction, $n: Int) { circuit(featureId: $id, direction: $d, depth: 1, first: $n) { nodes { id } edges { source target } } }",
      { id, d: direction, n: PER_HOP },
    );
  const g = await gql<{ graph: { nodes: { feature: { id: string; layer: number } | null }[] } }>(
    "query($id: ID!) { graph(id: $id) { nodes { feature { id layer } } } }",
    { id: demo.graphIds[0] },
  );
  const candidates = [
    ...new Set(g.graph.nodes.flatMap((n) => (n.feature && n.feature.layer <= 1 ? [n.feature.id] : []))),
  ];
  for (const from of candidates) {
    const first = (await hop(from, "BOTH")).circuit;
    for (const e of first.edges.filter((e) => e.source === from)) {
      const more = (await hop(e.target, "DOWNSTREAM")).circuit;
      const nodes = new Set([...first.nodes, ...more.nodes].map((n) => n.id));
      const edges = new Set([...first.edges, ...more.edges].map((x) => `${x.source}>${x.target}`));
      if (edges.size > first.edges.length)
        return {
          from,
          next: e.target,
          start: { nodes: first.nodes.length, edges: first.edges.length },
          grown: { nodes: nodes.size, edges: edges.size },
        };
    }
  }
  throw new Error("no feature of the demo graph has a downstream neighbour with further downstream edges");
}

describe("atlas site in Chromium", { timeout: 40 * 60_000 }, () => {
  before(async () => {
    rmSync(shots, { recursive: true, force: true });
    mkdirSync(shots, { recursive: true });
    const db = await ping(loadConfig());
    if (!db.ok) throw new Error(`Neo4j is not reachable (${db.reason}): start it with \`npm run db:up\``);

    const t0 = performance.now();
    demo = await demoAtlas();
    timings.demoAtlasSec = Number(((performance.now() - t0) / 1000).toFixed(1));
    timings.demoAtlasBuildSteps = demo.steps;

    api = await startApi();
    apiUrl = api.url;

    // The production build, as users run it. ATLAS_WEB_SKIP_BUILD=1 reuses an existing .next/ while iterating.
    if (process.env.ATLAS_WEB_SKIP_BUILD !== "1") {
      const b0 = performance.now();
      const r = spawnSync("npm", ["run", "--silent", "build", "-w", "@circuit-atlas/web"], {
        cwd: repoRoot,
        encoding: "utf8",
        env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
      });
      assert.equal(r.status, 0, `next build failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
      timings.nextBuildSec = Number(((performance.now() - b0) / 1000).toFixed(1));
    }
    const webPort = await freePort();
    webUrl = `http://127.0.0.1:${webPort}`;
    web = await startServer({
      name: "web",
      cmd: "npm",
      args: ["run", "--silent", "start", "-w", "@circuit-atlas/web"],
      env: { PORT: String(webPort), WEB_HOST: "127.0.0.1", ATLAS_API_URL: apiUrl, NEXT_TELEMETRY_DISABLED: "1" },
      readyUrl: `${webUrl}/graphql`,
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
    await api?.stop();
    await closeDriver();
    writeFileSync(join(resultsDir, "site-timings.json"), `${JSON.stringify(timings, null, 2)}\n`);
    console.log(`site timings: ${JSON.stringify(timings, null, 1)}`);
  });

  test("search a label word → feature page (examples, heatmap) → graph (hover, click, prune, pin, URL state, JSON) → study", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const external = await blockExternal(page);
    const graphqlPosts: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && new URL(r.url()).pathname === "/graphql") graphqlPosts.push(r.postData() ?? "");
    });
    const { query, featureId } = await pickSearch();

    // Home: what the atlas holds, with the greater-than graph featured.
    const home = await page.goto(`${webUrl}/`);
    assert.equal(home?.status(), 200);
    await page.getByRole("heading", { name: "What this atlas holds" }).waitFor();
    assert.ok(Number((await page.getByTestId("feature-count").textContent())!.replace(/,/g, "")) > 0);
    await page.getByTestId("featured-graphs").getByText(GREATER_THAN_PROMPT).first().waitFor();
    await shot(page, "01-home");

    // Search as you type (no submit): "year" lists labelled features with scores and the URL becomes shareable.
    await page.getByRole("link", { name: "Search", exact: true }).click();
    await page.getByLabel("Transcoder").selectOption(demo.transcoderId);
    const input = page.getByLabel("Label text");
    await input.pressSequentially("year", { delay: 40 });
    await page.waitForURL((u) => u.searchParams.get("q") === "year", { timeout: 30_000 });
    const hits = page.locator("[data-testid=search-results] li");
    await hits.first().waitFor({ timeout: 30_000 });
    const count = Number(
      /(\d+) features? match/.exec((await page.getByTestId("result-count").textContent()) ?? "")?.[1],
    );
    assert.ok(count >= 1, "the result count is shown");
    const shown = await hits.evaluateAll((lis) =>
      lis.map((li) => ({
        label: li.querySelector("a.result-link")?.textContent ?? "",
        source: li.querySelector(".badge")?.textContent ?? "",
        meta: li.querySelector(".meta")?.textContent ?? "",
      })),
    );
    assert.equal(shown.length, Math.min(count, SEARCH_PAGE));
    for (const h of shown) {
      assert.ok(h.label.length > 0 && h.label !== "unlabeled" && h.source.length > 0, JSON.stringify(h));
      assert.match(h.meta, /match score \d/, JSON.stringify(h));
    }
    assert.ok(
      shown.some((h) => /year/i.test(h.label)),
      `a result for "year" has "year" in its label: ${JSON.stringify(shown)}`,
    );
    await shot(page, "02-search");
    if (query !== "year") {
      // Narrow down to a studied feature (one with a greater-than heatmap).
      await input.fill("");
      await input.pressSequentially(query, { delay: 20 });
    }
    const result = page.locator(`[data-testid=search-results] a[href="${featurePath(featureId)}"]`);
    await result.waitFor({ timeout: 30_000 });

    // Feature page: label, top examples with per-token activations, histogram, greater-than heatmap.
    await result.click();
    await page.getByTestId("feature-page").waitFor();
    assert.equal(new URL(page.url()).pathname, featurePath(featureId));
    const api = await gql<{
      feature: { histogram: { counts: number[] } | null; topExamples: { maxActivation: number }[] };
    }>("query($id: ID!) { feature(id: $id) { histogram { counts } topExamples(first: 15) { maxActivation } } }", {
      id: featureId,
    });
    const examples = page.locator("[data-testid=top-examples] li");
    assert.ok(api.feature.topExamples.length >= 1, "the demo feature has top examples");
    assert.equal(await examples.count(), api.feature.topExamples.length, "every top example is listed");
    // The activation histogram: one bar per bin of the dashboard, the total in its accessible name.
    assert.ok(api.feature.histogram, "the demo feature has a histogram");
    const bins = api.feature.histogram.counts;
    const hist = page.getByRole("img", { name: /^Nonzero activations: / });
    assert.match(
      (await hist.getAttribute("aria-label")) ?? "",
      new RegExp(`: ${bins.length} bins from .* ${bins.reduce((a, b) => a + b, 0)} values`),
    );
    assert.equal(await hist.locator("rect").count(), bins.length);
    const tok = page.locator("[data-testid=top-examples] .tok[data-value]").first();
    assert.match((await tok.getAttribute("title")) ?? "", /: -?\d/, "hovering a token shows its activation");
    const heat = page.getByTestId("heatmap").locator("canvas");
    await heat.waitFor();
    assert.match((await heat.getAttribute("aria-label")) ?? "", /\d+×100 cells/);
    // Hovering a cell reads out its value (retried: the first move may come before hydration).
    const readout = page.getByText(/YY=\d\d ZZ=\d\d: /);
    for (let i = 0; i < 30 && (await readout.count()) === 0; i++) {
      const { width, height } = (await heat.boundingBox())!;
      await heat.hover({ position: { x: width * (0.5 + i / 100), y: height * 0.5 } });
      await page.waitForTimeout(200);
    }
    await readout.waitFor({ timeout: 5_000 });
    await shot(page, "03-feature");

    // A graph: from the feature's own graph list when it is in one of ours, else from the graph list.
    const own = page.locator(
      demo.graphIds.map((g) => `[data-testid=feature-graphs] a[href="/graphs/${g}"]`).join(", "),
    );
    if ((await own.count()) > 0) await own.first().click();
    else {
      await page.getByRole("link", { name: "Graphs", exact: true }).click();
      await page.locator(`[data-testid=graph-list] a[href="/graphs/${demo.graphIds[0]}"]`).click();
    }
    await page.getByTestId("graph-counts").waitFor();
    const before = await counts(page);
    assert.ok(before.nodes >= 10 && before.edges >= 10, `graph has nodes and edges: ${JSON.stringify(before)}`);

    // Hover a feature node: its label; click it: its inputs and outputs, and the URL records it.
    const node = page.locator("g.graph-node[data-kind=feature]").first();
    const nodeId = (await node.getAttribute("data-node-id"))!;
    await node.hover();
    const tip = page.getByTestId("graph-tooltip");
    await tip.waitFor();
    assert.match((await tip.textContent()) ?? "", /L\d+ · pos \d+/);
    await shot(page, "04-graph-hover");
    await node.click();
    const details = page.getByTestId("node-details");
    await details.getByRole("heading", { name: /Inputs/ }).waitFor();
    await details.getByRole("heading", { name: /Outputs/ }).waitFor();
    const listed = await details.locator("[data-testid=node-inputs] li, [data-testid=node-outputs] li").count();
    assert.ok(listed >= 1, "a feature node of a pruned graph has at least one input or output");
    await page.waitForURL((u) => u.searchParams.get("node") === nodeId);

    // Pin it (shift-click) into the subgraph.
    await node.click({ modifiers: ["Shift"] });
    await page
      .getByTestId("pinned-subgraph")
      .getByRole("heading", { name: /Pinned subgraph \(1\)/ })
      .waitFor();
    await page.waitForURL((u) => u.searchParams.get("pinned") === nodeId);
    await shot(page, "05-graph-selected");

    // The pruning slider re-fetches the graph through GraphQL: fewer nodes at a lower threshold.
    const posts = graphqlPosts.length;
    await page.getByTestId("node-threshold").fill("0.3");
    await page.waitForFunction(
      (n) => {
        const m = /(\d+) nodes/.exec(document.querySelector("[data-testid=graph-counts]")?.textContent ?? "");
        return (
          m && !/loading/.test(document.querySelector("[data-testid=graph-counts]")!.textContent!) && Number(m[1]) < n
        );
      },
      before.nodes,
      { timeout: 30_000 },
    );
    const pruned = await counts(page);
    assert.ok(pruned.nodes < before.nodes, `${pruned.nodes} < ${before.nodes}`);
    assert.ok(
      graphqlPosts.slice(posts).some((b) => b.includes("GraphView")),
      "the slider re-fetched through /graphql",
    );
    await page.waitForURL((u) => u.searchParams.get("nodeThreshold") === "0.3");
    await shot(page, "06-graph-pruned");

    // The URL holds the view: a reload shows the same pruning, selection and pins.
    await page.reload();
    await page.getByTestId("graph-counts").waitFor();
    assert.deepEqual(await counts(page), pruned);
    assert.equal(await page.getByTestId("node-threshold").inputValue(), "0.3");

    // Download the graph JSON (circuit-tracer / Neuronpedia schema).
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download JSON" }).click(),
    ]);
    const json = JSON.parse(readFileSync((await download.path())!, "utf8")) as {
      metadata: { prompt: string };
      nodes: unknown[];
      links: unknown[];
    };
    assert.ok(json.nodes.length > 0 && json.links.length > 0 && typeof json.metadata.prompt === "string");

    // The study page, from the home page's list of studies.
    await page.goto(`${webUrl}/`);
    await page.locator(`a[href="/studies/greater-than?transcoder=${demo.transcoderId}"]`).click();
    await page.getByTestId("study-page").waitFor();
    const metrics = await page.getByTestId("study-metrics").locator("tbody tr").count();
    assert.equal(metrics, 4);
    assert.match((await page.getByTestId("study-verdict").textContent()) ?? "", /reproduce/);
    // Both probability heatmaps (model and replacement) and one small-multiple heatmap per ranked feature.
    assert.ok((await page.getByTestId("heatmap").count()) >= 3);
    for (const c of await page.getByTestId("heatmap").locator("canvas").all())
      assert.match((await c.getAttribute("aria-label")) ?? "", /\d+×100 cells/);
    const multiples = page.locator("[data-testid=study-features] > figure");
    assert.ok((await multiples.count()) >= 1);
    assert.equal(await multiples.locator("[data-testid=heatmap]").count(), await multiples.count());
    assert.ok((await multiples.first().locator(`a[href^="/features/${demo.transcoderId}/"]`).count()) >= 1);
    await shot(page, "07-study");

    assert.deepEqual(external, [], "no request left the machine");
    await page.close();
  });

  test("circuit explorer: a feature's upstream + downstream neighbourhood, then one more hop; the URL replays it", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const { from, next, start, grown } = await pickCircuit();
    await page.goto(`${webUrl}/circuits?from=${encodeURIComponent(from)}`);
    const countsText = page.getByTestId("circuit-counts");
    const read = async () => {
      const m = /(\d+) features · (\d+) edges(?! · loading)/.exec((await countsText.textContent()) ?? "");
      return m ? { nodes: Number(m[1]), edges: Number(m[2]) } : null;
    };
    await page.waitForFunction(() =>
      /edges$/.test(document.querySelector("[data-testid=circuit-counts]")?.textContent ?? ""),
    );
    assert.deepEqual(await read(), start, "the page shows the API's 1-hop neighbourhood");
    // Select a downstream neighbour and expand its outputs: the circuit grows and the URL records it.
    await page.locator(`g[role=button][aria-label$="(${next.split("/").at(-1)})"]`).click();
    await page.getByRole("button", { name: "Expand downstream" }).click();
    await page.waitForURL((u) => (u.searchParams.get("expand") ?? "").includes(`${next}~DOWNSTREAM`));
    await page.waitForFunction(
      (n) => document.querySelector("[data-testid=circuit-counts]")?.textContent === n,
      `${grown.nodes} features · ${grown.edges} edges`,
    );
    assert.ok(grown.edges > start.edges);
    await page.getByRole("heading", { name: "Outputs" }).waitFor();
    await shot(page, "07b-circuit");
    // Reloading replays the expansion from the URL.
    await page.reload();
    await page.waitForFunction(
      (n) => document.querySelector("[data-testid=circuit-counts]")?.textContent === n,
      `${grown.nodes} features · ${grown.edges} edges`,
    );
    await page.close();
  });

  test("server render time of each page (Navigation Timing, median of 3 loads)", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const { query, featureId } = await pickSearch();
    const pages: Record<string, string> = {
      home: "/",
      search: `/search?q=${encodeURIComponent(query)}&transcoder=${demo.transcoderId}`,
      feature: featurePath(featureId),
      graphs: "/graphs",
      graph: `/graphs/${demo.graphIds[0]}`,
      circuit: `/circuits?from=${encodeURIComponent(featureId)}`,
      study: `/studies/greater-than?transcoder=${demo.transcoderId}`,
    };
    const out: Record<string, { ttfbMs: number; responseEndMs: number }> = {};
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const [name, path] of Object.entries(pages)) {
      const runs: { ttfbMs: number; responseEndMs: number }[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await page.goto(`${webUrl}${path}`);
        assert.equal(r?.status(), 200, `${path} answered ${r?.status()}`);
        assert.equal(await page.getByTestId("api-problem").count(), 0, `${path} shows an API problem`);
        runs.push(await navigationTiming(page));
      }
      out[name] = {
        ttfbMs: Math.round(median(runs.map((r) => r.ttfbMs))),
        responseEndMs: Math.round(median(runs.map((r) => r.responseEndMs))),
      };
    }
    timings.serverRender = out;
    await page.close();
  });

  test("unknown ids get the 404 page", async () => {
    const page = await browser.newPage();
    for (const path of [
      `/features/${demo.transcoderId}/3_99999`,
      `/graphs/${demo.graphIds[0]}-missing`,
      "/studies/no-such-study",
      "/no/such/page",
    ]) {
      const r = await page.goto(`${webUrl}${path}`);
      assert.equal(r?.status(), 404, path);
      await page.getByTestId("not-found").waitFor();
    }
    await shot(page, "08-not-found");
    await page.close();
  });

  test("with the API down the pages say so instead of crashing", async () => {
    const deadPort = await freePort(); // nothing listens there
    const port = await freePort();
    const down = await startServer({
      name: "web-api-down",
      cmd: "npm",
      args: ["run", "--silent", "start", "-w", "@circuit-atlas/web"],
      env: { PORT: String(port), WEB_HOST: "127.0.0.1", ATLAS_API_URL: `http://127.0.0.1:${deadPort}/graphql` },
      readyUrl: `http://127.0.0.1:${port}/graphql`,
    });
    try {
      const page = await browser.newPage();
      for (const path of [
        "/",
        `/graphs/${demo.graphIds[0]}`,
        featurePath("x/0_0"),
        "/search?q=year",
        "/studies/greater-than",
      ]) {
        const r = await page.goto(`http://127.0.0.1:${port}${path}`);
        assert.ok(r && r.status() < 500, `${path} answered ${r?.status()}`);
        await page.getByText("The atlas API is not reachable").waitFor();
      }
      await shot(page, "09-api-down");
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }" }),
      });
      assert.equal(res.status, 502);
      const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
      assert.equal(body.errors[0]!.extensions.code, "API_UNAVAILABLE");
      await page.close();
    } finally {
      await down.stop();
    }
  });

  test("phone width: no page-wide horizontal scrolling; the graph scrolls inside its own box", async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const { featureId } = await pickSearch();
    for (const [name, path] of [
      ["home", "/"],
      ["feature", featurePath(featureId)],
      ["graph", `/graphs/${demo.graphIds[0]}`],
      ["study", `/studies/greater-than?transcoder=${demo.transcoderId}`],
    ] as const) {
      await page.goto(`${webUrl}${path}`);
      const { scroll, inner } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        inner: window.innerWidth,
      }));
      assert.ok(scroll <= inner + 1, `${name}: page is ${scroll}px wide in a ${inner}px viewport`);
      await shot(page, `10-phone-${name}`);
    }
    await page.close();
  });

  test("keyboard: tab to the graph, Enter selects a node, arrows move between nodes, P pins", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${webUrl}/graphs/${demo.graphIds[0]}`);
    await page.getByTestId("graph-counts").waitFor();
    let focused: string | null = null;
    for (let i = 0; i < 40 && !focused; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => document.activeElement?.getAttribute("data-node-id") ?? null);
    }
    assert.ok(focused, "a graph node is reachable with Tab");
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.searchParams.get("node") === focused);
    let moved: string | null = focused;
    for (const key of ["ArrowRight", "ArrowLeft", "ArrowUp", "ArrowDown"]) {
      await page.keyboard.press(key);
      moved = await page.evaluate(() => document.activeElement?.getAttribute("data-node-id") ?? null);
      if (moved !== focused) break;
    }
    assert.ok(moved && moved !== focused, "an arrow key moves the focus to another node");
    await page.keyboard.press("p");
    await page.waitForURL((u) => u.searchParams.get("pinned") === moved);
    // Every form control on the search page has an accessible name.
    await page.goto(`${webUrl}/search`);
    for (const name of ["Label text", "Layer", "Label source", "Transcoder"]) await page.getByLabel(name).waitFor();
    await page.close();
  });
});
