import { TerminalSession, TerminalTicketResponse } from "@perseus/contracts";
import { schema, withTenant } from "@perseus/db";
import { addMember, createTenant, createUser, type TenantFixture } from "@perseus/testing";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createInfra,
  createRobot,
  type DispatchEnv,
  type Infra,
  ownerToken,
  type RobotFixture,
  readEvents,
  startDispatch,
} from "./helper.js";
import { startNanobot, TerminalViewer } from "./terminal-helper.js";

// Live terminals, relayed between a real nanobot (its pty) and browser sockets, across two
// replicas: the robot is connected to `host`, people talk to `front`; bytes pass through Redis.
const VIEWER_BUFFER = 64 * 1024;
const WINDOW = 64 * 1024;
const BUFFER = 64 * 1024;

let infra: Infra;
let host: DispatchEnv;
let front: DispatchEnv;
let tenant: TenantFixture;
let other: TenantFixture;
let adminId: string;
let memberId: string;
let robot: RobotFixture;
let nanobot: Awaited<ReturnType<typeof startNanobot>>;
const cleanups: (() => Promise<void>)[] = [];

async function setCapabilities(fixture: RobotFixture, capabilities: string[]) {
  await withTenant(infra.database.db, { tenantId: fixture.tenantId }, (tx) =>
    tx.update(schema.robots).set({ capabilities }).where(eq(schema.robots.id, fixture.robotId)),
  );
}

async function connectNanobot(env: DispatchEnv, fixture: RobotFixture, terminal: boolean) {
  const nanobot = await startNanobot({ baseUrl: env.baseUrl, token: await fixture.token(), terminal });
  cleanups.push(nanobot.cleanup);
  return nanobot;
}

const tokenOf = (userId: string, role: "owner" | "admin" | "user", tenantId = tenant.tenantId) =>
  infra.tokens.user({ userId, tenantId, role });

async function call(env: DispatchEnv, token: string, method: string, url: string, payload?: unknown) {
  return env.app.inject({
    method: method as "GET",
    url: `/api/dispatch${url}`,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function open(token: string, body: Record<string, unknown>) {
  return call(front, token, "POST", "/terminals", { cols: 80, rows: 24, ...body });
}

async function openAndWait(token: string, body: Record<string, unknown>): Promise<TerminalSession> {
  const response = await open(token, body);
  expect(response.statusCode, response.body).toBe(201);
  const session = TerminalSession.parse(response.json());
  expect(session.status).toBe("opening");
  await expect
    .poll(async () => (await call(front, token, "GET", `/terminals/${session.id}`)).json().status, {
      timeout: 30_000,
      interval: 50,
    })
    .toBe("open");
  return session;
}

async function attach(token: string, sessionId: string, mode: "write" | "read" = "write", env = front) {
  const response = await call(env, token, "POST", `/terminals/${sessionId}/tickets`, { mode });
  expect(response.statusCode, response.body).toBe(201);
  const ticket = TerminalTicketResponse.parse(response.json());
  const viewer = await TerminalViewer.attach(env.baseUrl, ticket);
  await viewer.until("the snapshot", (v) => v.snapshot !== undefined);
  return { viewer, ticket };
}

async function auditRows(sessionId: string) {
  return withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
    tx
      .select()
      .from(schema.auditEvents)
      .where(
        and(
          eq(schema.auditEvents.targetType, "terminal_session"),
          eq(schema.auditEvents.targetId, sessionId),
        ),
      ),
  );
}

beforeAll(async () => {
  infra = await createInfra();
  const settings = {
    TERMINAL_VIEWER_BUFFER_BYTES: String(VIEWER_BUFFER),
    TERMINAL_WINDOW_BYTES: String(WINDOW),
    TERMINAL_BUFFER_BYTES: String(BUFFER),
    MAX_FRAMES_PER_SECOND: "400",
  };
  [host, front] = await Promise.all([startDispatch(infra, settings), startDispatch(infra, settings)]);
  [tenant, other] = await Promise.all([createTenant(infra.database.db), createTenant(infra.database.db)]);
  const [admin, member] = await Promise.all([createUser(infra.database.db), createUser(infra.database.db)]);
  adminId = admin.id;
  memberId = member.id;
  await addMember(infra.database.db, tenant.tenantId, adminId, "admin", tenant.teamId);
  await addMember(infra.database.db, tenant.tenantId, memberId, "user", tenant.teamId);
  robot = await createRobot(infra.database.db, infra.tokens, tenant);
  await setCapabilities(robot, ["shell", "terminal"]);
  nanobot = await connectNanobot(host, robot, true);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(cleanups.map((cleanup) => cleanup()));
  await Promise.allSettled([host?.close(), front?.close()]);
  await infra?.redis.cleanup();
  await infra?.database.drop();
});

describe("live terminals", () => {
  it("runs a shell on the nanobot: output, re-attach with the screen, one writer and read-only viewers", async () => {
    const owner = await ownerToken(infra.tokens, tenant);
    const session = await openAndWait(owner, { robotId: robot.robotId });

    const { viewer: writer } = await attach(owner, session.id, "write");
    expect(writer.frames[0]).toEqual({ type: "role", writer: true });
    writer.type("echo $((6*7))\r");
    await writer.until("42 in the output", (v) => /\r?\n42\r?\n/.test(v.screen));
    await writer.close();

    // Re-attach (on the other replica, for good measure): the ring buffer paints the screen again.
    const { viewer: again } = await attach(owner, session.id, "write", host);
    expect(again.snapshot).toMatch(/\r?\n42\r?\n/);
    expect(again.frames[0]).toEqual({ type: "role", writer: true });

    // Another admin watching asks for write and gets read; its keystrokes go nowhere.
    const admin = await tokenOf(adminId, "admin");
    const { viewer: watcher, ticket } = await attach(admin, session.id, "write");
    expect(ticket.mode).toBe("read");
    expect(watcher.frames[0]).toEqual({ type: "role", writer: false });
    watcher.type("echo nope-$((1+1))\r");
    await watcher.until("a read-only notice", (v) => v.frames.some((f) => f.type === "notice"));
    again.type("echo done-$((2+3))\r");
    await again.until("done-5", (v) => v.screen.includes("done-5"));
    await watcher.until("done-5 for the watcher", (v) => v.screen.includes("done-5"));
    expect(again.screen).not.toContain("nope-2");
    expect(watcher.screen).not.toContain("nope-2");

    // A ticket is single-use.
    await expect(TerminalViewer.attach(front.baseUrl, ticket)).rejects.toThrow(/401/);

    const closed = await call(front, owner, "DELETE", `/terminals/${session.id}`);
    expect(closed.statusCode).toBe(200);
    expect(closed.json()).toMatchObject({ status: "closed", closeReason: "closed" });
    for (const viewer of [again, watcher]) {
      await viewer.until("the closed frame", (v) => v.frames.some((f) => f.type === "closed"));
      expect(viewer.frames.at(-1)).toEqual({ type: "closed", reason: "closed" });
      expect((await viewer.closed).code).toBe(1000);
    }
    // Idempotent.
    const twice = await call(front, owner, "DELETE", `/terminals/${session.id}`);
    expect(twice.json()).toMatchObject({ status: "closed", closeReason: "closed" });
    // Who, when, which robot, how long: one audit row at open, one at close.
    const audit = await auditRows(session.id);
    expect(audit.map((row) => row.action).sort()).toEqual(["terminal.close", "terminal.open"]);
    const close = audit.find((row) => row.action === "terminal.close");
    expect(close?.actorId).toBe(tenant.owner.id);
    expect(close?.data).toMatchObject({ robotId: robot.robotId, reason: "closed" });
    expect(typeof (close?.data as { durationMs?: unknown } | undefined)?.durationMs).toBe("number");
    // No new ticket for an ended session.
    expect(
      (await call(front, owner, "POST", `/terminals/${session.id}/tickets`, { mode: "read" })).statusCode,
    ).toBe(409);
    const list = await call(front, owner, "GET", `/terminals?robotId=${robot.robotId}&status=closed`);
    expect(list.json().items.map((item: TerminalSession) => item.id)).toContain(session.id);
  }, 120_000);

  it("ends the session when the shell exits, with its exit code", async () => {
    const owner = await ownerToken(infra.tokens, tenant);
    const session = await openAndWait(owner, { robotId: robot.robotId });
    const { viewer } = await attach(owner, session.id);
    viewer.type("exit 7\r");
    await viewer.until("closed", (v) => v.frames.some((f) => f.type === "closed"));
    expect(viewer.frames.filter((f) => f.type === "exit" || f.type === "closed")).toEqual([
      { type: "exit", code: 7 },
      { type: "closed", reason: "exit" },
    ]);
    const row = (await call(front, owner, "GET", `/terminals/${session.id}`)).json();
    expect(row).toMatchObject({ status: "closed", exitCode: 7, closeReason: "exit" });
  }, 60_000);

  it("refuses people who are not owners or admins, other tenants, and robots without terminals", async () => {
    const owner = await ownerToken(infra.tokens, tenant);
    const member = await tokenOf(memberId, "user");
    expect((await open(member, { robotId: robot.robotId })).statusCode).toBe(403);
    const outsider = await ownerToken(infra.tokens, other);
    expect((await open(outsider, { robotId: robot.robotId })).statusCode).toBe(404);
    const bad = await open(owner, { robotId: robot.robotId, cols: 0 });
    expect(bad.statusCode).toBe(400);

    // Without the capability on the robot.
    const plain = await createRobot(infra.database.db, infra.tokens, tenant);
    const refused = await open(owner, { robotId: plain.robotId });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe("terminal_unsupported");
    // With the capability, but not connected.
    const away = await createRobot(infra.database.db, infra.tokens, tenant);
    await setCapabilities(away, ["terminal"]);
    const offline = await open(owner, { robotId: away.robotId });
    expect(offline.statusCode).toBe(409);
    expect(offline.json().code).toBe("robot_offline");
    // Connected, but its nanobot does not enable terminals.
    await connectNanobot(host, away, false);
    const unsupported = await open(owner, { robotId: away.robotId });
    expect(unsupported.statusCode).toBe(409);
    expect(unsupported.json().code).toBe("terminal_unsupported");

    // Tickets: same rules.
    const session = await openAndWait(owner, { robotId: robot.robotId });
    expect(
      (await call(front, member, "POST", `/terminals/${session.id}/tickets`, { mode: "read" })).statusCode,
    ).toBe(403);
    expect(
      (await call(front, outsider, "POST", `/terminals/${session.id}/tickets`, { mode: "read" })).statusCode,
    ).toBe(404);
    expect((await call(front, member, "DELETE", `/terminals/${session.id}`)).statusCode).toBe(403);
    expect((await call(front, member, "GET", `/terminals`)).statusCode).toBe(403);
    // A malformed frame closes the socket with a policy code; the session lives on.
    const { viewer } = await attach(owner, session.id);
    viewer.send("{nonsense");
    expect((await viewer.closed).code).toBe(1008);
    const { viewer: still } = await attach(owner, session.id);
    still.type("echo alive-$((3*3))\r");
    await still.until("alive-9", (v) => v.screen.includes("alive-9"));
    await call(front, owner, "DELETE", `/terminals/${session.id}`);
    await still.closed;
  }, 180_000);

  it("keeps buffers bounded when a program floods and a viewer stops reading", async () => {
    const owner = await ownerToken(infra.tokens, tenant);
    const session = await openAndWait(owner, { robotId: robot.robotId });
    const { viewer: slow } = await attach(owner, session.id);
    slow.type("yes flood-flood-flood-flood\r");
    await slow.until("flood output", (v) => v.screen.includes("flood-flood"));
    slow.stall();
    const relay = front.app.dispatch.terminals;
    if (!relay) throw new Error("no terminal relay");
    const relayed = () => host.app.dispatch.terminals?.stats.relayedBytes ?? 0;
    const start = relayed();
    // Output keeps flowing under credit while the stalled viewer loses what it cannot take.
    await expect.poll(() => relay.stats.droppedBytes, { timeout: 120_000, interval: 200 }).toBeGreaterThan(0);
    await expect
      .poll(() => relayed() - start, { timeout: 120_000, interval: 200 })
      .toBeGreaterThan(4 * VIEWER_BUFFER);
    // A viewer socket never holds much more than its limit (one frame over at most)...
    expect(relay.stats.maxViewerBufferedBytes).toBeLessThan(VIEWER_BUFFER + 64 * 1024);
    // ...and the ring buffer in Redis is capped.
    const length = await infra.redis.client.xlen(host.app.dispatch.terminals ? outKeyOf(session.id) : "");
    expect(length).toBeLessThanOrEqual(BUFFER / 16_384 + 2);

    const ended = nanobot.process.waitForLine(/terminal ended .*maxUnackedBytes=/, 60_000);
    await call(front, owner, "DELETE", `/terminals/${session.id}`);
    // The nanobot never had more than its window (plus the chunk that crossed it) unacknowledged.
    const line = await ended;
    const unacked = Number(/maxUnackedBytes=(\d+)/.exec(line)?.[1]);
    const pending = Number(/maxPendingBytes=(\d+)/.exec(line)?.[1]);
    expect(unacked).toBeGreaterThan(0);
    expect(unacked).toBeLessThanOrEqual(WINDOW + 16_384);
    expect(pending).toBeLessThan(1024 * 1024);
    slow.unstall();
    await slow.until("closed", (v) => v.frames.some((f) => f.type === "closed"), 60_000);
    expect(slow.frames.some((f) => f.type === "notice" && /dropped/.test(f.text))).toBe(true);
  }, 240_000);
});

function outKeyOf(sessionId: string) {
  return `${infra.redis.prefix}:dispatch:{t:${tenant.tenantId}}:term:${sessionId}:out`;
}

describe("ending sessions", () => {
  it("revoking the robot closes its sessions (reason revoked)", async () => {
    const owner = await ownerToken(infra.tokens, tenant);
    const doomed = await createRobot(infra.database.db, infra.tokens, tenant);
    await setCapabilities(doomed, ["terminal"]);
    await connectNanobot(host, doomed, true);
    const session = await openAndWait(owner, { robotId: doomed.robotId });
    const { viewer } = await attach(owner, session.id);
    infra.tokens.revocations.revoke("robot", doomed.robotId);
    await viewer.until("closed", (v) => v.frames.some((f) => f.type === "closed"));
    expect(viewer.frames.at(-1)).toEqual({ type: "closed", reason: "revoked" });
    expect((await call(front, owner, "GET", `/terminals/${session.id}`)).json()).toMatchObject({
      status: "closed",
      closeReason: "revoked",
    });
  }, 120_000);

  it("records the transcript into the chatgroup's workspace only when the tenant enables it", async () => {
    const owner = await ownerToken(infra.tokens, tenant);
    const transcripts = async () =>
      (await readEvents(infra.redis.client, infra.redis.prefix, "terminal")).filter(
        (event) => event.type === "terminal.recorded",
      );
    // Off by default: no transcript.
    const quiet = await openAndWait(owner, { robotId: robot.robotId, chatgroupId: tenant.chatgroupId });
    expect(quiet.recording).toBe(false);
    const { viewer: first } = await attach(owner, quiet.id);
    first.type("echo unrecorded-$((4*4))\r");
    await first.until("unrecorded-16", (v) => v.screen.includes("unrecorded-16"));
    await call(front, owner, "DELETE", `/terminals/${quiet.id}`);

    const member = await tokenOf(memberId, "user");
    expect(
      (await call(front, member, "PUT", "/terminal-settings", { recordTranscripts: true })).statusCode,
    ).toBe(403);
    const enabled = await call(front, owner, "PUT", "/terminal-settings", { recordTranscripts: true });
    expect(enabled.json()).toEqual({ recordTranscripts: true });
    const recorded = await openAndWait(owner, { robotId: robot.robotId, chatgroupId: tenant.chatgroupId });
    expect(recorded.recording).toBe(true);
    const { viewer } = await attach(owner, recorded.id);
    viewer.type("echo recorded-$((5*5))\r");
    await viewer.until("recorded-25", (v) => v.screen.includes("recorded-25"));
    await call(front, owner, "DELETE", `/terminals/${recorded.id}`);

    await expect.poll(async () => (await transcripts()).length, { timeout: 30_000 }).toBe(1);
    const [event] = await transcripts();
    expect(event?.payload).toMatchObject({
      sessionId: recorded.id,
      chatgroupId: tenant.chatgroupId,
      openedBy: tenant.owner.id,
    });
    const text = Buffer.from(
      (event?.payload as { transcript?: string } | undefined)?.transcript ?? "",
      "base64",
    ).toString();
    expect(text).toContain("recorded-25");
    expect(text).not.toContain("unrecorded-16");
    await call(front, owner, "PUT", "/terminal-settings", { recordTranscripts: false });
  }, 120_000);
});

describe("lost hosts", () => {
  it("a replica ends sessions whose robot connection is gone everywhere (host_lost), not live ones", async () => {
    const sweeper = await startDispatch(infra, { TERMINAL_SWEEP_MS: "200", TERMINAL_OPEN_TIMEOUT_MS: "500" });
    cleanups.push(() => sweeper.close());
    const owner = await ownerToken(infra.tokens, tenant);
    const live = await openAndWait(owner, { robotId: robot.robotId });
    // What a replica killed with SIGKILL leaves behind: an open session on a connection no
    // replica holds any more (its presence entry is gone).
    const orphanId = crypto.randomUUID();
    await withTenant(infra.database.db, { tenantId: tenant.tenantId }, (tx) =>
      tx.insert(schema.terminalSessions).values({
        tenantId: tenant.tenantId,
        id: orphanId,
        robotId: robot.robotId,
        openedBy: tenant.owner.id,
        cols: 80,
        rows: 24,
        status: "open",
        connectionId: "connection-of-a-dead-replica",
        openedAt: new Date(Date.now() - 60_000),
      }),
    );
    const ticket = await call(front, owner, "POST", `/terminals/${orphanId}/tickets`, { mode: "read" });
    expect(ticket.statusCode, ticket.body).toBe(201);
    const viewer = await TerminalViewer.attach(front.baseUrl, TerminalTicketResponse.parse(ticket.json()));
    await viewer.until("closed", (v) => v.frames.some((f) => f.type === "closed"), 30_000);
    expect(viewer.frames.at(-1)).toEqual({ type: "closed", reason: "host_lost" });
    expect((await call(front, owner, "GET", `/terminals/${orphanId}`)).json()).toMatchObject({
      status: "closed",
      closeReason: "host_lost",
    });
    const audit = await auditRows(orphanId);
    expect(audit.filter((row) => row.action === "terminal.close")).toHaveLength(1);
    expect(audit.find((row) => row.action === "terminal.close")?.data).toMatchObject({ reason: "host_lost" });
    // Several sweeps later the session on the live connection is still open.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await call(front, owner, "GET", `/terminals/${live.id}`)).json().status).toBe("open");
    await call(front, owner, "DELETE", `/terminals/${live.id}`);
  }, 120_000);
});

describe("idle sessions", () => {
  it("closes a session nobody types in or reads from after the idle timeout", async () => {
    const idleHost = await startDispatch(infra, { TERMINAL_IDLE_MS: "1500" });
    cleanups.push(() => idleHost.close());
    const sleepy = await createRobot(infra.database.db, infra.tokens, tenant);
    await setCapabilities(sleepy, ["terminal"]);
    await connectNanobot(idleHost, sleepy, true);
    const owner = await ownerToken(infra.tokens, tenant);
    const session = await openAndWait(owner, { robotId: sleepy.robotId });
    const { viewer } = await attach(owner, session.id);
    await viewer.until("closed", (v) => v.frames.some((f) => f.type === "closed"), 60_000);
    expect(viewer.frames.at(-1)).toEqual({ type: "closed", reason: "idle" });
    const audit = await auditRows(session.id);
    expect(audit.find((row) => row.action === "terminal.close")?.data).toMatchObject({ reason: "idle" });
  }, 180_000);
});
