// `npm run api`: serves the GraphQL API on PORT (default 4000) at /graphql until SIGINT/SIGTERM.
import { closeDriver } from "@circuit-atlas/db";
import { startApiServer } from "./server.ts";

try {
  const api = await startApiServer();
  console.log(`Circuit Atlas API: ${api.url}`);
  const stop = async () => {
    await api.close();
    await closeDriver();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
} catch (err) {
  console.error(`api: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
