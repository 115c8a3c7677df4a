// Debian's Chromium, headless, driven by playwright-core — and kept off the network: no component
// updates, sync, safe-browsing, metrics or DNS for anything but the loopback address.
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.ATLAS_CHROMIUM ?? "/usr/bin/chromium";

export const OFFLINE_FLAGS = [
  "--no-sandbox", // tests run as root in CI
  "--disable-dev-shm-usage",
  "--disable-gpu",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-domain-reliability",
  "--disable-client-side-phishing-detection",
  "--safebrowsing-disable-auto-update",
  "--metrics-recording-only",
  "--no-pings",
  "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
  // Any host name other than the loopback resolves to nothing.
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: OFFLINE_FLAGS });
}

/** Records every request a page makes to anything but 127.0.0.1/localhost (and blocks it). */
export async function blockExternal(page: Page): Promise<string[]> {
  const external: string[] = [];
  await page.route(
    (url) => !["127.0.0.1", "localhost"].includes(url.hostname) && url.protocol !== "data:" && url.protocol !== "blob:",
    (route) => {
      external.push(route.request().url());
      return route.abort();
    },
  );
  return external;
}

/** Server-side render time of the current document from Navigation Timing: time to first byte and to the last byte. */
export async function navigationTiming(page: Page): Promise<{ ttfbMs: number; responseEndMs: number }> {
  return page.evaluate(() => {
    const [nav] = performance.getEntriesByType("navigation") as PerformanceNavigationTiming[];
    if (!nav) throw new Error("no navigation timing entry");
    return { ttfbMs: nav.responseStart - nav.requestStart, responseEndMs: nav.responseEnd - nav.requestStart };
  });
}
