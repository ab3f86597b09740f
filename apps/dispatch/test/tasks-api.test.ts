import { Problem, type Task, TaskPage } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { addMember, createTenant, createUser, type TenantFixture } from "@perseus/testing";
import { eq } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  type RobotFixture,
  startDispatch,
  taskRow,
} from "./helper.js";

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;
let other: TenantFixture;
let owner: string;
let member: { id: string; token: string };
let robot: RobotFixture;

beforeAll(async () => {
  infra = await createInfra();
  // No background work: tasks stay queued, so the API alone is under test.
  env = await startDispatch(infra, { DISPATCH_BACKGROUND: "false", LOCAL_POLL_MS: "60000" });
  const { db } = infra.database;
  tenant = await createTenant(db);
  other = await createTenant(db);
  owner = await ownerToken(infra.tokens, tenant);
  const user = await createUser(db);
  await addMember(db, tenant.tenantId, user.id, "user", tenant.teamId);
  member = { id: user.id, token: await infra.tokens.user({ userId: user.id, tenantId: tenant.tenantId }) };
  robot = await createRobot(db, infra.tokens, tenant, { scopes: [{ type: "team" }] });
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

const call = (method: "GET" | "POST", url: string, token?: string, payload?: unknown, headers = {}) =>
  env.app.inject({
    method,
    url: `/api/dispatch${url}`,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });

async function create(token: string, body: Record<string, unknown>) {
  const response = await call("POST", "/tasks", token, body);
  expect(response.statusCode, response.body).toBe(201);
  return response.json() as Task;
}

function expectProblem(response: Awaited<ReturnType<typeof call>>, status: number) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers["content-type"]).toMatch(/application\/problem\+json/);
  return Problem.parse(response.json());
}

describe("task API", () => {
  it("creates tasks by robot id or handle, with a location and an ETag", async () => {
    const response = await call("POST", "/tasks", member.token, {
      robotHandle: robot.handle,
      prompt: "  hello  ",
      chatgroupId: tenant.chatgroupId,
      priority: 5,
    });
    expect(response.statusCode, response.body).toBe(201);
    const task = response.json() as Task;
    expect(task).toMatchObject({ status: "queued", prompt: "hello", priority: 5, requestedBy: member.id });
    expect(response.headers.etag).toBe(`"${task.version}"`);
    expect(response.headers.location).toBe(`/api/dispatch/tasks/${task.id}`);
  });

  it("refuses bad input with a 4xx problem and writes nothing", async () => {
    const before = await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select().from(schema.tasks),
    );
    expectProblem(await call("POST", "/tasks", owner, { prompt: "x" }), 400);
    expectProblem(
      await call("POST", "/tasks", owner, { robotId: robot.robotId, robotHandle: robot.handle, prompt: "x" }),
      400,
    );
    expectProblem(await call("POST", "/tasks", owner, { robotId: robot.robotId, prompt: "" }), 400);
    expectProblem(await call("POST", "/tasks", owner, { robotId: "not-a-uuid", prompt: "x" }), 400);
    expectProblem(
      await call("POST", "/tasks", owner, { robotId: robot.robotId, prompt: "x", priority: 1000 }),
      400,
    );
    expectProblem(await call("POST", "/tasks", owner, { robotId: uuidv7(), prompt: "x" }), 404);
    expectProblem(
      await call("POST", "/tasks", owner, {
        robotId: robot.robotId,
        prompt: "x",
        chatgroupId: other.chatgroupId,
      }),
      404,
    );
    expectProblem(await call("POST", "/tasks", undefined, { robotId: robot.robotId, prompt: "x" }), 401);
    expectProblem(
      await call("POST", "/tasks", await robot.token(), { robotId: robot.robotId, prompt: "x" }),
      403,
    );
    expectProblem(await call("GET", "/tasks?cursor=garbage", owner), 400);
    expectProblem(await call("GET", "/tasks?status=sleeping", owner), 400);
    const after = await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select().from(schema.tasks),
    );
    expect(after.length).toBe(before.length);
  });

  it("only creates tasks where the robot may be invoked", async () => {
    const narrow = await createRobot(infra.database.db, infra.tokens, tenant, {
      scopes: [{ type: "chatgroup", id: uuidv7() }],
    });
    const problem = expectProblem(
      await call("POST", "/tasks", owner, {
        robotId: narrow.robotId,
        prompt: "x",
        chatgroupId: tenant.chatgroupId,
      }),
      403,
    );
    expect(problem.detail).toContain(narrow.handle);
    // Without a chatgroup: only tenant-wide robots for plain users; managers may.
    expectProblem(await call("POST", "/tasks", member.token, { robotId: narrow.robotId, prompt: "x" }), 403);
    await create(owner, { robotId: narrow.robotId, prompt: "x" });
  });

  it("lists with filters and cursor pages, and shows plain users only their own and their chatgroups' tasks", async () => {
    const lister = await createRobot(infra.database.db, infra.tokens, tenant);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await create(owner, { robotId: lister.robotId, prompt: `t${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/tasks?robotId=${lister.robotId}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = TaskPage.parse((await call("GET", url, owner)).json());
      seen.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    // The owner's tasks without a chatgroup are not the member's business.
    const memberView = TaskPage.parse(
      (await call("GET", `/tasks?robotId=${lister.robotId}`, member.token)).json(),
    );
    expect(memberView.items).toEqual([]);
    expectProblem(await call("GET", `/tasks/${ids[0]}`, member.token), 404);
    const queued = TaskPage.parse(
      (await call("GET", `/tasks?status=queued&robotId=${lister.robotId}`, owner)).json(),
    );
    expect(queued.items).toHaveLength(5);
  });

  it("hides other tenants' tasks (404, never 403)", async () => {
    const task = await create(owner, { robotId: robot.robotId, prompt: "private" });
    const stranger = await ownerToken(infra.tokens, other);
    expectProblem(await call("GET", `/tasks/${task.id}`, stranger), 404);
    const url = `/tasks/${task.id}/cancel`;
    expectProblem(await call("POST", url, stranger, undefined, { "if-match": `"${task.version}"` }), 404);
    expectProblem(await call("POST", `/tasks/${task.id}/retry`, stranger), 404);
    const list = TaskPage.parse((await call("GET", "/tasks", stranger)).json());
    expect(list.items.find((t) => t.id === task.id)).toBeUndefined();
  });

  it("lets the requester or a manager cancel a queued task at once, with If-Match", async () => {
    const task = await create(owner, { robotId: robot.robotId, prompt: "cancel me" });
    const url = `/tasks/${task.id}/cancel`;
    expectProblem(await call("POST", url, owner), 428);
    expectProblem(await call("POST", url, owner, undefined, { "if-match": `"${task.version + 1}"` }), 412);
    expectProblem(await call("POST", url, owner, undefined, { "if-match": `W/"${task.version}"` }), 412);
    const mine = await create(member.token, {
      robotId: robot.robotId,
      prompt: "mine",
      chatgroupId: tenant.chatgroupId,
    });
    // A plain user may not cancel the owner's task (it is visible through the chatgroup).
    const shared = await create(owner, {
      robotId: robot.robotId,
      prompt: "shared",
      chatgroupId: tenant.chatgroupId,
    });
    expectProblem(
      await call("POST", `/tasks/${shared.id}/cancel`, member.token, undefined, {
        "if-match": `"${shared.version}"`,
      }),
      403,
    );
    const cancelled = await call(
      "POST",
      `/tasks/${mine.id}/cancel`,
      member.token,
      { reason: "changed my mind" },
      {
        "if-match": `"${mine.version}"`,
      },
    );
    expect(cancelled.statusCode, cancelled.body).toBe(200);
    expect(cancelled.json()).toMatchObject({ status: "cancelled", error: "cancelled: changed my mind" });
    expect(cancelled.headers.etag).toBe(`"${mine.version + 1}"`);
    expectProblem(
      await call("POST", `/tasks/${mine.id}/cancel`, member.token, undefined, { "if-match": "*" }),
      409,
    );
    expect((await taskRow(infra.database.db, tenant.tenantId, task.id))?.status).toBe("queued");
  });

  it("lets only managers retry and discard dead letters", async () => {
    const task = await create(owner, { robotId: robot.robotId, prompt: "dies" });
    await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
      tx
        .update(schema.tasks)
        .set({ status: "dead", attempt: 3, finishedAt: new Date() })
        .where(eq(schema.tasks.id, task.id)),
    );
    const dead = TaskPage.parse((await call("GET", "/dead-letters", owner)).json());
    expect(dead.items.map((t) => t.id)).toContain(task.id);
    expectProblem(await call("POST", `/tasks/${task.id}/discard`, member.token), 404);
    const shared = await create(owner, {
      robotId: robot.robotId,
      prompt: "x",
      chatgroupId: tenant.chatgroupId,
    });
    expectProblem(await call("POST", `/tasks/${shared.id}/retry`, member.token), 403);
    expectProblem(await call("POST", `/tasks/${shared.id}/retry`, owner), 409);
    expectProblem(
      await call("POST", `/tasks/${task.id}/discard`, owner, undefined, { "if-match": '"999"' }),
      412,
    );

    const discarded = await call("POST", `/tasks/${task.id}/discard`, owner);
    expect(discarded.statusCode, discarded.body).toBe(200);
    expect(discarded.json().discardedAt).not.toBeNull();
    const after = TaskPage.parse((await call("GET", "/dead-letters", owner)).json());
    expect(after.items.map((t) => t.id)).not.toContain(task.id);
    const retried = await call("POST", `/tasks/${task.id}/retry`, owner);
    expect(retried.json()).toMatchObject({ status: "queued", attempt: 0, discardedAt: null });
    const audit = await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
      tx.select().from(schema.auditEvents).where(eq(schema.auditEvents.targetId, task.id)),
    );
    expect(audit.map((a) => a.action)).toEqual(["task.create", "task.discard", "task.retry"]);
    const broken = await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
      tx.execute("select * from perseus_audit_verify()"),
    );
    expect(broken.rows).toEqual([]);
  });

  it("publishes every route in the OpenAPI document", async () => {
    const response = await env.app.inject({ method: "GET", url: "/api/dispatch/openapi.json" });
    expect(response.statusCode).toBe(200);
    const paths = Object.keys(response.json().paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        "/api/dispatch/tasks",
        "/api/dispatch/tasks/{id}",
        "/api/dispatch/tasks/{id}/cancel",
        "/api/dispatch/dead-letters",
        "/api/dispatch/robot/v1/poll",
        "/api/dispatch/robot/v1/frames",
      ]),
    );
  });

  it("shows robot presence", async () => {
    const response = await call("GET", "/robots/presence", owner);
    expect(response.statusCode).toBe(200);
    const item = response.json().items.find((p: { robotId: string }) => p.robotId === robot.robotId);
    expect(item).toMatchObject({ state: "offline", connections: 0 });
  });
});
