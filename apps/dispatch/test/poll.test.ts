import { randomUUID } from "node:crypto";
import { RobotFramesResponse, RobotPollResponse, type Task } from "@perseus/contracts";
import { createTenant, type TenantFixture } from "@perseus/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  startDispatch,
  taskRow,
} from "./helper.js";

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;

beforeAll(async () => {
  infra = await createInfra();
  env = await startDispatch(infra, { POLL_SESSION_IDLE_MS: "1000" });
  tenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

/** Over real HTTP, like a robot behind a proxy that breaks WebSockets. */
async function post(path: string, token: string, body: unknown) {
  const response = await fetch(`${env.baseUrl}/api/dispatch/robot/v1/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

const hello = () => ({
  type: "hello",
  id: randomUUID(),
  protocol: { min: 1, max: 1 },
  agent: { name: "poller", version: "1" },
  capabilities: ["shell"],
  concurrency: 1,
});

describe("long-poll fallback", () => {
  it("carries the same frames and semantics as the WebSocket", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const token = await robot.token();
    const opened = RobotPollResponse.parse((await post("poll", token, {})).body);
    const sessionId = opened.sessionId;
    const welcome = RobotFramesResponse.parse(
      (await post("frames", token, { sessionId, frames: [hello()] })).body,
    );
    expect(welcome.frames[0]).toMatchObject({ type: "welcome", robot: { id: robot.robotId } });

    const created = await env.app.inject({
      method: "POST",
      url: "/api/dispatch/tasks",
      headers: { authorization: `Bearer ${await ownerToken(infra.tokens, tenant)}` },
      payload: { robotId: robot.robotId, prompt: "over http" },
    });
    const task = created.json() as Task;
    const pollReply = await post("poll", token, { sessionId, cursor: opened.cursor, waitMs: 5_000 });
    expect(pollReply.status, JSON.stringify(pollReply.body)).toBe(200);
    const polled = RobotPollResponse.parse(pollReply.body);
    const offer = polled.frames.find((f) => f.type === "offer");
    expect(offer).toMatchObject({ type: "offer", task: { id: task.id, prompt: "over http" } });
    if (offer?.type !== "offer") throw new Error("no offer");

    const accepted = RobotFramesResponse.parse(
      (
        await post("frames", token, {
          sessionId,
          frames: [{ type: "accept", id: "a1", taskId: task.id, offerId: offer.offerId }],
        })
      ).body,
    );
    const lease = (accepted.frames[0] as unknown as { result: { lease: { epoch: number } } }).result.lease;
    expect(lease.epoch).toBe(1);
    const batch = RobotFramesResponse.parse(
      (
        await post("frames", token, {
          sessionId,
          frames: [
            { type: "heartbeat", id: "h1", leases: [{ taskId: task.id, epoch: 1 }] },
            {
              type: "progress",
              id: "p1",
              taskId: task.id,
              epoch: 1,
              seq: 1,
              kind: "stdout",
              data: "working",
            },
            {
              type: "complete",
              id: "c1",
              taskId: task.id,
              epoch: 1,
              idempotencyKey: "poll-result",
              result: { text: "done over http" },
            },
          ],
        })
      ).body,
    );
    expect(batch.frames.map((f) => [f.type, (f as { ref?: string }).ref])).toEqual([
      ["ack", "h1"],
      ["ack", "p1"],
      ["ack", "c1"],
    ]);
    expect(await taskRow(infra.database.db, tenant.tenantId, task.id)).toMatchObject({
      status: "succeeded",
      result: "done over http",
    });
    // Acknowledged frames are dropped: polling past the cursor returns nothing new.
    const again = RobotPollResponse.parse(
      (await post("poll", token, { sessionId, cursor: polled.cursor, waitMs: 0 })).body,
    );
    expect(again.frames).toEqual([]);
  });

  it("binds a session to its robot, validates frames and closes idle sessions", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const intruder = await createRobot(infra.database.db, infra.tokens, tenant);
    const token = await robot.token();
    const { sessionId } = RobotPollResponse.parse((await post("poll", token, {})).body);
    expect((await post("poll", await intruder.token(), { sessionId, waitMs: 0 })).status).toBe(404);
    expect((await post("frames", await intruder.token(), { sessionId, frames: [hello()] })).status).toBe(404);
    expect((await post("frames", token, { sessionId, frames: [{ type: "teleport", id: "x" }] })).status).toBe(
      400,
    );
    expect((await post("frames", token, { sessionId, frames: [] })).status).toBe(400);
    const early = RobotFramesResponse.parse(
      (await post("frames", token, { sessionId, frames: [{ type: "heartbeat", id: "h", leases: [] }] })).body,
    );
    expect(early.frames[0]).toMatchObject({ type: "error", code: "hello_required" });
    expect((await post("poll", await ownerToken(infra.tokens, tenant), {})).status).toBe(403);

    // No hello in time: closed like a socket (4003); a late poll learns why.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const timedOut = await post("poll", token, { sessionId, waitMs: 0 });
    expect(timedOut.status).toBe(410);
    expect(timedOut.headers.get("x-perseus-close-code")).toBe("4003");

    // A session nobody polls is closed after the idle timeout (1 s here).
    const idle = RobotPollResponse.parse((await post("poll", token, {})).body).sessionId;
    await post("frames", token, { sessionId: idle, frames: [hello()] });
    await new Promise((resolve) => setTimeout(resolve, 1_800));
    const gone = await post("poll", token, { sessionId: idle, waitMs: 0 });
    expect(gone.status).toBe(410);
    expect(gone.headers.get("x-perseus-close-code")).toBe("1000");
  });
});
