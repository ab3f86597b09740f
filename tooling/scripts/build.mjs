#!/usr/bin/env node
// Transpiles a package's src/ to dist/ file by file (no bundling): Node runs dist/,
// while tests and the type checker read src/ through the "@perseus/source" condition.
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const root = process.cwd();
const srcDir = join(root, "src");

/** Lists every .ts source below dir, skipping tests (they never ship). */
function listSources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listSources(path);
    const isSource = name.endsWith(".ts") && !name.endsWith(".d.ts") && !name.endsWith(".test.ts");
    return isSource ? [path] : [];
  });
}

rmSync(join(root, "dist"), { recursive: true, force: true });
await build({
  entryPoints: listSources(srcDir),
  outdir: join(root, "dist"),
  outbase: srcDir,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
});
