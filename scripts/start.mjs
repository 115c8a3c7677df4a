#!/usr/bin/env node
// `npm start`: the main job on the built-in defaults, from a fresh clone.
// Installs dependencies if missing, provisions and starts Neo4j, applies migrations, and prints
// where everything lives. Later stages (atlas build) plug in below.
import { ensureInstalled, run } from "./lib.mjs";

process.env.TURBO_TELEMETRY_DISABLED = "1";
process.env.NEXT_TELEMETRY_DISABLED = "1";

ensureInstalled();
run("npm", ["run", "--silent", "db:up"]);
