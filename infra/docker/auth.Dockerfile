# syntax=docker/dockerfile:1
# The auth service: identity, tenancy, robots, tokens, API keys, JWKS.
# Build from the repository root:  docker build -f infra/docker/auth.Dockerfile -t perseus/auth .
# (docker compose builds it for you; see docker-compose.yml)
ARG NODE_IMAGE=node:20.20-bookworm-slim

FROM ${NODE_IMAGE} AS base
ENV CI=true TURBO_TELEMETRY_DISABLED=1 COREPACK_ENABLE_STRICT=0
# pnpm and turbo from the npm registry (corepack is not used).
RUN npm install -g pnpm@10.34.9 turbo@2.11.11 && npm cache clean --force
WORKDIR /repo

# 1. Only what @perseus/auth needs: its package, its workspace dependencies and a pruned lockfile.
FROM base AS prune
COPY . .
RUN turbo prune @perseus/auth --docker

# 2. Install from the manifests alone (a layer that survives source edits), then build.
FROM base AS build
COPY --from=prune /repo/out/json/ ./
RUN pnpm install --frozen-lockfile
COPY --from=prune /repo/out/full/ ./
RUN turbo run build --filter=@perseus/auth... \
 && mkdir /artifacts \
 && for dir in $(find apps packages -maxdepth 2 -name dist -type d) packages/db/migrations packages/db/sql; do \
      if [ -d "$dir" ]; then mkdir -p "/artifacts/$dir" && cp -r "$dir/." "/artifacts/$dir/"; fi; \
    done

# 3. Production dependencies only, installed apart so that no dev tool reaches the image
#    (--filter-prod: workspace packages reached only through devDependencies stay out too).
FROM base AS deps
COPY --from=prune /repo/out/json/ ./
RUN pnpm --filter-prod "@perseus/auth..." install --frozen-lockfile --prod

# 4. The runtime: Node, the production node_modules, the transpiled dist/ folders; no root.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=7701
WORKDIR /app
COPY --from=deps /repo/ ./
COPY --from=build /artifacts/ ./
# Writable data for the non-root user (a named volume mounted here inherits this ownership).
RUN mkdir -p /data/workspace && chown -R node:node /data
USER node
EXPOSE 7701
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "apps/auth/dist/server.js"]
