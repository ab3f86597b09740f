import { createEvent } from "@perseus/bus";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, createHarness, createWorld, type Harness } from "./helper.js";

// Recorded terminal sessions: dispatch publishes `terminal.recorded` as a session closes; the
// workspace writes the transcript into the chatgroup's layer on behalf of the opener.
let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await h?.close();
});

async function publish(tenantId: string, payload: Parameters<typeof createEvent<"terminal.recorded">>[2]) {
  const event = createEvent("terminal.recorded", tenantId, payload);
  await h.redis.client.xadd(`${h.redis.prefix}:events:{terminal}`, "*", "e", JSON.stringify(event));
  return event;
}

describe("terminal transcripts", () => {
  it("writes the transcript into the chatgroup's layer, once, as the opener", async () => {
    const world = await createWorld(h);
    const sessionId = uuidv7();
    const path = `terminal-sessions/${sessionId}.log`;
    const payload = {
      sessionId,
      robotId: uuidv7(),
      chatgroupId: world.chatgroupId,
      openedBy: world.owner.id,
      path,
      transcript: Buffer.from("$ echo $((6*7))\r\n42\r\n").toString("base64"),
      openedAt: new Date().toISOString(),
      closedAt: new Date().toISOString(),
    };
    await publish(world.tenantId, payload);
    // A redelivery (same session) changes nothing; a later session's transcript shows it was handled.
    await publish(world.tenantId, { ...payload, transcript: Buffer.from("other").toString("base64") });
    const laterId = uuidv7();
    const laterPath = `terminal-sessions/${laterId}.log`;
    await publish(world.tenantId, { ...payload, sessionId: laterId, path: laterPath });
    const c = client(h.app, world.ownerToken);
    const ref = { layer: "chatgroup" as const, layerId: world.chatgroupId };
    await expect.poll(async () => (await c.read(ref, laterPath)).statusCode, { timeout: 30_000 }).toBe(200);
    expect((await c.read(ref, path)).body).toBe("$ echo $((6*7))\r\n42\r\n");
    const versions = (await c.versions(ref, path)).json() as { items: { createdBy?: string }[] };
    expect(versions.items).toHaveLength(1);
  }, 60_000);
});
