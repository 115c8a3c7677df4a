"use client";
// Last line of defence for a page that throws: say so, and offer a retry.
import { useEffect } from "react";

export default function PageError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  useEffect(() => {
    console.error(error);
  }, [error]);
  return (
    <div className="notice" role="alert">
      <h1>Something went wrong on this page</h1>
      <p>
        The page could not be rendered{error.digest ? ` (error ${error.digest}; see the web server's log)` : ""}. If the
        atlas API is down, start it with <code>npm run api</code>.
      </p>
      <button type="button" onClick={reset}>
        Try again
      </button>
    </div>
  );
}
