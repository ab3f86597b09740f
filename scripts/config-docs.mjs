#!/usr/bin/env node
// Writes .env.example and the configuration table of README.md from the services' own
// config schemas (their built dist/config.js) and the comments above each variable in
// src/config.ts, so the documentation cannot drift from the code.
//   node scripts/config-docs.mjs          regenerate (run `pnpm build` first)
//   node scripts/config-docs.mjs --check  exit 1 when either file is out of date
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "./launcher/paths.mjs";

/** Descriptions for variables whose schema line has no comment of its own. */
const DESCRIPTIONS = {
  NODE_ENV: "development, test or production (production enforces secrets such as AUTH_KEY_SECRET).",
  LOG_LEVEL: "Pino level: fatal, error, warn, info, debug, trace or silent.",
  HOST: "Interface to listen on (0.0.0.0 in containers).",
  PORT: "Port to listen on.",
  DATABASE_POOL_SIZE: "Postgres connections per process.",
  REDIS_URL: "Redis URL (streams, queues, revocations, rate limits).",
  AUTH_ACCESS_TTL_SECONDS: "Lifetime of a user access token.",
  AUTH_ROBOT_TOKEN_TTL_SECONDS: "Lifetime of a robot access token.",
  AUTH_REFRESH_TTL_DAYS: "Lifetime of a refresh credential (rotated on each use).",
  AUTH_LOCKOUT_SECONDS: "First lockout after AUTH_LOCKOUT_THRESHOLD failed sign-ins; doubles up to 15 min.",
  AUTH_ARGON2_PASSES: "argon2id passes (see AUTH_ARGON2_MEMORY_KIB).",
  RATE_LIMIT_LOGIN_PER_ACCOUNT: "Sign-in attempts per account per window.",
  RATE_LIMIT_SIGNUP_PER_IP: "Sign-ups per client address per window.",
  RATE_LIMIT_ROBOT_TOKEN_PER_IP: "Robot token exchanges per client address per window.",
  RATE_LIMIT_PER_USER: "API requests per user per window.",
  RATE_LIMIT_WINDOW_SECONDS: "Length of a rate-limit window.",
  CHAT_WS_SLOW_GRACE_MS:
    "How long a socket may stay above CHAT_WS_MAX_BUFFERED_BYTES before it is closed (4008).",
  CHAT_STREAM_BLOCK_MS: "How long one read of the event stream blocks before it loops.",
  EDGE_HEALTH_TIMEOUT_MS: "How long one /readyz poll of an upstream may take.",
  WORKSPACE_S3_REGION: "S3 region.",
  WORKSPACE_S3_ENDPOINT: "Endpoint of an S3-compatible server (MinIO, R2, ...); empty for AWS.",
  WORKSPACE_S3_FORCE_PATH_STYLE: "Path-style S3 URLs (most S3-compatible servers need it).",
  WORKSPACE_S3_PREFIX: "Key prefix inside the bucket (ends with /).",
  WORKSPACE_S3_ACCESS_KEY_ID: "S3 access key id (else the AWS SDK's default chain).",
  WORKSPACE_S3_SECRET_ACCESS_KEY: "S3 secret access key.",
  HEARTBEAT_INTERVAL_MS: "How often robots must send a heartbeat.",
  RETRY_MAX_MS: "Cap of the retry backoff.",
};

/** Defaults that are not a literal in the schema (computed, or transformed into objects). */
const DEFAULTS = {
  EDGE_UPSTREAM_AUTH: "http://127.0.0.1:7701",
  EDGE_UPSTREAM_CHAT: "http://127.0.0.1:7702",
  EDGE_UPSTREAM_DISPATCH: "http://127.0.0.1:7703",
  EDGE_UPSTREAM_WORKSPACE: "http://127.0.0.1:7704",
  EDGE_WEB_DIST: "apps/web/dist",
  OTEL_EXPORTER_OTLP_HEADERS: "",
};

/** Variables read outside the service schemas: migrate command, launcher, tests, robot client. */
const EXTRA_SECTIONS = [
  {
    title: "Migrations and the launcher",
    service: "migrate, launcher",
    variables: [
      [
        "DATABASE_ADMIN_URL",
        "postgres://postgres@127.0.0.1:5432/perseus",
        "Superuser (or CREATEROLE + CREATEDB) URL naming the Perseus database: the migrate command and `pnpm start` use it; services never do.",
      ],
      [
        "PERSEUS_DB_OWNER_PASSWORD",
        "",
        "Password the migrate command gives perseus_owner (omit with trust/peer auth).",
      ],
      [
        "PERSEUS_DB_APP_PASSWORD",
        "",
        "Password of perseus_app: set by the migrate command, used by the launcher in DATABASE_URL.",
      ],
      [
        "PERSEUS_BASE_PORT",
        "7700",
        "Launcher: the edge's port; services use base+1..base+4, replica n adds 10·(n-1).",
      ],
      ["PERSEUS_DEMO_EMAIL", "demo@perseus.local", "Launcher: sign-in of the demo tenant's owner."],
      [
        "PERSEUS_DEMO_PASSWORD",
        "perseus-demo-password",
        "Launcher: password of the demo owner (10+ characters).",
      ],
    ],
  },
  {
    title: "Tests",
    service: "tests",
    variables: [
      [
        "PERSEUS_TEST_DATABASE_URL",
        "",
        "Superuser URL for the test harness (falls back to DATABASE_URL; scripts/test.sh defaults it to postgres://postgres@127.0.0.1:5432/postgres).",
      ],
      ["PERSEUS_TEST_REDIS_URL", "", "Redis for the tests (falls back to REDIS_URL)."],
    ],
  },
];

const SERVICES = [
  {
    title: "Every service (shared)",
    service: "all",
    module: "packages/kit/dist/config.js",
    schema: "BaseConfig",
    source: "packages/kit/src/config.ts",
  },
  {
    title: "Edge",
    service: "edge",
    module: "apps/edge/dist/config.js",
    schema: "EdgeConfig",
    source: "apps/edge/src/config.ts",
    port: 7700,
  },
  {
    title: "Auth",
    service: "auth",
    module: "apps/auth/dist/config.js",
    schema: "AuthConfig",
    source: "apps/auth/src/config.ts",
    port: 7701,
  },
  {
    title: "Chat",
    service: "chat",
    module: "apps/chat/dist/config.js",
    schema: "ChatConfig",
    source: "apps/chat/src/config.ts",
    port: 7702,
  },
  {
    title: "Dispatch",
    service: "dispatch",
    module: "apps/dispatch/dist/config.js",
    schema: "DispatchConfig",
    source: "apps/dispatch/src/config.ts",
    port: 7703,
  },
  {
    title: "Workspace",
    service: "workspace",
    module: "apps/workspace/dist/config.js",
    schema: "WorkspaceConfig",
    source: "apps/workspace/src/config.ts",
    port: 7704,
  },
];

/** The `//` comment lines directly above `key:` in a config source, joined. */
function commentFor(lines, key) {
  const index = lines.findIndex((line) => new RegExp(`^\\s+${key}:`).test(line));
  if (index < 0) return "";
  const comment = [];
  for (let i = index - 1; i >= 0 && /^\s*\/\//.test(lines[i]); i--) {
    const text = lines[i].replace(/^\s*\/\/\s?/, "");
    if (text.startsWith("----")) break; // a section heading, not this variable's description
    comment.unshift(text);
  }
  return comment.join(" ").trim();
}

function objectShape(schema) {
  if (schema.shape) return schema;
  if (schema.in?.shape) return schema.in; // a transform over the object (e.g. auth's cross-field checks)
  throw new Error("not an object schema");
}

function render(value) {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

async function collect() {
  const base = objectShape(
    (await import(pathToFileURL(join(ROOT, SERVICES[0].module)).href))[SERVICES[0].schema],
  );
  const baseKeys = new Set(Object.keys(base.shape));
  const sections = [];
  for (const spec of SERVICES) {
    const module = await import(pathToFileURL(join(ROOT, spec.module)).href);
    const schema = module[spec.schema];
    if (!schema) throw new Error(`${spec.module} exports no ${spec.schema}`);
    const object = objectShape(schema);
    const defaults = object.parse({});
    const lines = readFileSync(join(ROOT, spec.source), "utf8").split("\n");
    const baseLines = readFileSync(join(ROOT, SERVICES[0].source), "utf8").split("\n");
    const keys = Object.keys(object.shape).filter(
      (key) => spec.service === "all" || key === "PORT" || !baseKeys.has(key),
    );
    sections.push({
      title: spec.title,
      service: spec.service,
      variables: keys.map((key) => [
        key,
        DEFAULTS[key] ?? render(defaults[key]),
        commentFor(lines, key) || commentFor(baseLines, key) || DESCRIPTIONS[key] || "",
      ]),
    });
  }
  return [...sections, ...EXTRA_SECTIONS];
}

function envExample(sections) {
  const out = [
    "# Every setting of every Perseus process, with its default. Nothing here is required to",
    "# run locally: `bash scripts/start.sh` works with none of it set. Uncomment what you change",
    "# and give it to the process that reads it (compose: a .env file beside docker-compose.yml).",
    "# Per-process values such as PORT and INSTANCE_ID differ between services: set them per process.",
    "# Generated by `node scripts/config-docs.mjs` from each service's src/config.ts.",
  ];
  for (const section of sections) {
    out.push("", `# ---- ${section.title} ${"-".repeat(Math.max(4, 80 - section.title.length))}`);
    for (const [key, value, description] of section.variables) {
      if (description) out.push(`# ${description}`);
      out.push(`# ${key}=${value}`);
    }
  }
  return `${out.join("\n")}\n`;
}

function readmeTable(sections) {
  const escapeCell = (text) => text.replaceAll("|", "\\|");
  const rows = ["| Variable | Read by | Default | What it does |", "|---|---|---|---|"];
  for (const section of sections) {
    for (const [key, value, description] of section.variables) {
      rows.push(
        `| \`${key}\` | ${section.service} | ${value ? `\`${escapeCell(value)}\`` : "—"} | ${escapeCell(description) || "—"} |`,
      );
    }
  }
  return rows.join("\n");
}

const START = "<!-- config-table:start (generated by scripts/config-docs.mjs) -->";
const END = "<!-- config-table:end -->";

const sections = await collect();
const envPath = join(ROOT, ".env.example");
const readmePath = join(ROOT, "README.md");
const env = envExample(sections);
const readme = readFileSync(readmePath, "utf8");
const from = readme.indexOf(START);
const to = readme.indexOf(END);
if (from < 0 || to < 0) throw new Error(`README.md lacks the ${START} … ${END} markers`);
// Biome formats Markdown too (aligned tables): compare and write what `pnpm lint` accepts.
const nextReadme = execFileSync(
  join(ROOT, "node_modules/.bin/biome"),
  ["format", "--stdin-file-path=README.md"],
  {
    cwd: ROOT,
    input: `${readme.slice(0, from + START.length)}\n${readmeTable(sections)}\n${readme.slice(to)}`,
  },
).toString();

if (process.argv.includes("--check")) {
  const stale = [];
  if (readFileSync(envPath, "utf8") !== env) stale.push(".env.example");
  if (readme !== nextReadme) stale.push("README.md");
  if (stale.length) {
    console.error(
      `${stale.join(" and ")} out of date with the config schemas: run \`pnpm build && node scripts/config-docs.mjs\``,
    );
    process.exit(1);
  }
  console.log("configuration docs are up to date");
} else {
  writeFileSync(envPath, env);
  writeFileSync(readmePath, nextReadme);
  console.log(
    `wrote .env.example and the README configuration table (${sections.reduce((n, s) => n + s.variables.length, 0)} variables)`,
  );
}
