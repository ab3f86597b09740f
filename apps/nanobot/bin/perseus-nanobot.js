#!/usr/bin/env node
// The installed entry point: runs the transpiled CLI (build first: pnpm --filter @perseus/nanobot build).
import "../dist/cli.js";
