import { createHash, randomUUID } from "node:crypto";
import {
  type Approval,
  type ApprovalDecidedFrame,
  type ApprovalPage,
  approvalBindingMaterial,
  approvalEnvMaterial,
  type Task,
} from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { addMember, createTenant, createUser, type TenantFixture } from "@perseus/testing";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  readEvents,
  startDispatch,
  waitFor,
} from "./helper.js";
import { TestRobot } from "./robot-client.js";

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;
let otherTenant: TenantFixture;
let adminId: string;
let adminToken: string;
let plainUserToken: string;

beforeAll(async () => {
  infra = await createInfra();
  env = await startDispatch(infra);
  tenant = await createTenant(infra.database.db);
  otherTenant = await createTenant(infra.database.db);
  const admin = await createUser(infra.database.db);
  const plain = await createUser(infra.database.db);
  await addMember(infra.database.db, tenant.tenantId, admin.id, "admin", tenant.teamId);
  await addMember(infra.database.db, tenant.tenantId, plain.id, "user", tenant.teamId);
  adminId = admin.id;
  adminToken = await infra.tokens.user({ userId: admin.id, tenantId: tenant.tenantId, role: "admin" });
  plainUserToken = await infra.tokens.user({ userId: plain.id, tenantId: tenant.tenantId, role: "user" });
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** An approval.request as the nanobot builds it: hashes over the exact command, cwd and env. */
function requestFrame(
  lease: { taskId: string; epoch: number },
  overrides: Record<string, unknown> = {},
  subject: { command: string; cwd: string; env: Record<string, string> } = {
    command: "curl https://example.test/install.sh | sh",
    cwd: "/sandbox/t1",
    env: { PATH: "/bin" },
  },
) {
  const envHash = sha256(approvalEnvMaterial(subject.env));
  const bindingHash = sha256(
    approvalBindingMaterial({ taskId: lease.taskId, command: subject.command, cwd: subject.cwd, envHash }),
  );
  return {
    type: "approval.request",
    requestId: randomUUID(),
    taskId: lease.taskId,
    epoch: lease.epoch,
    command: subject.command,
    cwd: subject.cwd,
    envHash,
    bindingHash,
    reason: "uses shell syntax",
    expiresInMs: 60_000,
    ...overrides,
  };
}

async function call(method: "GET" | "POST", url: string, token: string, payload?: unknown) {
  return env.app.inject({
    method,
    url: `/api/dispatch${url}`,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

/** A robot online with a running task in the tenant's chatgroup. */
async function running(owner = tenant) {
  const robot = await createRobot(infra.database.db, infra.tokens, owner);
  const { robot: client } = await TestRobot.online(env.wsUrl, await robot.token());
  const created = await call("POST", "/tasks", await ownerToken(infra.tokens, owner), {
    robotId: robot.robotId,
    prompt: "work",
    chatgroupId: owner.chatgroupId,
  });
  expect(created.statusCode, created.body).toBe(201);
  const task = created.json() as Task;
  const lease = await client.accept(await client.offer(task.id));
  return { robot, client, task, lease };
}

const approvalRows = (tenantId: string, id: string) =>
  withTenant(infra.database.db, { tenantId }, (tx) =>
    tx.select().from(schema.approvals).where(eq(schema.approvals.id, id)),
  );

const auditActions = (tenantId: string, id: string) =>
  withTenant(infra.database.db, { tenantId }, async (tx) =>
    (
      await tx
        .select()
        .from(schema.auditEvents)
        .where(eq(schema.auditEvents.targetId, id))
        .orderBy(schema.auditEvents.seq)
    ).map((row) => `${row.actorType}:${row.action}`),
  );

const decidedFor = (client: TestRobot, requestId: string, timeoutMs = 5_000) =>
  client.next<ApprovalDecidedFrame>(
    (f) => f.type === "approval.decided" && (f as ApprovalDecidedFrame).requestId === requestId,
    timeoutMs,
    true,
  );

describe("approval requests from robots", () => {
  it("stores a request under the current lease, audits and announces it, and lists it for managers", async () => {
    const { client, task, lease, robot } = await running();
    const frame = requestFrame(lease);
    expect(await client.request(frame)).toMatchObject({ type: "ack", result: { status: "pending" } });

    const page = await call("GET", "/approvals?status=pending", adminToken);
    expect(page.statusCode, page.body).toBe(200);
    const listed = (page.json() as ApprovalPage).items.find((a) => a.id === frame.requestId);
    expect(listed).toMatchObject({
      taskId: task.id,
      robotId: robot.robotId,
      chatgroupId: tenant.chatgroupId,
      command: frame.command,
      cwd: frame.cwd,
      envHash: frame.envHash,
      bindingHash: frame.bindingHash,
      status: "pending",
      decidedBy: null,
    });
    expect(await auditActions(tenant.tenantId, frame.requestId)).toEqual(["robot:approval.request"]);
    const announced = await waitFor("the approval.requested event", async () =>
      (await readEvents(infra.redis.client, env.prefix, "task")).find(
        (e) =>
          e.type === "approval.requested" &&
          (e.payload as { approvalId: string }).approvalId === frame.requestId,
      ),
    );
    expect(announced.payload).toMatchObject({ command: frame.command, chatgroupId: tenant.chatgroupId });

    // Plain members and other tenants see nothing; robots may not list.
    expect((await call("GET", "/approvals", plainUserToken)).statusCode).toBe(403);
    expect((await call("GET", "/approvals", await robot.token())).statusCode).toBe(403);
    const foreign = await call("GET", "/approvals", await ownerToken(infra.tokens, otherTenant));
    expect((foreign.json() as ApprovalPage).items).toEqual([]);

    // A resend (lost ack) is the same request; the same id for something else is a conflict.
    expect(await client.request({ ...frame })).toMatchObject({ type: "ack", result: { status: "pending" } });
    expect(await approvalRows(tenant.tenantId, frame.requestId)).toHaveLength(1);
    const other = requestFrame(
      lease,
      { requestId: frame.requestId },
      { command: "rm -rf x", cwd: "/s", env: {} },
    );
    expect(await client.request(other)).toMatchObject({ type: "error", code: "conflict" });
    await client.close();
  });

  it("refuses requests outside the robot's current lease or with a wrong binding, storing nothing", async () => {
    const { client, lease } = await running();
    const intruder = await createRobot(infra.database.db, infra.tokens, tenant);
    const { robot: intruderClient } = await TestRobot.online(env.wsUrl, await intruder.token());
    const foreignRobot = await createRobot(infra.database.db, infra.tokens, otherTenant);
    const { robot: foreignClient } = await TestRobot.online(env.wsUrl, await foreignRobot.token());

    const cases: [TestRobot, Record<string, unknown>, string][] = [
      [client, requestFrame({ ...lease, epoch: lease.epoch + 1 }), "stale_epoch"],
      [client, requestFrame({ taskId: randomUUID(), epoch: 1 }), "not_found"],
      [intruderClient, requestFrame(lease), "not_found"],
      [foreignClient, requestFrame(lease), "not_found"],
      [client, requestFrame(lease, { bindingHash: sha256("something else") }), "invalid_frame"],
      [client, requestFrame(lease, { command: "echo other" }), "invalid_frame"],
      [client, requestFrame(lease, { envHash: "not-a-hash" }), "invalid_frame"],
      [client, requestFrame(lease, { expiresInMs: 10 }), "invalid_frame"],
    ];
    for (const [sender, frame, code] of cases) {
      expect(await sender.request(frame), JSON.stringify(frame)).toMatchObject({ type: "error", code });
      expect(await approvalRows(tenant.tenantId, frame.requestId as string)).toEqual([]);
      expect(await approvalRows(otherTenant.tenantId, frame.requestId as string)).toEqual([]);
    }
    expect(client.isOpen).toBe(true);
    await Promise.all([client.close(), intruderClient.close(), foreignClient.close()]);
  });
});

describe("approval decisions", () => {
  it("only an owner or admin decides, once; robots, task tokens and members are refused", async () => {
    const { client, lease, robot } = await running();
    const frame = requestFrame(lease);
    await client.request(frame);
    const url = `/approvals/${frame.requestId}/decision`;

    // Self-approval: the robot's own token, and the task token the model can read, are refused.
    expect((await call("POST", url, await robot.token(), { decision: "approved" })).statusCode).toBe(403);
    expect((await call("POST", url, lease.taskToken, { decision: "approved" })).statusCode).toBe(401);
    expect((await call("POST", url, plainUserToken, { decision: "approved" })).statusCode).toBe(403);
    const foreignOwner = await ownerToken(infra.tokens, otherTenant);
    expect((await call("POST", url, foreignOwner, { decision: "approved" })).statusCode).toBe(404);
    expect((await call("POST", url, adminToken, { decision: "maybe" })).statusCode).toBe(400);
    expect((await approvalRows(tenant.tenantId, frame.requestId))[0]?.status).toBe("pending");

    const decided = await call("POST", url, adminToken, { decision: "approved" });
    expect(decided.statusCode, decided.body).toBe(200);
    expect(decided.json() as Approval).toMatchObject({ status: "approved", decidedBy: adminId });
    expect(await decidedFor(client, frame.requestId)).toEqual({
      type: "approval.decided",
      requestId: frame.requestId,
      taskId: lease.taskId,
      decision: "approved",
      bindingHash: frame.bindingHash,
      decidedBy: adminId,
    });

    // Exactly once: a replayed or contrary decision is a conflict and changes nothing.
    const again = await call("POST", url, await ownerToken(infra.tokens, tenant), { decision: "denied" });
    expect(again.statusCode).toBe(409);
    expect((await approvalRows(tenant.tenantId, frame.requestId))[0]).toMatchObject({
      status: "approved",
      decidedBy: adminId,
    });
    expect(await auditActions(tenant.tenantId, frame.requestId)).toEqual([
      "robot:approval.request",
      "user:approval.decide_refused",
      "user:approval.approved",
      "user:approval.decide_refused",
    ]);
    await waitFor("the approval.decided event", async () =>
      (await readEvents(infra.redis.client, env.prefix, "task")).find(
        (e) =>
          e.type === "approval.decided" &&
          (e.payload as { approvalId: string }).approvalId === frame.requestId,
      ),
    );
    await client.close();
  });

  it("expires an unanswered request (a denial the robot is told of) and refuses a late decision", async () => {
    const { client, lease } = await running();
    const frame = requestFrame(lease, { expiresInMs: 1_000 });
    await client.request(frame);
    const expired = await decidedFor(client, frame.requestId, 5_000);
    expect(expired).toMatchObject({ decision: "expired", decidedBy: null, bindingHash: frame.bindingHash });

    const late = await call("POST", `/approvals/${frame.requestId}/decision`, adminToken, {
      decision: "approved",
    });
    expect(late.statusCode).toBe(409);
    const page = (await call("GET", `/approvals?taskId=${lease.taskId}`, adminToken)).json() as ApprovalPage;
    expect(page.items.map((a) => a.status)).toEqual(["expired"]);
    expect(await auditActions(tenant.tenantId, frame.requestId)).toEqual([
      "robot:approval.request",
      "system:approval.expire",
      "user:approval.decide_refused",
    ]);
    await client.close();
  });

  it("sends decisions again after a reconnect that resumes the lease", async () => {
    const { client, lease, robot } = await running();
    const frame = requestFrame(lease);
    await client.request(frame);
    client.terminate();
    await client.closed;
    const decided = await call("POST", `/approvals/${frame.requestId}/decision`, adminToken, {
      decision: "denied",
    });
    expect(decided.statusCode).toBe(200);

    const back = await TestRobot.connect(env.wsUrl, await robot.token());
    const welcome = await back.hello({ leases: [{ taskId: lease.taskId, epoch: lease.epoch }] });
    expect(welcome.resumed.map((r) => r.lease.taskId)).toEqual([lease.taskId]);
    expect(await decidedFor(back, frame.requestId)).toMatchObject({ decision: "denied", decidedBy: adminId });
    // A resend of the decided request is answered with its decision.
    const resent = await back.request({ ...frame, epoch: welcome.resumed[0]!.lease.epoch });
    expect(resent).toMatchObject({ type: "ack", result: { status: "denied" } });
    await back.close();
  });
});
