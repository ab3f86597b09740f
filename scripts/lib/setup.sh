# Shared by start.sh and test.sh: a working pnpm (never through corepack) and, for tests,
# the local Postgres/Redis started when they are installed but stopped.

export TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1 DO_NOT_TRACK=1
export COREPACK_ENABLE_STRICT=0 COREPACK_ENABLE_AUTO_PIN=0

PNPM_VERSION=10.34.9

pnpm_works() {
  pnpm --version 2>/dev/null | grep -q '^10\.'
}

# Installs pnpm with npm when it is missing or broken (e.g. a corepack shim that cannot
# download); as a last resort, puts a shim that runs it through npx first on PATH.
ensure_pnpm() {
  if pnpm_works; then return 0; fi
  echo "pnpm ${PNPM_VERSION} is missing: installing it with npm"
  npm install -g "pnpm@${PNPM_VERSION}" >/dev/null 2>&1 || npm install -g --force "pnpm@${PNPM_VERSION}" >/dev/null 2>&1 || true
  hash -r
  if pnpm_works; then return 0; fi
  local prefix
  prefix="$(npm prefix -g 2>/dev/null)"
  if [ -n "$prefix" ] && [ -x "$prefix/bin/pnpm" ]; then
    export PATH="$prefix/bin:$PATH"
    hash -r
    if pnpm_works; then return 0; fi
  fi
  local shim_dir="${TMPDIR:-/tmp}/perseus-pnpm-shim"
  mkdir -p "$shim_dir"
  printf '#!/usr/bin/env bash\nexec npx --yes "pnpm@%s" "$@"\n' "$PNPM_VERSION" >"$shim_dir/pnpm"
  chmod +x "$shim_dir/pnpm"
  export PATH="$shim_dir:$PATH"
  hash -r
  pnpm_works || { echo "could not get a working pnpm ${PNPM_VERSION}" >&2; return 1; }
}

# host and port of a URL, e.g. "127.0.0.1 5432"
url_host_port() {
  node -e 'const u = new URL(process.argv[1]); console.log(u.hostname, u.port || process.argv[2])' "$1" "$2"
}

is_listening() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

is_local() {
  [ "$1" = "127.0.0.1" ] || [ "$1" = "localhost" ]
}

# Starts this machine's own Postgres/Redis when the test URLs point at them and they are
# installed but not running (the commands of the machine's setup; their configuration is
# left as it is).
ensure_local_services() {
  local host port
  read -r host port < <(url_host_port "$DATABASE_URL" 5432)
  if is_local "$host" && ! is_listening "$host" "$port" && command -v pg_ctlcluster >/dev/null 2>&1; then
    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$version" ]; then
      echo "starting the local PostgreSQL ${version}"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
      for _ in $(seq 1 60); do is_listening "$host" "$port" && break; sleep 0.5; done
    fi
  fi
  read -r host port < <(url_host_port "$REDIS_URL" 6379)
  if is_local "$host" && ! is_listening "$host" "$port" && command -v redis-server >/dev/null 2>&1; then
    echo "starting the local Redis on port ${port}"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 40); do is_listening "$host" "$port" && break; sleep 0.25; done
  fi
}

# The console's browser tests drive Debian's Chromium through playwright-core (a test tool
# never downloads its own browser). Installed with apt when missing and we may; when it
# cannot be had, the browser tests say so and fail rather than pass without a browser.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and cannot be installed here (needs root and apt-get)" >&2
    return 1
  fi
  echo "installing Debian chromium for the console's browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }
  command -v chromium >/dev/null 2>&1
}
