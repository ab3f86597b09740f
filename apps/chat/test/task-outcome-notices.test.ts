import { createEvent, enqueueEvents } from "@perseus/bus";
import type { DomainEvent } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import type { TenantFixture } from "@perseus/testing";
import { asc, eq } from "drizzle-orm";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeTaskReply } from "../src/modules/replies/replies.consumer.js";
import {
  MAX_REASON_CHARS,
  publicReason,
  storeTaskOutcomeNotice,
} from "../src/modules/replies/task-outcome-notices.js";
import {
  type ChatTestEnv,
  createMember,
  createRobot,
  type LiveChat,
  type Member,
  post,
  startLiveChat,
  type TestClient,
  waitUntil,
} from "./helper.js";

let live: LiveChat;
let env: ChatTestEnv;
let app: FastifyInstance;
let tenant: TenantFixture;
let alice: Member;
let robotId: string;
let watcher: TestClient;

beforeAll(async () => {
  live = await startLiveChat();
  ({ env, app, tenant } = live);
  alice = await createMember(env, tenant);
  robotId = await createRobot(env.database.db, tenant, "worker", { type: "team", id: tenant.teamId });
  watcher = await live.connect(alice);
  watcher.send({ type: "subscribe", chatgroupId: tenant.chatgroupId });
  await watcher.waitForFrame("subscribed");
});

afterAll(async () => {
  await live?.stop();
});

const notices = (taskId: string) =>
  withTenant(env.database.db, tenant, (tx) =>
    tx
      .select()
      .from(schema.messages)
      .where(eq(schema.messages.taskId, taskId))
      .orderBy(asc(schema.messages.seq)),
  );

function statusEvent(
  taskId: string,
  status: DomainEvent<"task.status">["payload"]["status"],
  error: string | null,
  extra: Partial<DomainEvent<"task.status">["payload"]> = {},
) {
  return createEvent("task.status", tenant.tenantId, {
    taskId,
    robotId,
    chatgroupId: tenant.chatgroupId,
    messageId: null,
    status,
    attempt: 1,
    error,
    ...extra,
  });
}

const publish = (...events: DomainEvent[]) =>
  withTenant(env.database.db, tenant, (tx) => enqueueEvents(tx, events));

describe("a task that ends without a result says so in its chatgroup", () => {
  it("posts one notice from the robot for a failed task: the reason, bounded, without trace or secrets", async () => {
    const taskId = crypto.randomUUID();
    const error = [
      `npm install failed: token=ghp_abcdefghijklmnop1234 for https://deploy:hunter2@git.example.test/repo ${"x".repeat(600)}`,
      "    at install (/home/bot/work/index.js:10:5)",
      "    at main (/home/bot/work/index.js:20:3)",
    ].join("\n");
    const failed = statusEvent(taskId, "failed", error);
    // Delivered twice (a relay re-publish), and a second event for the same outcome: one notice.
    await publish(failed);
    await publish(failed);
    await publish(statusEvent(taskId, "failed", "another failure"));
    const frame = await watcher.waitForFrame("message", (f) => f.message.taskId === taskId);
    expect(frame.message).toMatchObject({ authorType: "robot", authorId: robotId, taskId });
    expect(frame.message.body).toMatch(
      /^Task failed: `npm install failed: token=\[redacted\] for https:\/\/\[redacted\]@git/,
    );
    expect(frame.message.body).not.toContain("hunter2");
    expect(frame.message.body).not.toContain("ghp_");
    expect(frame.message.body).not.toContain("index.js");
    expect(frame.message.body.length).toBeLessThan(MAX_REASON_CHARS + 40);
    await waitUntil("the events handled", async () => {
      const [row] = await withTenant(env.database.db, tenant, (tx) =>
        tx.select().from(schema.outbox).limit(1),
      );
      return row === undefined;
    });
    // Handled once more by hand (as another replica would): still one.
    expect(
      await storeTaskOutcomeNotice(env.database.db, statusEvent(taskId, "failed", "again"), {
        consumer: "chat-replies",
      }),
    ).toBeNull();
    expect(await notices(taskId)).toHaveLength(1);
  });

  it("says a dead-lettered task gave up after its attempts, in the thread it was asked in", async () => {
    const root = await post(app, alice.token, tenant.chatgroupId, { body: "a thread" });
    const asked = await post(app, alice.token, tenant.chatgroupId, {
      body: "@worker build it",
      threadRootId: root.body.id,
    });
    const taskId = crypto.randomUUID();
    await publish(statusEvent(taskId, "dead", "lease expired", { attempt: 3, messageId: asked.body.id }));
    const frame = await watcher.waitForFrame("message", (f) => f.message.taskId === taskId);
    expect(frame.message.body).toBe(
      "Task failed after 3 attempts and was set aside as a dead letter: `lease expired`. An owner or admin may retry it.",
    );
    expect(frame.message.threadRootId).toBe(root.body.id);
  });

  it("names who cancelled a task, with their reason", async () => {
    const taskId = crypto.randomUUID();
    // dispatch records the request in the audit log, then ends the task `cancelled`.
    await withTenant(env.database.db, tenant, (tx) =>
      tx.insert(schema.auditEvents).values({
        tenantId: tenant.tenantId,
        actorType: "user",
        actorId: alice.id,
        action: "task.cancel",
        targetType: "task",
        targetId: taskId,
        data: {},
      }),
    );
    await publish(statusEvent(taskId, "cancelled", "cancelled: changed my mind"));
    const frame = await watcher.waitForFrame("message", (f) => f.message.taskId === taskId);
    expect(frame.message.body).toBe(`Task cancelled by @${alice.handle}: \`changed my mind\``);

    const unexplained = crypto.randomUUID();
    await publish(statusEvent(unexplained, "cancelled", "cancelled"));
    const plain = await watcher.waitForFrame("message", (f) => f.message.taskId === unexplained);
    expect(plain.message.body).toBe("Task cancelled.");
  });

  it("posts nothing for other statuses, and a later success after a retry still gets its reply", async () => {
    const taskId = crypto.randomUUID();
    for (const status of ["queued", "offered", "running", "succeeded"] as const) {
      expect(
        await storeTaskOutcomeNotice(env.database.db, statusEvent(taskId, status, null), {
          consumer: "chat-replies",
        }),
      ).toBeNull();
    }
    expect(await notices(taskId)).toHaveLength(0);

    await storeTaskOutcomeNotice(env.database.db, statusEvent(taskId, "dead", "boom"), {
      consumer: "chat-replies",
    });
    const reply = await storeTaskReply(
      env.database.db,
      createEvent("task.succeeded", tenant.tenantId, {
        taskId,
        robotId,
        chatgroupId: tenant.chatgroupId,
        messageId: null,
        result: "done at last",
      }),
      { maxBytes: 4_096 },
    );
    expect(reply?.body).toBe("done at last");
    expect((await notices(taskId)).map((row) => row.body)).toEqual([
      "Task failed after 1 attempt and was set aside as a dead letter: `boom`. An owner or admin may retry it.",
      "done at last",
    ]);
  });
});

describe("publicReason", () => {
  it("keeps the message before a stack trace, on one line, bounded, without credentials", () => {
    expect(publicReason("boom\n  at x (a.js:1:1)\n  at y")).toBe("boom");
    expect(publicReason('Traceback (most recent call last):\n  File "a.py", line 1')).toBeNull();
    expect(publicReason("first\nsecond   line")).toBe("first second line");
    expect(publicReason("Authorization: Bearer abc.def.ghijklmnop")).toBe("Authorization: Bearer [redacted]");
    expect(publicReason("key ptt_0193_0194_secretsecretsecret used")).toBe("key [redacted] used");
    expect(publicReason("API_KEY=sk-live-1234567890abcdef ok")).toBe("API_KEY=[redacted] ok");
    expect(publicReason("a `code` span")).toBe("a 'code' span");
    const long = publicReason("y".repeat(5_000));
    expect(long?.length).toBe(MAX_REASON_CHARS);
    expect(long?.endsWith("…")).toBe(true);
    expect(publicReason("")).toBeNull();
    expect(publicReason(null)).toBeNull();
  });
});
