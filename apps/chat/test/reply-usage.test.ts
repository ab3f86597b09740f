import { createEvent } from "@perseus/bus";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeTaskReply } from "../src/modules/replies/replies.consumer.js";
import { formatUsageLine } from "../src/modules/replies/usage-line.js";
import { type ChatTestEnv, createChatTestEnv, createRobot } from "./helper.js";

let env: ChatTestEnv;
let tenant: TenantFixture;
let robotId: string;

beforeAll(async () => {
  env = await createChatTestEnv();
  tenant = await createTenant(env.database.db);
  robotId = await createRobot(env.database.db, tenant, "counter", { type: "team", id: tenant.teamId });
});
afterAll(async () => {
  await env?.cleanup();
});

const reply = (result: string, usage?: Record<string, unknown>) =>
  storeTaskReply(
    env.database.db,
    createEvent("task.succeeded", tenant.tenantId, {
      taskId: crypto.randomUUID(),
      robotId,
      chatgroupId: tenant.chatgroupId,
      messageId: null,
      result,
      ...(usage ? { usage } : {}),
    }),
    { maxBytes: 4_096 },
  );

describe("usage with a robot's reply", () => {
  it("ends the reply with the task's tokens, cost and models", async () => {
    const stored = await reply("Here it is.", {
      inputTokens: 3_000,
      outputTokens: 150,
      costUsd: 0.00123,
      model: "strong",
      models: [
        { model: "cheap", inputTokens: 1_000, outputTokens: 50, escalation: "tool loop" },
        { model: "strong", inputTokens: 2_000, outputTokens: 100 },
      ],
    });
    expect(stored?.body).toBe(
      "Here it is.\n\n— usage: 3,150 tokens (3,000 in, 150 out) · $0.0012 · cheap → strong",
    );
  });

  it("leaves replies without usage (shell tasks, older events) exactly the result", async () => {
    expect((await reply("plain output\n"))?.body).toBe("plain output\n");
    expect((await reply("still plain", {}))?.body).toBe("still plain");
  });

  it("keeps the usage line when the result is truncated", async () => {
    const stored = await reply("x".repeat(10_000), { inputTokens: 10, outputTokens: 5, model: "m" });
    expect(Buffer.byteLength(stored?.body ?? "")).toBeLessThanOrEqual(4_096);
    expect(stored?.body).toMatch(/…\(truncated\)\n\n— usage: 15 tokens \(10 in, 5 out\) · m$/);
  });

  it("formats costs from whole dollars down to fractions of a cent, and ignores malformed usage", () => {
    expect(formatUsageLine({ inputTokens: 1, outputTokens: 0, costUsd: 1.234 })).toBe(
      "— usage: 1 token (1 in, 0 out) · $1.23",
    );
    expect(formatUsageLine({ inputTokens: 1, outputTokens: 1, costUsd: 0.0000004567 })).toBe(
      "— usage: 2 tokens (1 in, 1 out) · $0.00000046",
    );
    expect(formatUsageLine({ inputTokens: "many" })).toBeNull();
  });
});
