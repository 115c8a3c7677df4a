// The atlas site in a real browser against the real stack: Neo4j (NEO4J_URI) holding a demo atlas
// built by the pipeline's CLI and `atlas ingest`, the GraphQL API (`npm run api`), and the Next.js
// production build (`next build` + `next start`). Debian's Chromium through playwright-core, kept
// off the network. Screenshots go to .test-results/screenshots/, page render times to
// .test-results/site-timings.json (reported, not asserted: speed belongs in benchmarks).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { closeDriver, loadConfig, ping } from "@circuit-atlas/db";
import type { Browser, Page } from "playwright-core";
import { blockExternal, launchBrowser, navigationTiming } from "../src/browser.ts";
import { buildDemoAtlas, type DemoAtlas, GREATER_THAN_PROMPT, removeAtlas } from "../src/demo-atlas.ts";
import { freePort, repoRoot, resultsDir, type Server, startServer } from "../src/stack.ts";

const TAG = `e2e${process.pid}${Date.now().toString(36)}`;
const shots = join(resultsDir, "screenshots");
const work = mkdtempSync(join(tmpdir(), "atlas-site-"));

let demo: DemoAtlas;
let api: Server;
let web: Server;
let browser: Browser;
let apiUrl: string;
let webUrl: string;
const timings: Record<string, unknown> = {};

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(apiUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(`API: ${body.errors.map((e) => e.message).join("; ")}`);
  return body.data!;
}

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

/**
 * The label word to search and the feature to open: "year" when it finds a feature of the
 * greater-than study (those have heatmaps), else the longest word of a studied feature's label.
 */
async function pickSearch(): Promise<{ word: string; featureId: string }> {
  type Search = { searchFeatures: { edges: { feature: { id: string } }[] } };
  const studied = await gql<{ study: { features: { feature: { id: string; label: { text: string } | null } }[] } }>(
    'query($t: ID) { study(name: "greater-than", transcoder: $t) { features(first: 50) { feature { id label { text } } } } }',
    { t: demo.transcoderId },
  );
  const ids = new Set(studied.study.features.map((f) => f.feature.id));
  const search = (q: string) =>
    gql<Search>(
      "query($q: String!, $t: ID) { searchFeatures(query: $q, transcoder: $t, first: 50) { edges { feature { id } } } }",
      {
        q,
        t: demo.transcoderId,
      },
    );
  const year = (await search("year")).searchFeatures.edges.find((e) => ids.has(e.feature.id));
  if (year) return { word: "year", featureId: year.feature.id };
  for (const f of studied.study.features) {
    const word = f.feature.label?.text.match(/[A-Za-z]{3,}/g)?.sort((a, b) => b.length - a.length)[0];
    if (!word) continue;
    if ((await search(word)).searchFeatures.edges.some((e) => e.feature.id === f.feature.id))
      return { word, featureId: f.feature.id };
  }
  throw new Error("no studied feature of the demo atlas can be found by a word of its label");
}

describe("atlas site in Chromium", { timeout: 40 * 60_000 }, () => {
  before(async () => {
    rmSync(shots, { recursive: true, force: true });
    mkdirSync(shots, { recursive: true });
    const db = await ping(loadConfig());
    if (!db.ok) throw new Error(`Neo4j is not reachable (${db.reason}): start it with \`npm run db:up\``);

    const t0 = performance.now();
    demo = buildDemoAtlas(work, TAG);
    timings.demoAtlasBuildSec = Number(((performance.now() - t0) / 1000).toFixed(1));
    timings.demoAtlasSteps = demo.steps;

    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}/graphql`;
    api = await startServer({
      name: "api",
      cmd: "npm",
      args: ["run", "--silent", "api", "-w", "@circuit-atlas/api"],
      // Generous query timeout: the test machine may be shared and slow; latency is bench:api's business.
      env: { PORT: String(apiPort), HOST: "127.0.0.1", ATLAS_API_TIMEOUT_MS: "60000" },
      readyUrl: apiUrl,
      readyGraphQL: "{ __typename }",
    });

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
    if (demo) await removeAtlas(demo.transcoderId);
    await closeDriver();
    rmSync(work, { recursive: true, force: true });
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
    const { word, featureId } = await pickSearch();

    // Home: what the atlas holds, with the greater-than graph featured.
    const home = await page.goto(`${webUrl}/`);
    assert.equal(home?.status(), 200);
    await page.getByRole("heading", { name: "What this atlas holds" }).waitFor();
    assert.ok(Number((await page.getByTestId("feature-count").textContent())!.replace(/,/g, "")) > 0);
    await page.getByTestId("featured-graphs").getByText(GREATER_THAN_PROMPT).first().waitFor();
    await shot(page, "01-home");

    // Search as you type (no submit): the results appear and the URL becomes shareable.
    await page.getByRole("link", { name: "Search", exact: true }).click();
    await page.getByLabel("Transcoder").selectOption(demo.transcoderId);
    await page.getByLabel("Label text").pressSequentially(word, { delay: 40 });
    const result = page.locator(`[data-testid=search-results] a[href="${featurePath(featureId)}"]`);
    await result.waitFor({ timeout: 30_000 });
    assert.match(page.url(), new RegExp(`[?&]q=${word}`));
    const n = Number(/(\d+) features? match/.exec((await page.getByTestId("result-count").textContent()) ?? "")?.[1]);
    assert.ok(n >= 1, "the result count is shown");
    await shot(page, "02-search");

    // Feature page: label, top examples with per-token activations, histogram, greater-than heatmap.
    await result.click();
    await page.getByTestId("feature-page").waitFor();
    assert.equal(new URL(page.url()).pathname, featurePath(featureId));
    const examples = page.locator("[data-testid=top-examples] li");
    assert.ok((await examples.count()) >= 1, "top examples are listed");
    const tok = page.locator("[data-testid=top-examples] .tok[data-value]").first();
    assert.match((await tok.getAttribute("title")) ?? "", /: -?\d/, "hovering a token shows its activation");
    const heat = page.getByTestId("heatmap").locator("canvas");
    await heat.waitFor();
    assert.match((await heat.getAttribute("aria-label")) ?? "", /\d+×100 cells/);
    const box = (await heat.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await page.getByText(/YY=\d\d ZZ=\d\d: /).waitFor();
    await shot(page, "03-feature");

    // A graph: from the feature's own graph list when it is in one of ours, else from the graph list.
    const own = page.locator(`[data-testid=feature-graphs] a[href^="/graphs/${TAG}"]`);
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
    const multiples = page.locator("[data-testid=study-features] figure");
    assert.ok((await multiples.count()) >= 1);
    assert.ok((await multiples.first().locator(`a[href^="/features/${demo.transcoderId}/"]`).count()) >= 1);
    await shot(page, "07-study");

    assert.deepEqual(external, [], "no request left the machine");
    await page.close();
  });

  test("server render time of each page (Navigation Timing, median of 3 loads)", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const { word, featureId } = await pickSearch();
    const pages: Record<string, string> = {
      home: "/",
      search: `/search?q=${encodeURIComponent(word)}&transcoder=${demo.transcoderId}`,
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
      `/graphs/${TAG}-missing`,
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
