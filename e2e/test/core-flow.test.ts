import { randomBytes } from "node:crypto";
import {
  CreateRobotCredentialResponse,
  Message,
  RealtimeServerFrame,
  RealtimeTicketResponse,
  Robot,
  SignupResponse,
} from "@perseus/contracts";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { z } from "zod";
import { edgeApi } from "./edge-api.js";
import { type Platform, startPlatform } from "./platform.js";

/**
 * The core promise, through real processes: a person writes `@jane <command>` in a
 * chatgroup; the nanobot (dialling out, as behind NAT) takes the task under a lease,
 * runs it, streams progress; the result becomes Jane's reply — exactly once, even when
 * the robot or the dispatch service is killed mid-task.
 */
let platform: Platform;
let session: SignupResponse;
let chatgroupId: string;
const frames: z.infer<typeof RealtimeServerFrame>[] = [];

const api = edgeApi(
  () => platform.edgeUrl,
  () => session?.accessToken,
);

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Robot replies stored for a task, read past RLS by the database owner. */
async function repliesFor(taskId: string): Promise<number> {
  const client = new pg.Client({ connectionString: platform.db.adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query("select count(*)::int as n from messages where task_id = $1", [
      taskId,
    ]);
    return rows[0].n as number;
  } finally {
    await client.end();
  }
}

async function post(body: string) {
  return api(Message, "POST", `/api/chat/chatgroups/${chatgroupId}/messages`, { body });
}

/** Posts `@jane <command>` and waits until Jane's reply for it arrives over the socket. */
async function askJane(command: string, onRunning?: (taskId: string) => Promise<void>) {
  const asked = await post(`@jane ${command}`);
  const taskId = await waitFor("a task for the message", () => {
    const frame = frames.find((f) => f.type === "task_status" && f.messageId === asked.id);
    return frame?.type === "task_status" ? frame.taskId : undefined;
  });
  if (onRunning) {
    await waitFor("the task to run", () =>
      frames.some((f) => f.type === "task_status" && f.taskId === taskId && f.status === "running")
        ? true
        : undefined,
    );
    await onRunning(taskId);
  }
  const reply = await waitFor("Jane's reply", () => {
    const frame = frames.find((f) => f.type === "message" && f.message.taskId === taskId);
    return frame?.type === "message" ? frame.message : undefined;
  });
  return { asked, taskId, reply };
}

beforeAll(async () => {
  platform = await startPlatform();
  const tag = randomBytes(3).toString("hex");
  session = await api(SignupResponse, "POST", "/api/auth/signup", {
    email: `owner-${tag}@example.test`,
    password: "correct horse battery staple",
    name: "Olive Owner",
    handle: `olive${tag}`,
    tenantName: "E2E Inc",
  });
  chatgroupId = session.chatgroupId;
  const robot = await api(Robot, "POST", "/api/auth/robots", {
    handle: "jane",
    name: "Jane",
    capabilities: ["shell"],
  });
  await api(z.unknown(), "PUT", `/api/auth/robots/${robot.id}/config`, { settings: { executor: "shell" } });
  const credential = await api(
    CreateRobotCredentialResponse,
    "POST",
    `/api/auth/robots/${robot.id}/credentials`,
  );
  await platform.startNanobot(credential.secret, "jane");

  const ticket = await api(RealtimeTicketResponse, "POST", "/api/chat/realtime/tickets");
  const socket = new WebSocket(
    `${platform.edgeUrl.replace("http", "ws")}${ticket.url}?ticket=${ticket.ticket}`,
    {
      origin: platform.edgeUrl,
    },
  );
  socket.on("message", (data) => frames.push(RealtimeServerFrame.parse(JSON.parse(String(data)))));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ type: "subscribe", chatgroupId }));
  await waitFor("the subscription", () => (frames.some((f) => f.type === "subscribed") ? true : undefined));
}, 180_000);

afterAll(async () => {
  await platform?.stop();
});

describe("@robot do X, end to end", () => {
  it("runs the command on the robot, streams progress and posts the result as Jane's reply", async () => {
    const marker = `hello-${randomBytes(4).toString("hex")}`;
    const { taskId, reply } = await askJane(`echo ${marker}`);
    expect(reply.authorType).toBe("robot");
    expect(reply.body).toContain(marker);
    const statuses = frames
      .filter((f) => f.type === "task_status" && f.taskId === taskId)
      .map((f) => f.type === "task_status" && f.status);
    expect(statuses).toContain("running");
    expect(statuses).toContain("succeeded");
    expect(
      frames.some((f) => f.type === "task_progress" && f.taskId === taskId && f.data.includes(marker)),
    ).toBe(true);
    expect(await repliesFor(taskId)).toBe(1);
  });

  it("a robot killed mid-task loses its lease; the task is retried and answered exactly once", async () => {
    const marker = `robot-crash-${randomBytes(4).toString("hex")}`;
    const { taskId, reply } = await askJane(`sleep 1.5; echo ${marker}`, async () => {
      const robot = platform.robots.jane!;
      await robot.kill("SIGKILL");
      await robot.restart();
    });
    expect(reply.body).toContain(marker);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await repliesFor(taskId)).toBe(1);
  });

  it("the dispatch service killed mid-task loses nothing: the task completes once after it restarts", async () => {
    const marker = `dispatch-crash-${randomBytes(4).toString("hex")}`;
    const { taskId, reply } = await askJane(`sleep 1.5; echo ${marker}`, async () => {
      await platform.services.dispatch.kill("SIGKILL");
      await platform.services.dispatch.restart();
    });
    expect(reply.body).toContain(marker);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await repliesFor(taskId)).toBe(1);
  });
});
