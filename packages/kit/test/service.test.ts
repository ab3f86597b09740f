import { defineRoute, Problem } from "@perseus/contracts";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ConflictError, createServiceApp, registerRoutes } from "../src/index.js";

const routes = {
  createThing: defineRoute({
    method: "POST",
    path: "/things",
    summary: "Create a thing",
    auth: "public",
    body: z.object({ name: z.string().min(1), size: z.number().int().positive() }),
    responses: { 201: z.object({ id: z.string(), name: z.string() }) },
  }),
  boom: defineRoute({
    method: "GET",
    path: "/boom",
    summary: "Fails",
    auth: "public",
    responses: { 200: z.object({}) },
  }),
  conflict: defineRoute({
    method: "GET",
    path: "/conflict",
    summary: "Conflicts",
    auth: "public",
    responses: { 200: z.object({}) },
  }),
  secret: defineRoute({
    method: "GET",
    path: "/secret",
    summary: "Needs a user",
    auth: "user",
    responses: { 200: z.object({}) },
  }),
};

let app: FastifyInstance;
let isRedisUp = true;
beforeAll(async () => {
  app = await createServiceApp({
    name: "probe",
    version: "1.2.3",
    prefix: "/api/probe",
    description: "test service",
    logLevel: "silent",
    checks: [
      { name: "postgres", check: async () => {} },
      {
        name: "redis",
        check: async () => {
          if (!isRedisUp) throw new Error("down");
        },
      },
    ],
  });
  registerRoutes(app, "/api/probe", routes, {
    createThing: async ({ body, reply }) => {
      reply.code(201);
      return { id: "t1", name: body.name };
    },
    boom: async () => {
      throw new Error("secret database detail at /srv/app.js:12");
    },
    conflict: async () => {
      throw new ConflictError("that name is taken");
    },
    secret: async () => ({}),
  });
  await app.ready();
});
afterAll(() => app.close());

const expectProblem = (body: string, status: number, code: string) => {
  const problem = Problem.parse(JSON.parse(body));
  expect(problem).toMatchObject({ status, code });
  expect(problem.requestId).toBeTruthy();
  return problem;
};

describe("service kit", () => {
  it("accepts a valid body and returns the contract's response", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/api/probe/things",
      payload: { name: "a", size: 2 },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ id: "t1", name: "a" });
    expect(res.headers["x-request-id"]).toBeTruthy();
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("malformed JSON is a 400 problem+json", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/api/probe/things",
      headers: { "content-type": "application/json" },
      payload: '{"name": "a",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expectProblem(res.body, 400, "bad_request");
  });

  it("a schema-violating body is a 400 naming the field", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/api/probe/things",
      payload: { name: "a", size: -1 },
    });
    const problem = expectProblem(res.body, 400, "validation_failed");
    expect(problem.errors).toEqual([expect.objectContaining({ location: "body", path: "size" })]);
  });

  it("an unknown route is a 404 problem+json", async () => {
    const res = await app.inject({ method: "GET", url: "/api/probe/nope" });
    expectProblem(res.body, 404, "not_found");
  });

  it("an unexpected error is a 500 with no stack or internal message", async () => {
    const res = await app.inject({ method: "GET", url: "/api/probe/boom" });
    expectProblem(res.body, 500, "internal");
    expect(res.body).not.toMatch(/secret|srv|at \w/);
  });

  it("an AppError keeps its status and message", async () => {
    const res = await app.inject({ method: "GET", url: "/api/probe/conflict" });
    expect(expectProblem(res.body, 409, "conflict").detail).toBe("that name is taken");
  });

  it("a route that needs authentication refuses to run without an authenticator", async () => {
    const res = await app.inject({ method: "GET", url: "/api/probe/secret" });
    expect(res.statusCode).toBe(500);
  });

  it("echoes a sane caller request id and replaces an insane one", async () => {
    const good = await app.inject({ method: "GET", url: "/healthz", headers: { "x-request-id": "abc-123" } });
    expect(good.headers["x-request-id"]).toBe("abc-123");
    const bad = await app.inject({
      method: "GET",
      url: "/healthz",
      headers: { "x-request-id": "a b<script>" },
    });
    expect(bad.headers["x-request-id"]).not.toBe("a b<script>");
  });

  it("readiness reflects dependencies; liveness does not", async () => {
    expect((await app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
    isRedisUp = false;
    const down = await app.inject({ method: "GET", url: "/readyz" });
    expect(down.statusCode).toBe(503);
    expect(down.json().checks.redis).toMatch(/failing/);
    expect((await app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    isRedisUp = true;
  });

  it("exposes Prometheus metrics and an OpenAPI document generated from the contracts", async () => {
    const metrics = await app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toContain("perseus_http_request_duration_seconds_bucket");
    const doc = (await app.inject({ method: "GET", url: "/api/probe/openapi.json" })).json();
    expect(
      doc.paths["/api/probe/things"].post.requestBody.content["application/json"].schema.required,
    ).toEqual(["name", "size"]);
  });
});
