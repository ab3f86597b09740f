import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";

// The console is a static build served by the edge under a strict CSP: no inline
// scripts or styles, so nothing may be injected into index.html.
export default defineConfig({
  plugins: [react()],
  // Workspace packages are consumed from their TypeScript sources.
  resolve: { conditions: ["@perseus/source", ...defaultClientConditions] },
  build: {
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: true,
  },
  server: {
    port: 5173,
    // `pnpm --filter @perseus/web dev` against a running platform (pnpm start).
    proxy: { "/api": { target: process.env.PERSEUS_EDGE_URL ?? "http://127.0.0.1:7700", ws: true } },
  },
});
