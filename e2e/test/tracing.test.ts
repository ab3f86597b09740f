import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CreateRobotCredentialResponse, Message, Robot, SignupResponse } from "@perseus/contracts";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { edgeApi } from "./edge-api.js";
import { type Platform, startPlatform } from "./platform.js";

/**
 * One `@robot` request, traced across every process it crosses: the platform and the
 * nanobot export OTLP/HTTP (JSON) to a receiver in this test, and the spans of the request
 * must form one trace from the edge's HTTP span to the chat's posting of the reply.
 */
type ReceivedSpan = {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
};

const spans: ReceivedSpan[] = [];
let receiver: Server;
let platform: Platform;
let session: SignupResponse;

type AnyValue = { stringValue?: string };
type OtlpExport = {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: AnyValue }[] };
    scopeSpans?: {
      spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number }[];
    }[];
  }[];
};

/** A minimal OTLP/HTTP trace receiver: accepts `POST /v1/traces` (JSON) and keeps every span. */
async function startReceiver(): Promise<string> {
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        response.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpExport;
      for (const resourceSpans of body.resourceSpans ?? []) {
        const service =
          resourceSpans.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const scope of resourceSpans.scopeSpans ?? [])
          for (const span of scope.spans ?? [])
            spans.push({
              service,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? "",
              name: span.name,
              kind: span.kind,
            });
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}

const api = edgeApi(
  () => platform.edgeUrl,
  () => session?.accessToken,
);

/** The robot's reply to a message, read past RLS by the database owner. */
async function replyTo(messageId: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: platform.db.adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `select m.body from messages m join tasks t on t.tenant_id = m.tenant_id and t.id = m.task_id
       where t.message_id = $1 and m.author_type = 'robot'`,
      [messageId],
    );
    return rows[0]?.body as string | undefined;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  const endpoint = await startReceiver();
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: "200" };
  platform = await startPlatform({ env: { ...otel, LOG_LEVEL: "info" }, nanobotEnv: otel });
  const tag = Math.random().toString(36).slice(2, 8);
  session = await api(SignupResponse, "POST", "/api/auth/signup", {
    email: `owner-${tag}@example.test`,
    password: "correct horse battery staple",
    name: "Olive Owner",
    handle: `olive${tag}`,
    tenantName: "Traced Inc",
  });
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
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

/** The span and its ancestors, nearest first (as far as the received spans reach). */
function ancestry(span: ReceivedSpan, all: readonly ReceivedSpan[]): ReceivedSpan[] {
  const byId = new Map(all.map((s) => [s.spanId, s]));
  const chain = [span];
  for (let next = byId.get(span.parentSpanId); next && chain.length < 100; next = byId.get(next.parentSpanId))
    chain.push(next);
  return chain;
}

describe("one @robot request is one trace", () => {
  it("spans from the edge, chat, dispatch and the nanobot connect the post to the reply", async () => {
    const asked = await api(Message, "POST", `/api/chat/chatgroups/${session.chatgroupId}/messages`, {
      body: "@jane echo hi",
    });
    await expect.poll(() => replyTo(asked.id), { timeout: 90_000 }).toContain("hi");

    // The chat's server span of the post names the trace.
    const isPost = (s: ReceivedSpan) =>
      s.service === "perseus-chat" && s.name === "POST /api/chat/chatgroups/:chatgroupId/messages";
    await expect.poll(() => spans.some(isPost), { timeout: 30_000 }).toBe(true);
    const post = spans.find(isPost);
    const traceId = post!.traceId;
    const inTrace = () => spans.filter((s) => s.traceId === traceId);

    // The reply is posted by chat's consumer of task.succeeded, in the same trace.
    await expect
      .poll(
        () => inTrace().some((s) => s.service === "perseus-chat" && s.name === "process task.succeeded"),
        {
          timeout: 30_000,
        },
      )
      .toBe(true);
    const services = new Set(inTrace().map((s) => s.service));
    expect([...services].sort()).toEqual(
      expect.arrayContaining(["perseus-chat", "perseus-dispatch", "perseus-edge", "perseus-nanobot"]),
    );

    // Parent links lead from the reply back through the robot's run to the edge's HTTP span.
    const reply = inTrace().find((s) => s.service === "perseus-chat" && s.name === "process task.succeeded")!;
    const chain = ancestry(reply, inTrace()).map((s) => `${s.service} ${s.name}`);
    expect(chain).toEqual(
      expect.arrayContaining([
        "perseus-dispatch robot complete",
        "perseus-nanobot task run",
        "perseus-dispatch offer task",
        "perseus-dispatch process message.created",
        "perseus-chat POST /api/chat/chatgroups/:chatgroupId/messages",
      ]),
    );
    const root = chain.at(-1);
    expect(root).toMatch(/^perseus-edge POST \/api\/chat/);
    expect(ancestry(reply, inTrace()).at(-1)?.parentSpanId).toBe("");

    // Log lines of the request carry its trace id (chat's access line of the post).
    const traced = platform.services.chat
      .output()
      .split("\n")
      .filter((line) => line.includes(`"trace_id":"${traceId}"`));
    expect(traced.some((line) => line.includes("request completed"))).toBe(true);
  });
});
