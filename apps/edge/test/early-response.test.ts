import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { Problem } from "@perseus/contracts";
import { createServiceApp, lingerAfterEarlyAnswer, sendProblem } from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Edge, startEdge } from "./helper.js";

/**
 * An upstream that refuses uploads from their headers alone, the way the workspace does:
 * it answers at once, never reads the body, and closes the connection.
 */
async function startRefusingUpstream(): Promise<{ app: FastifyInstance; url: string; early: () => number }> {
  const app = await createServiceApp({
    name: "workspace",
    version: "9.9.9",
    prefix: "/api/workspace",
    description: "an upstream that answers uploads early",
    instanceId: "refusing",
    logLevel: "silent",
    checks: [],
  });
  let early = 0;
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
    scope.addHook("onSend", async (request, reply) => {
      lingerAfterEarlyAnswer(request, reply);
    });
    scope.put("/api/workspace/upload/:status", async (req, reply) => {
      if (!req.raw.complete) early++;
      const status = Number((req.params as { status: string }).status) as 412 | 413;
      return sendProblem(reply, {
        type: "about:blank",
        title: status === 412 ? "Precondition failed" : "Payload too large",
        status,
        code: status === 412 ? "precondition_failed" : "payload_too_large",
        detail: `refused before reading the body (${status})`,
        requestId: req.id,
      });
    });
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, early: () => early };
}

/**
 * Streams `totalBytes` to `url` and resolves with the answer as soon as it arrives, like a
 * browser does; the upload itself may then fail (the server closed the connection).
 */
function uploadUntilAnswered(url: string, totalBytes: number) {
  return new Promise<{ status: number; contentType: string; body: string }>((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const req = request(url, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream", "content-length": String(totalBytes) },
    });
    let sent = 0;
    let answered = false;
    const pump = () => {
      while (!answered && sent < totalBytes) {
        const size = Math.min(chunk.length, totalBytes - sent);
        sent += size;
        if (!req.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          req.once("drain", pump);
          return;
        }
      }
      if (sent >= totalBytes) req.end();
    };
    req.on("response", (response) => {
      answered = true;
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (text: string) => {
        body += text;
      });
      response.on("end", () => {
        // A browser stops uploading once it has the answer.
        req.destroy();
        resolve({
          status: response.statusCode ?? 0,
          contentType: String(response.headers["content-type"] ?? ""),
          body,
        });
      });
      response.on("error", reject);
    });
    // Writing after the answer may fail with EPIPE/ECONNRESET: only an error before it counts.
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    pump();
  });
}

describe("edge with an upstream that answers before the request body is sent", () => {
  let upstream: Awaited<ReturnType<typeof startRefusingUpstream>>;
  let edge: Edge;

  beforeAll(async () => {
    upstream = await startRefusingUpstream();
    edge = await startEdge({
      EDGE_UPSTREAM_AUTH: upstream.url,
      EDGE_UPSTREAM_CHAT: upstream.url,
      EDGE_UPSTREAM_DISPATCH: upstream.url,
      EDGE_UPSTREAM_WORKSPACE: upstream.url,
    });
  });

  afterAll(async () => {
    await edge?.close();
    await upstream?.app.close();
  });

  it.each([412, 413])(
    "passes the upstream's %i and its problem+json body to the client",
    async (status) => {
      // Large enough that the upstream answers long before the edge has sent it all.
      const before = upstream.early();
      for (let round = 0; round < 10; round++) {
        const answer = await uploadUntilAnswered(
          `${edge.url}/api/workspace/upload/${status}`,
          32 * 1024 * 1024,
        );
        expect(answer.status, answer.body).toBe(status);
        expect(answer.contentType).toContain("application/problem+json");
        const problem = Problem.parse(JSON.parse(answer.body));
        expect(problem.status).toBe(status);
        expect(problem.detail).toBe(`refused before reading the body (${status})`);
      }
      // Every answer really came before the body was all there.
      expect(upstream.early() - before).toBe(10);
    },
    60_000,
  );
});
