import { createEvent, enqueueEvents } from "@perseus/bus";
import { type Db, schema, withTenant } from "@perseus/db";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { eq } from "drizzle-orm";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  readEvents,
  startDispatch,
  waitFor,
} from "./helper.js";

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;

beforeAll(async () => {
  infra = await createInfra();
  env = await startDispatch(infra);
  tenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

function messageCreated(robots: { robotId: string; handle: string }[], body = "please do it") {
  return createEvent("message.created", tenant.tenantId, {
    messageId: uuidv7(),
    chatgroupId: tenant.chatgroupId,
    teamId: tenant.teamId,
    seq: 1,
    authorType: "user",
    authorId: tenant.owner.id,
    body,
    threadRootId: null,
    mentions: { users: [], robots },
    taskId: null,
    createdAt: new Date().toISOString(),
  });
}

async function tasksOfMessage(db: Db, messageId: string) {
  return withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
    tx.select().from(schema.tasks).where(eq(schema.tasks.messageId, messageId)),
  );
}

describe("message.created → tasks", () => {
  it("creates one task per invocable mentioned robot, exactly once under redelivery", async () => {
    const { db } = infra.database;
    const jane = await createRobot(db, infra.tokens, tenant, { scopes: [{ type: "chatgroup" }] });
    const joe = await createRobot(db, infra.tokens, tenant, { scopes: [{ type: "team" }] });
    const event = messageCreated([
      { robotId: jane.robotId, handle: jane.handle },
      { robotId: joe.robotId, handle: joe.handle },
    ]);
    // Published the way the chat service does: through the outbox, relayed by dispatch's relay.
    await withTenant(db, { tenantId: tenant.tenantId }, (tx) => enqueueEvents(tx, [event]));
    const messageId = event.payload.messageId;
    const tasks = await waitFor("two tasks", async () => {
      const rows = await tasksOfMessage(db, messageId);
      return rows.length === 2 ? rows : undefined;
    });
    expect(tasks.map((t) => t.robotId).sort()).toEqual([jane.robotId, joe.robotId].sort());
    expect(tasks.every((t) => t.prompt === "please do it" && t.requestedBy === tenant.owner.id)).toBe(true);

    // Redelivery of the same event, and the same message under a new event id (a republish).
    const stream = `${env.prefix}:events:{chat}`;
    await infra.redis.client.xadd(stream, "*", "e", JSON.stringify(event));
    const republished = { ...event, id: uuidv7() };
    await infra.redis.client.xadd(stream, "*", "e", JSON.stringify(republished));
    await waitFor("both redeliveries handled", async () => {
      const rows = await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
        tx.select().from(schema.processedEvents).where(eq(schema.processedEvents.eventId, republished.id)),
      );
      return rows.length === 1;
    });
    const pending = await infra.redis.client.xpending(stream, "dispatch");
    expect(Number((pending as [number])[0])).toBe(0);
    expect(await tasksOfMessage(db, messageId)).toHaveLength(2);

    // Each task announced itself as queued, once.
    const events = await waitFor("queued events", async () => {
      const all = await readEvents(infra.redis.client, env.prefix, "task");
      const mine = all.filter(
        (e) =>
          e.type === "task.status" && tasks.some((t) => t.id === (e.payload as { taskId: string }).taskId),
      );
      return mine.length >= 2 ? mine : undefined;
    });
    expect(new Set(events.map((e) => (e.payload as { taskId: string }).taskId)).size).toBe(2);
    expect(events.every((e) => (e.payload as { status: string }).status === "queued")).toBe(true);
  });

  it("creates no task for a robot that may not be invoked in the chatgroup", async () => {
    const { db } = infra.database;
    const elsewhere = await createRobot(db, infra.tokens, tenant, {
      scopes: [{ type: "chatgroup", id: uuidv7() }],
    });
    const revoked = await createRobot(db, infra.tokens, tenant);
    await withTenant(db, { tenantId: tenant.tenantId }, (tx) =>
      tx.update(schema.robots).set({ revokedAt: new Date() }).where(eq(schema.robots.id, revoked.robotId)),
    );
    const allowed = await createRobot(db, infra.tokens, tenant);
    const event = messageCreated([
      { robotId: elsewhere.robotId, handle: elsewhere.handle },
      { robotId: revoked.robotId, handle: revoked.handle },
      { robotId: allowed.robotId, handle: allowed.handle },
    ]);
    await withTenant(db, { tenantId: tenant.tenantId }, (tx) => enqueueEvents(tx, [event]));
    const rows = await waitFor("the allowed robot's task", async () => {
      const found = await tasksOfMessage(db, event.payload.messageId);
      return found.length > 0 ? found : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const final = await tasksOfMessage(db, event.payload.messageId);
    expect(rows.map((r) => r.robotId)).toEqual([allowed.robotId]);
    expect(final.map((r) => r.robotId)).toEqual([allowed.robotId]);
  });

  it("ignores robot-authored messages (robots do not invoke robots)", async () => {
    const { db } = infra.database;
    const target = await createRobot(db, infra.tokens, tenant);
    const event = createEvent("message.created", tenant.tenantId, {
      ...messageCreated([{ robotId: target.robotId, handle: target.handle }]).payload,
      authorType: "robot",
      authorId: target.robotId,
    });
    await withTenant(db, { tenantId: tenant.tenantId }, (tx) => enqueueEvents(tx, [event]));
    await waitFor("the event to be consumed", async () => {
      const all = await infra.redis.client.xinfo("GROUPS", `${env.prefix}:events:{chat}`);
      const group = (all as unknown[][]).find((g) => g[1] === "dispatch");
      const lastDelivered = group?.[group.indexOf("last-delivered-id") + 1] as string | undefined;
      const [last] = await infra.redis.client.xrevrange(`${env.prefix}:events:{chat}`, "+", "-", "COUNT", 1);
      return lastDelivered !== undefined && last?.[0] === lastDelivered;
    });
    expect(await tasksOfMessage(db, event.payload.messageId)).toHaveLength(0);
  });
});
