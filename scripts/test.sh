#!/usr/bin/env bash
# The one test command (CI runs it through .ci/run): install, lint, typecheck, build, then
# every vitest project in one run. Ends with the line "N passed, N failed[, N skipped]";
# exits non-zero on any failure, including lint/typecheck/build and a run with no tests.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh

if ! ensure_pnpm || ! pnpm install --frozen-lockfile; then
  echo "install failed"
  echo "0 passed, 1 failed"
  exit 1
fi

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
ensure_local_services
ensure_chromium || echo "chromium unavailable: the console browser tests will fail"

failed_steps=()
step() {
  local name=$1
  shift
  echo "==> ${name}"
  if ! "$@"; then
    echo "==> ${name} FAILED"
    failed_steps+=("$name")
  fi
}
step lint pnpm lint
step typecheck pnpm typecheck
step build pnpm build

echo "==> test"
PERSEUS_FAILED_STEPS="$(IFS=,; echo "${failed_steps[*]:-}")" exec node scripts/run-tests.mjs
