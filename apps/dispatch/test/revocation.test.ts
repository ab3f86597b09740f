import { randomUUID } from "node:crypto";
import { RobotCloseCode, type Task } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { createTenant, type TenantFixture } from "@perseus/testing";
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
import { TestRobot } from "./robot-client.js";

// T6 (gateway part): revocation reaches open sockets within seconds and frees the lease.
const LEASE_TTL_MS = 1_500;

let infra: Infra;
let env: DispatchEnv;
let tenant: TenantFixture;

beforeAll(async () => {
  infra = await createInfra();
  env = await startDispatch(infra, { LEASE_TTL_MS: String(LEASE_TTL_MS) });
  tenant = await createTenant(infra.database.db);
});

afterAll(async () => {
  await env?.close();
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

async function createTask(robot: RobotFixture): Promise<Task> {
  const response = await env.app.inject({
    method: "POST",
    url: "/api/dispatch/tasks",
    headers: { authorization: `Bearer ${await ownerToken(infra.tokens, tenant)}` },
    payload: { robotId: robot.robotId, prompt: "important" },
  });
  return response.json() as Task;
}

describe("T6: revocation with an open socket and a live lease", () => {
  it("closes the revoked credential's socket within 5 s and re-leases its task within TTL + 5 s", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const [credentialA, credentialB] = [randomUUID(), randomUUID()];
    const task = await createTask(robot);
    const tokenA = await robot.token(credentialA);
    const { robot: a } = await TestRobot.online(env.wsUrl, tokenA);
    const leaseA = await a.accept(await a.offer(task.id));
    const { robot: b } = await TestRobot.online(env.wsUrl, await robot.token(credentialB));

    const revokedAt = Date.now();
    infra.tokens.revocations.revoke("credential", credentialA);
    const closed = await a.closed;
    const closedAfter = Date.now() - revokedAt;
    expect(closed.code).toBe(RobotCloseCode.unauthorized);
    expect(closedAfter).toBeLessThan(5_000);
    expect(b.isOpen).toBe(true);

    // A reconnect with a token of the revoked credential is refused before the upgrade.
    await expect(TestRobot.connect(env.wsUrl, tokenA)).rejects.toThrow(/401/);

    const offer = await b.offer(task.id, LEASE_TTL_MS + 5_000);
    const releasedAfter = Date.now() - revokedAt;
    expect(releasedAfter).toBeLessThan(LEASE_TTL_MS + 5_000);
    const leaseB = await b.accept(offer);
    expect(leaseB.epoch).toBe(leaseA.epoch + 1);
    expect(
      await b.request({
        type: "complete",
        taskId: task.id,
        epoch: leaseB.epoch,
        idempotencyKey: "b-finishes",
        result: { text: "done by b" },
      }),
    ).toMatchObject({ type: "ack" });
    expect((await taskRow(infra.database.db, tenant.tenantId, task.id))?.result).toBe("done by b");
    await b.close();
  });

  it("stops extending leases in the database once the credential is revoked there", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const credentialId = randomUUID();
    await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
      tx.insert(schema.robotCredentials).values({
        tenantId: tenant.tenantId,
        id: credentialId,
        robotId: robot.robotId,
        secretHash: "x",
      }),
    );
    const task = await createTask(robot);
    const { robot: client } = await TestRobot.online(env.wsUrl, await robot.token(credentialId));
    const lease = await client.accept(await client.offer(task.id));
    client.pause();
    // Revoked by the auth service in Postgres; the pub/sub notice has not arrived (yet).
    await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
      tx.update(schema.robotCredentials).set({ revokedAt: new Date() }),
    );
    const heartbeat = await client.request({
      type: "heartbeat",
      leases: [{ taskId: task.id, epoch: lease.epoch }],
    });
    expect(heartbeat).toMatchObject({
      type: "ack",
      result: { leases: [{ taskId: task.id, expiresAt: null }] },
    });
    const complete = await client.request({
      type: "complete",
      taskId: task.id,
      epoch: lease.epoch,
      idempotencyKey: "after-revocation",
      result: { text: "should not land" },
    });
    expect(complete).toMatchObject({ type: "error", code: "lease_expired" });
    expect((await taskRow(infra.database.db, tenant.tenantId, task.id))?.result).toBeNull();
    await client.close();
  });

  it("closes every connection of a revoked robot", async () => {
    const robot = await createRobot(infra.database.db, infra.tokens, tenant);
    const first = (await TestRobot.online(env.wsUrl, await robot.token())).robot;
    const second = (await TestRobot.online(env.wsUrl, await robot.token())).robot;
    infra.tokens.revocations.revoke("robot", robot.robotId);
    const [one, two] = await Promise.all([first.closed, second.closed]);
    expect([one.code, two.code]).toEqual([RobotCloseCode.unauthorized, RobotCloseCode.unauthorized]);
  });
});
