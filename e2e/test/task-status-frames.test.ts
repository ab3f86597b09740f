import { randomBytes } from "node:crypto";
import {
  Message,
  RealtimeServerFrame,
  RealtimeTicketResponse,
  Robot,
  SignupResponse,
} from "@perseus/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { z } from "zod";
import { edgeApi } from "./edge-api.js";
import { type Platform, startPlatform } from "./platform.js";

/**
 * Live task status through real processes (dispatch → outbox → stream → chat socket),
 * with no robot connected: the console must not need to poll to learn that a task is
 * queued, nor to learn that it was cancelled.
 */
let platform: Platform;
let session: SignupResponse;
let chatgroupId: string;
let socket: WebSocket;
const frames: RealtimeServerFrame[] = [];

const api = edgeApi(
  () => platform.edgeUrl,
  () => session?.accessToken,
);

async function subscribe() {
  const ticket = await api(RealtimeTicketResponse, "POST", "/api/chat/realtime/tickets");
  socket = new WebSocket(`${platform.edgeUrl.replace("http", "ws")}${ticket.url}?ticket=${ticket.ticket}`, {
    origin: platform.edgeUrl,
  });
  socket.on("message", (data) => frames.push(RealtimeServerFrame.parse(JSON.parse(String(data)))));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ type: "subscribe", chatgroupId }));
  const deadline = Date.now() + 60_000;
  while (!frames.some((f) => f.type === "subscribed")) {
    if (Date.now() > deadline) throw new Error("no subscribed frame");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const statusFrames = (messageId: string) =>
  frames.filter((f) => f.type === "task_status" && f.messageId === messageId);

beforeAll(async () => {
  platform = await startPlatform();
  const tag = randomBytes(3).toString("hex");
  session = await api(SignupResponse, "POST", "/api/auth/signup", {
    email: `status-${tag}@example.test`,
    password: "correct horse battery staple",
    name: "Stella Status",
    handle: `stella${tag}`,
    tenantName: "Status Inc",
  });
  chatgroupId = session.chatgroupId;
  // A robot that exists but never connects: its tasks stay queued.
  await api(Robot, "POST", "/api/auth/robots", { handle: "idle", name: "Idle", capabilities: ["shell"] });
  await subscribe();
}, 180_000);

afterAll(async () => {
  socket?.close();
  await platform?.stop();
});

describe("task status frames with no robot connected", () => {
  it("every @robot mention's socket gets its queued status frame", async () => {
    for (let round = 0; round < 15; round++) {
      const asked = await api(Message, "POST", `/api/chat/chatgroups/${chatgroupId}/messages`, {
        body: `@idle round ${round}`,
      });
      await expect
        .poll(() => statusFrames(asked.id).map((f) => f.type === "task_status" && f.status), {
          message: `queued frame of round ${round}`,
        })
        .toContain("queued");
    }
  });

  it("a socket that subscribes after the mention still gets the task's queued status", async () => {
    // The console's socket (re)connecting while its mention turns into a task: the message
    // comes back by seq, and the status, announced before the subscription, must come too.
    for (let round = 0; round < 3; round++) {
      const asked = await api(Message, "POST", `/api/chat/chatgroups/${chatgroupId}/messages`, {
        body: `@idle late round ${round}`,
      });
      await expect
        .poll(async () => {
          const page = await api(
            z.object({ items: z.array(z.object({ messageId: z.string().nullable() })) }),
            "GET",
            `/api/dispatch/tasks?chatgroupId=${chatgroupId}&status=queued`,
          );
          return page.items.some((task) => task.messageId === asked.id);
        })
        .toBe(true);
      const ticket = await api(RealtimeTicketResponse, "POST", "/api/chat/realtime/tickets");
      const late = new WebSocket(
        `${platform.edgeUrl.replace("http", "ws")}${ticket.url}?ticket=${ticket.ticket}`,
        {
          origin: platform.edgeUrl,
        },
      );
      const seen: RealtimeServerFrame[] = [];
      late.on("message", (data) => seen.push(RealtimeServerFrame.parse(JSON.parse(String(data)))));
      try {
        await new Promise((resolve, reject) => {
          late.once("open", resolve);
          late.once("error", reject);
        });
        late.send(JSON.stringify({ type: "subscribe", chatgroupId, afterSeq: asked.seq - 1 }));
        await expect
          .poll(() => seen.some((f) => f.type === "message" && f.message.id === asked.id))
          .toBe(true);
        await expect
          .poll(() =>
            seen.some((f) => f.type === "task_status" && f.messageId === asked.id && f.status === "queued"),
          )
          .toBe(true);
      } finally {
        late.close();
      }
    }
  });

  it("a cancelled queued task gets its cancelled frame and one notice in the chat", async () => {
    const asked = await api(Message, "POST", `/api/chat/chatgroups/${chatgroupId}/messages`, {
      body: "@idle never mind",
    });
    await expect.poll(() => statusFrames(asked.id).length).toBeGreaterThan(0);
    const [queued] = statusFrames(asked.id);
    const taskId = queued?.type === "task_status" ? queued.taskId : "";
    const task = await fetch(`${platform.edgeUrl}/api/dispatch/tasks/${taskId}`, {
      headers: { authorization: `Bearer ${session.accessToken}` },
    });
    expect(task.status).toBe(200);
    const cancel = await fetch(`${platform.edgeUrl}/api/dispatch/tasks/${taskId}/cancel`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${session.accessToken}`,
        "content-type": "application/json",
        "if-match": task.headers.get("etag") ?? "",
      },
      body: JSON.stringify({ reason: "changed my mind" }),
    });
    expect(cancel.status, await cancel.text()).toBe(200);
    await expect
      .poll(() => statusFrames(asked.id).map((f) => f.type === "task_status" && f.status))
      .toContain("cancelled");
    const notices = () =>
      frames.flatMap((f) => (f.type === "message" && f.message.taskId === taskId ? [f.message] : []));
    await expect.poll(() => notices().length).toBe(1);
    expect(notices()[0]?.body).toContain(`cancelled by @${session.user.handle}`);
    expect(notices()[0]?.body).toContain("changed my mind");
  });
});
