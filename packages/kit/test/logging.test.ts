import { Writable } from "node:stream";
import { defineRoute } from "@perseus/contracts";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createServiceApp, loggerOptions, redactSecrets, registerRoutes } from "../src/index.js";

type Line = Record<string, unknown> & { msg?: string };

let lines: Line[] = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    for (const text of chunk.toString().split("\n")) if (text) lines.push(JSON.parse(text) as Line);
    callback();
  },
});
const logger = pino(loggerOptions({ level: "info", service: "probe", instanceId: "probe-1" }), sink);

let app: FastifyInstance;
beforeAll(async () => {
  app = await createServiceApp({
    name: "probe",
    version: "1",
    prefix: "/api/probe",
    description: "logging probe",
    logger,
    checks: [],
  });
  registerRoutes(
    app,
    "/api/probe",
    {
      login: defineRoute({
        method: "POST",
        path: "/login",
        summary: "logs what it is given",
        auth: "public",
        body: z.object({ name: z.string(), password: z.string() }),
        responses: { 200: z.object({ ok: z.boolean() }) },
      }),
      fail: defineRoute({
        method: "GET",
        path: "/fail",
        summary: "fails",
        auth: "public",
        responses: { 200: z.object({}) },
      }),
    },
    {
      login: async ({ body, request }) => {
        request.log.info({ body, headers: { authorization: "Bearer abc", accept: "*/*" } }, "login seen");
        return { ok: true };
      },
      fail: async () => {
        throw Object.assign(new Error("database said no"), { secret: "s3cr3t" });
      },
    },
  );
  await app.ready();
});
afterAll(() => app.close());
beforeEach(() => {
  lines = [];
});

describe("service logging", () => {
  it("writes one access line per request, with path, status and duration but no query", async () => {
    const res = await app.inject({
      method: "GET",
      url: "/healthz?token=abc",
      headers: { "x-request-id": "r-1" },
    });
    expect(res.statusCode).toBe(200);
    const access = lines.filter((line) => line.reqId === "r-1");
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({
      msg: "request completed",
      service: "probe",
      instance: expect.stringMatching(/^probe-/),
      req: { method: "GET", url: "/healthz", id: "r-1" },
      res: { statusCode: 200 },
    });
    expect(access[0]!.responseTime).toEqual(expect.any(Number));
    expect(JSON.stringify(access)).not.toContain("abc");
  });

  it("censors secret fields and secret headers one level down", async () => {
    await app.inject({
      method: "POST",
      url: "/api/probe/login",
      payload: { name: "ann", password: "hunter2" },
    });
    const seen = lines.find((line) => line.msg === "login seen");
    expect(seen).toMatchObject({
      body: { name: "ann", password: "[redacted]" },
      headers: { authorization: "[redacted]", accept: "*/*" },
    });
  });

  it("censors secrets carried by a logged error and keeps its message and stack", async () => {
    const res = await app.inject({ method: "GET", url: "/api/probe/fail" });
    expect(res.statusCode).toBe(500);
    const failed = lines.find((line) => line.msg === "request failed") as { err: Record<string, string> };
    expect(failed.err).toMatchObject({ message: "database said no", secret: "[redacted]" });
    expect(failed.err.stack).toContain("database said no");
  });

  it("returns clean values untouched and never mutates the logged object", () => {
    const clean = { a: 1, nested: { b: 2 } };
    expect(redactSecrets(clean)).toBe(clean);
    const dirty = { token: "t", keep: 1 };
    expect(redactSecrets(dirty)).toEqual({ token: "[redacted]", keep: 1 });
    expect(dirty.token).toBe("t");
  });

  it("puts the security headers and the request id on error responses too", async () => {
    const res = await app.inject({
      method: "GET",
      url: "/api/probe/fail",
      headers: { "x-request-id": "e-1" },
    });
    expect(res.headers["x-request-id"]).toBe("e-1");
    expect(res.headers["content-security-policy"]).toBe("default-src 'none';frame-ancestors 'none'");
    expect(res.headers["x-frame-options"]).toBe("DENY");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["strict-transport-security"]).toContain("max-age=");
    // Headers that only matter for HTML documents are not spent on JSON.
    expect(res.headers["x-xss-protection"]).toBeUndefined();
    expect(res.headers["origin-agent-cluster"]).toBeUndefined();
  });

  it("gives the OpenAPI viewer a document policy that lets its own scripts run", async () => {
    const res = await app.inject({ method: "GET", url: "/api/probe/docs/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/html");
    const csp = res.headers["content-security-policy"];
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("default-src 'none'");
  });
});
