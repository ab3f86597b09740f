#!/usr/bin/env bash
# Quick start: install, build, and run the whole platform on this machine (pnpm start).
# Options are passed to the launcher, e.g.: bash scripts/start.sh --replicas chat=2
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

ensure_pnpm
pnpm install --frozen-lockfile
pnpm build
exec node scripts/launcher/launch.mjs "$@"
