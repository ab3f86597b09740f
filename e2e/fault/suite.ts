import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createFaultProxy, type FaultProxy, type PrivateRedis, startRedisServer } from "@perseus/testing";
import pg from "pg";
import { type Platform, startPlatform } from "../test/platform.js";
import { type ApiClient, createApiClient, expectOk, sleep } from "./api.js";
import { checkSeed, formatReport, type SeedReport } from "./checker.js";
import { describeFault, type FaultKind, planFaults, runFaultSchedule } from "./faults.js";
import { createJournal, type Journal, readJournal, type SetupEntry } from "./journal.js";
import { createRng, deriveSeed } from "./prng.js";
import {
  chatLoop,
  startRealtimeReader,
  type Target,
  taskLoop,
  type WorkspaceFile,
  workspaceLoop,
} from "./workload.js";

export type SeedOptions = {
  seed: number;
  durationMs: number;
  /** Journal and report go here (`seed-<n>.jsonl`, `seed-<n>.report.json`). */
  outDir: string;
  /** The superuser URL of the Postgres server the test databases live on. */
  adminUrl: string;
  /** Only these kinds of fault (default: all of them). */
  faultKinds?: readonly FaultKind[];
  log?: (line: string) => void;
};

/** Bounds of the phases after the workload: generous, a loaded 2-core machine is slow. */
const TASK_SETTLE_MS = 150_000;
const READER_CATCH_UP_MS = 45_000;

type Session = {
  accessToken: string;
  user: { id: string };
  tenant: { id: string };
  teamId: string;
  chatgroupId: string;
};

/** Runs one seed: its own platform, private Redis and fault proxies; workload with faults; drain; offline check. */
export async function runSeed(options: SeedOptions): Promise<SeedReport> {
  const { seed, durationMs, outDir } = options;
  const log = (line: string) => (options.log ?? console.log)(`[seed ${seed}] ${line}`);
  mkdirSync(outDir, { recursive: true });
  const journal = createJournal(join(outDir, `seed-${seed}.jsonl`));
  const faults = planFaults(createRng(deriveSeed(seed, "faults")), durationMs, options.faultKinds);
  log(
    `fault schedule (${faults.length} faults):\n${faults.map((f) => `    ${describeFault(f)}`).join("\n")}`,
  );

  // Redis with AOF as docker-compose and the k8s dev overlay run it (appendfsync everysec: a
  // SIGKILL of the server loses nothing written; only a machine crash may lose the last second).
  const redis: PrivateRedis = await startRedisServer({ appendonly: true, appendfsync: "everysec" });
  const pgTarget = new URL(options.adminUrl);
  const proxies: FaultProxy[] = [];
  let platform: Platform | undefined;
  let keptDatabase = false;
  try {
    const redisProxy = await createFaultProxy({ target: { host: "127.0.0.1", port: redis.port } });
    const pgProxy = await createFaultProxy({
      target: { host: pgTarget.hostname, port: Number(pgTarget.port || 5432) },
    });
    proxies.push(redisProxy, pgProxy);
    platform = await startPlatform({
      redisUrl: `redis://${redisProxy.host}:${redisProxy.port}`,
      serviceDatabaseUrl: (url) => {
        const through = new URL(url);
        through.hostname = pgProxy.host;
        through.port = String(pgProxy.port);
        return through.toString();
      },
      serviceEnv: {
        // Faults cost attempts (a killed robot or dispatch loses its lease): the invariant is
        // exactly-once, not "survives N faults within 3 attempts".
        dispatch: { TASK_MAX_ATTEMPTS: "20", RETRY_MAX_MS: "5000" },
        // Keep every version, so the checker sees the whole chain.
        workspace: { WORKSPACE_MAX_VERSIONS: "1000" },
      },
    });
    const started = platform;
    log(`platform up: ${started.edgeUrl}, database ${started.db.name}, redis :${redis.port}`);

    const { setup, apiA, apiB, files } = await setUp(started, seed, durationMs);
    journal.write(setup);
    log("tenants, chatgroups, robot and nanobot ready");

    const reader = startRealtimeReader({ journal, api: apiA, chatgroupIds: setup.tenants.A.chatgroupIds });
    const startedAt = Date.now();
    const until = startedAt + durationMs;
    const workRng = (stream: string) => createRng(deriveSeed(seed, stream));
    const [a0, a1, a2] = setup.tenants.A.chatgroupIds as [string, string, string];
    const [b0] = setup.tenants.B.chatgroupIds as [string];
    const target = (tenant: "A" | "B", chatgroupId: string): Target => ({
      tenant,
      api: tenant === "A" ? apiA : apiB,
      chatgroupId,
    });
    const loop = { journal, seed, until, canary: setup.canary };
    const workload = Promise.all([
      chatLoop({
        ...loop,
        rng: workRng("chat"),
        stream: "chat",
        targets: [target("A", a0), target("A", a2), target("B", b0)],
      }),
      chatLoop({
        ...loop,
        rng: workRng("chat2"),
        stream: "chat2",
        targets: [target("A", a0), target("A", a1)],
      }),
      taskLoop({ ...loop, rng: workRng("tasks"), targets: [target("A", a1), target("A", a2)] }),
      workspaceLoop({ ...loop, rng: workRng("workspace"), files }),
    ]);
    const faultRun = runFaultSchedule({
      faults,
      targets: {
        processes: {
          auth: started.services.auth,
          chat: started.services.chat,
          dispatch: started.services.dispatch,
          workspace: started.services.workspace,
          nanobot: started.robots.jane!,
        },
        redis,
        redisProxy,
        pgProxy,
        terminateBackends: () => terminateBackends(options.adminUrl, started.db.name),
      },
      journal,
      startedAt,
      until,
      log,
    }).catch((error: Error) => error);
    const faultError = await faultRun;
    await workload;
    log(`workload done after ${Math.round((Date.now() - startedAt) / 1000)} s`);

    // ---- drain: every fault healed, every process running; wait (bounded) for tasks and the reader
    for (const proxy of proxies) proxy.setMode("pass");
    if (redis.process.paused) redis.resume();
    if (redis.process.exited) await redis.restart();
    for (const process of [...Object.values(started.services), ...Object.values(started.robots)]) {
      if (process.paused) process.resume();
      if (process.exited) await process.restart();
    }
    const tasksSettled = await waitUntil(TASK_SETTLE_MS, () =>
      unsettledTasks(started.db.adminUrl).then((n) => n === 0),
    );
    const caughtUp = () => readerCaughtUp(apiA, setup.tenants.A.chatgroupIds, reader.lastSeqs());
    const readerOk = await waitUntil(READER_CATCH_UP_MS, caughtUp);
    const unsettled = await unsettledTasks(started.db.adminUrl);
    journal.write({
      op: "drain",
      tasksSettled,
      readerCaughtUp: readerOk,
      detail: `${unsettled} tasks not terminal; reader at ${JSON.stringify(Object.fromEntries(reader.lastSeqs()))}${faultError ? `; fault run: ${faultError.message.split("\n")[0]}` : ""}`,
    });
    log(`drained: tasks settled ${tasksSettled}, reader caught up ${readerOk}`);

    await probe(journal, setup, apiA, apiB, files);
    // A reply may have landed since the first check (a late task): let the reader get it too.
    await waitUntil(READER_CATCH_UP_MS, caughtUp);
    await reader.stop();
    await started.stop({ keepDatabase: true });
    const report = await checkSeed({
      journal: readJournal(journal.path),
      adminUrl: started.db.adminUrl,
      appUrl: started.db.url,
    });
    writeFileSync(join(outDir, `seed-${seed}.report.json`), `${JSON.stringify(report, null, 2)}\n`);
    log(`report\n${formatReport(report)}`);
    if (report.violations > 0) {
      // Kept for a look (the test harness drops databases older than an hour).
      keptDatabase = true;
      log(`database ${started.db.name} kept for inspection (superuser: ${started.db.adminUrl})`);
    }
    return report;
  } finally {
    await platform?.stop({ keepDatabase: keptDatabase }).catch(() => {});
    for (const proxy of proxies) await proxy.close().catch(() => {});
    await redis.stop().catch(() => {});
  }
}

async function setUp(platform: Platform, seed: number, durationMs: number) {
  const tag = randomBytes(3).toString("hex");
  const canary = `CANARY${randomBytes(6).toString("hex")}`;
  const anonymous = createApiClient(platform.edgeUrl);
  const signup = (who: string, tenantName: string) =>
    expectOk<Session>(anonymous, "POST", "/api/auth/signup", {
      email: `${who}-${tag}@example.test`,
      password: "correct horse battery staple",
      name: `${who} ${tag}`,
      handle: `${who}${tag}`,
      tenantName,
    });
  const [sessionA, sessionB] = await Promise.all([signup("alice", "Fault A"), signup("bob", "Fault B")]);
  const apiA = createApiClient(platform.edgeUrl, sessionA.accessToken);
  const apiB = createApiClient(platform.edgeUrl, sessionB.accessToken);
  const [meA, meB] = [sessionA, sessionB];
  const chatgroupsA = [sessionA.chatgroupId];
  for (const name of ["fault one", "fault two"]) {
    const chatgroup = await expectOk<{ id: string }>(apiA, "POST", "/api/auth/chatgroups", {
      teamId: sessionA.teamId,
      name,
    });
    chatgroupsA.push(chatgroup.id);
  }
  const robot = await expectOk<{ id: string }>(apiA, "POST", "/api/auth/robots", {
    handle: "jane",
    name: "Jane",
    capabilities: ["shell"],
  });
  await expectOk(apiA, "PUT", `/api/auth/robots/${robot.id}/config`, { settings: { executor: "shell" } });
  const credential = await expectOk<{ secret: string }>(
    apiA,
    "POST",
    `/api/auth/robots/${robot.id}/credentials`,
  );
  await platform.startNanobot(credential.secret, "jane");
  // Tenant B's canary is already in its data before anything else happens.
  await expectOk(apiB, "POST", `/api/chat/chatgroups/${sessionB.chatgroupId}/messages`, {
    body: `first ${canary}`,
  });
  const setup: SetupEntry = {
    op: "setup",
    seed,
    durationMs,
    canary,
    robotId: robot.id,
    tenants: {
      A: { tenantId: meA.tenant.id, userId: meA.user.id, chatgroupIds: chatgroupsA },
      B: { tenantId: meB.tenant.id, userId: meB.user.id, chatgroupIds: [sessionB.chatgroupId] },
    },
  };
  const files: WorkspaceFile[] = [
    { tenant: "A", api: apiA, layer: "chatgroup", layerId: chatgroupsA[0]!, path: "fault/one.txt" },
    { tenant: "A", api: apiA, layer: "chatgroup", layerId: chatgroupsA[1]!, path: "fault/two.txt" },
    { tenant: "A", api: apiA, layer: "tenant", layerId: meA.tenant.id, path: "fault/shared.txt" },
    { tenant: "B", api: apiB, layer: "chatgroup", layerId: sessionB.chatgroupId, path: "fault/canary.txt" },
  ];
  return { setup, apiA, apiB, files };
}

/** Checks made through the API as tenant A's user (B's ids must be invisible) and the audit verification of both tenants. */
async function probe(
  journal: Journal,
  setup: SetupEntry,
  apiA: ApiClient,
  apiB: ApiClient,
  files: WorkspaceFile[],
) {
  const record = async (name: string, run: () => Promise<{ ok: boolean; detail: string }>) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await run();
        journal.write({ op: "probe", name, ...result });
        return;
      } catch (error) {
        if (attempt >= 5) {
          journal.write({ op: "probe", name, ok: false, detail: (error as Error).message });
          return;
        }
        await sleep(2_000);
      }
    }
  };
  const b0 = setup.tenants.B.chatgroupIds[0]!;
  const statusOf = async (api: ApiClient, method: string, path: string) => {
    const response = await api.call(method, path);
    if (response.status >= 500) throw new Error(`${method} ${path}: HTTP ${response.status}`);
    return response;
  };
  await record("isolation: A searches for B's canary", async () => {
    const response = await statusOf(apiA, "GET", `/api/chat/search?q=${setup.canary}`);
    const items = (response.json as { items?: unknown[] } | undefined)?.items ?? [];
    return {
      ok: response.status === 200 && items.length === 0,
      detail: `HTTP ${response.status}, ${items.length} hits`,
    };
  });
  await record("isolation: B finds its own canary (the search works)", async () => {
    const response = await statusOf(apiB, "GET", `/api/chat/search?q=${setup.canary}`);
    const items = (response.json as { items?: unknown[] } | undefined)?.items ?? [];
    return {
      ok: response.status === 200 && items.length > 0,
      detail: `HTTP ${response.status}, ${items.length} hits`,
    };
  });
  await record("isolation: A reads B's chatgroup history", async () => {
    const response = await statusOf(apiA, "GET", `/api/chat/chatgroups/${b0}/messages`);
    return {
      ok: response.status === 404 && !response.text.includes(setup.canary),
      detail: `HTTP ${response.status}`,
    };
  });
  const bFile = files.find((f) => f.tenant === "B")!;
  await record("isolation: A reads B's workspace file", async () => {
    const response = await statusOf(
      apiA,
      "GET",
      `/api/workspace/layers/chatgroup/${bFile.layerId}/files?path=${encodeURIComponent(bFile.path)}`,
    );
    return {
      ok: (response.status === 404 || response.status === 403) && !response.text.includes(setup.canary),
      detail: `HTTP ${response.status}`,
    };
  });
  await record("isolation: A lists tasks and chatgroups", async () => {
    const tasks = await statusOf(apiA, "GET", "/api/dispatch/tasks?limit=100");
    const chatgroups = await statusOf(apiA, "GET", "/api/chat/chatgroups");
    const leaked = tasks.text.includes(setup.canary) || chatgroups.text.includes(b0);
    return {
      ok: tasks.status === 200 && chatgroups.status === 200 && !leaked,
      detail: `HTTP ${tasks.status}/${chatgroups.status}, leaked ${leaked}`,
    };
  });
  for (const [name, api] of [
    ["A", apiA],
    ["B", apiB],
  ] as const) {
    await record(`audit: tenant ${name} chain verifies`, async () => {
      const response = await statusOf(api, "GET", "/api/auth/audit/verify");
      const body = response.json as { ok?: boolean; problems?: unknown[] } | undefined;
      return {
        ok: response.status === 200 && body?.ok === true,
        detail: `HTTP ${response.status} ${response.text.slice(0, 300)}`,
      };
    });
  }
}

async function terminateBackends(adminUrl: string, database: string): Promise<number> {
  const url = new URL(adminUrl);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      "select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
      [database],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}

/** Tasks not yet terminal, and `@jane` posts without a task yet (read past RLS by the superuser). */
async function unsettledTasks(adminUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `select (select count(*) from tasks where status not in ('succeeded', 'failed', 'cancelled', 'dead'))
            + (select count(*) from messages m where m.body like '@jane echo %'
                 and not exists (select 1 from tasks t where t.tenant_id = m.tenant_id and t.message_id = m.id)) as n`,
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

async function readerCaughtUp(
  api: ApiClient,
  chatgroupIds: string[],
  held: Map<string, number>,
): Promise<boolean> {
  const response = await api.call("GET", "/api/chat/chatgroups");
  if (response.status !== 200) return false;
  const items = (response.json as { items: { chatgroupId: string; lastSeq: number }[] }).items;
  return chatgroupIds.every(
    (id) => (held.get(id) ?? 0) >= (items.find((i) => i.chatgroupId === id)?.lastSeq ?? 0),
  );
}

async function waitUntil(timeoutMs: number, probe: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return true;
    await sleep(1_000);
  }
  return false;
}
