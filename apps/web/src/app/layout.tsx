import type { Metadata, Viewport } from "next";
import Link from "next/link";
import type { ReactNode } from "react";
import "./globals.css";

// Every page reads live atlas data through the API: render per request, never at build time.
export const dynamic = "force-dynamic";

export const metadata: Metadata = {
  title: { default: "Circuit Atlas", template: "%s · Circuit Atlas" },
  description: "Cross-layer transcoder features, attribution graphs and circuits of GPT-2-family models.",
};

export const viewport: Viewport = { width: "device-width", initialScale: 1 };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <header className="site-header">
          <Link href="/" className="brand">
            Circuit Atlas
          </Link>
          <nav aria-label="Main">
            <ul>
              <li>
                <Link href="/search">Search</Link>
              </li>
              <li>
                <Link href="/graphs">Graphs</Link>
              </li>
              <li>
                <Link href="/circuits">Circuits</Link>
              </li>
              <li>
                <Link href="/studies/greater-than">Greater-than study</Link>
              </li>
            </ul>
          </nav>
          <search className="header-search">
            <form action="/search">
              <label htmlFor="header-q" className="visually-hidden">
                Search features
              </label>
              <input id="header-q" name="q" type="search" placeholder="Search features…" />
            </form>
          </search>
        </header>
        <main id="main" tabIndex={-1}>
          {children}
        </main>
      </body>
    </html>
  );
}
