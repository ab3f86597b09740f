# syntax=docker/dockerfile:1
# The one-shot migrate command: roles, database, drizzle migrations, RLS policies, grants.
# Idempotent and serialised by an advisory lock, so running it on every deploy is safe.
# Build from the repository root:  docker build -f infra/docker/migrate.Dockerfile -t perseus/migrate .
ARG NODE_IMAGE=node:20.20-bookworm-slim

FROM ${NODE_IMAGE} AS base
ENV CI=true TURBO_TELEMETRY_DISABLED=1 COREPACK_ENABLE_STRICT=0
RUN npm install -g pnpm@10.34.9 turbo@2.11.11 && npm cache clean --force
WORKDIR /repo

FROM base AS prune
COPY . .
RUN turbo prune @perseus/db --docker

FROM base AS build
COPY --from=prune /repo/out/json/ ./
RUN pnpm install --frozen-lockfile
COPY --from=prune /repo/out/full/ ./
RUN turbo run build --filter=@perseus/db \
 && mkdir -p /artifacts/packages/db \
 && cp -r packages/db/dist packages/db/migrations packages/db/sql /artifacts/packages/db/

FROM base AS deps
COPY --from=prune /repo/out/json/ ./
RUN pnpm --filter-prod "@perseus/db" install --frozen-lockfile --prod

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /repo/ ./
COPY --from=build /artifacts/ ./
USER node
# DATABASE_ADMIN_URL: a superuser (or CREATEROLE + CREATEDB) URL naming the Perseus database.
CMD ["node", "packages/db/dist/cli.js"]
