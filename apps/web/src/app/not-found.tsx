import Link from "next/link";

export const metadata = { title: "Not found" };

export default function NotFound() {
  return (
    <div data-testid="not-found">
      <h1>Not found</h1>
      <p>There is no such feature, graph or page in this atlas.</p>
      <p>
        Feature ids look like <code>3_117</code> (<code>{"{layer}_{featureIndex}"}</code>). Try{" "}
        <Link href="/search">searching the feature labels</Link> or the <Link href="/graphs">list of graphs</Link>.
      </p>
    </div>
  );
}
