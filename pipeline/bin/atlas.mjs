#!/usr/bin/env node
// `atlas` CLI entry: runs the TypeScript sources through tsx (no separate build step).
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
