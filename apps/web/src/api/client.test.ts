import type { AddressInfo } from "node:net";
import { defineRoute, Id } from "@perseus/contracts";
import { AppError, createServiceApp, registerRoutes } from "@perseus/kit";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createApiClient } from "./client.js";
import { ApiError, ContractError, describeError, isRetryable } from "./errors.js";

// A small contract served by a real service app (the kit's validation and problem+json handler).
const Widget = z.object({ id: Id, name: z.string().min(1), size: z.number().int() });
const routes = {
  getWidget: defineRoute({
    method: "GET",
    path: "/widgets/:id",
    summary: "one widget",
    auth: "public",
    params: z.object({ id: Id }),
    query: z.object({ verbose: z.enum(["true", "false"]).optional() }),
    responses: { 200: Widget },
  }),
  createWidget: defineRoute({
    method: "POST",
    path: "/widgets",
    summary: "create",
    auth: "public",
    body: z.object({ name: z.string().min(3), size: z.number().int().min(1) }),
    responses: { 201: Widget },
  }),
  deleteWidget: defineRoute({
    method: "DELETE",
    path: "/widgets/:id",
    summary: "delete",
    auth: "public",
    params: z.object({ id: Id }),
    responses: { 204: z.null() },
  }),
};
const KNOWN = "0190c6a4-5d2e-7b4a-9c3f-2e8d1a6b7c90";
const BROKEN = "0190c6a4-5d2e-7b4a-9c3f-2e8d1a6b7c91";

describe("API client against a real service", () => {
  let app: FastifyInstance;
  let baseUrl: string;
  let lastAuthorization: string | undefined;

  beforeAll(async () => {
    app = await createServiceApp({
      name: "widgets",
      version: "1.0.0",
      prefix: "/api/widgets",
      description: "test",
      logLevel: "silent",
      checks: [],
    });
    app.addHook("onRequest", async (request, reply) => {
      lastAuthorization = request.headers.authorization;
      // A stale token is refused the way the services refuse an expired one.
      if (request.headers.authorization === "Bearer stale")
        return reply.code(401).type("application/problem+json").send({
          type: "about:blank",
          title: "unauthenticated",
          status: 401,
          code: "unauthenticated",
          detail: "token expired",
        });
    });
    // A handler that breaks its own contract, to check that the client notices.
    app.get("/api/widgets/broken", async () => ({ id: "not-a-uuid" }));
    registerRoutes(app, "/api/widgets", routes, {
      getWidget: async ({ params, query }) => {
        if (params.id !== KNOWN) throw new AppError("not_found", "widget not found");
        return { id: params.id, name: query.verbose === "true" ? "verbose widget" : "widget", size: 3 };
      },
      createWidget: async ({ body, reply }) => {
        reply.code(201);
        return { id: KNOWN, name: body.name, size: body.size };
      },
      deleteWidget: async ({ reply }) => {
        reply.code(204);
        return null;
      },
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
  });

  const client = () => createApiClient({ baseUrl, getAccessToken: () => "tok-123" });

  it("builds the request from the contract and parses the answer with it", async () => {
    const widget = await client().call("/api/widgets", routes.getWidget, {
      params: { id: KNOWN },
      query: { verbose: "true" },
    });
    expect(widget).toEqual({ id: KNOWN, name: "verbose widget", size: 3 });
    expect(lastAuthorization).toBe("Bearer tok-123");

    const created = await client().call("/api/widgets", routes.createWidget, {
      body: { name: "gear", size: 2 },
    });
    expect(created.name).toBe("gear");
    expect(await client().call("/api/widgets", routes.deleteWidget, { params: { id: KNOWN } })).toBeNull();
  });

  it("turns problem+json answers into typed errors", async () => {
    const missing = await client()
      .call("/api/widgets", routes.getWidget, { params: { id: BROKEN } })
      .catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(ApiError);
    expect(missing).toMatchObject({ code: "not_found", status: 404, message: "widget not found" });
    expect((missing as ApiError).requestId).toMatch(/.+/);
    expect(isRetryable(missing)).toBe(false);

    const invalid = (await client()
      .call("/api/widgets", routes.createWidget, { body: { name: "x", size: 0 } })
      .catch((error: unknown) => error as ApiError)) as ApiError;
    expect(invalid).toMatchObject({ code: "validation_failed", status: 400 });
    expect(invalid.fieldError("name")).toBeTruthy();
    expect(invalid.fieldError("size")).toBeTruthy();
  });

  it("after a 401, retries once with the newer token the session offers, and never loops", async () => {
    let token = "stale";
    const used: Array<string | null> = [];
    const refreshing = createApiClient({
      baseUrl,
      getAccessToken: () => token,
      onUnauthorized: async (usedToken) => {
        used.push(usedToken);
        token = "fresh";
        return true;
      },
    });
    const widget = await refreshing.call("/api/widgets", routes.getWidget, { params: { id: KNOWN } });
    expect(widget.name).toBe("widget");
    expect(used).toEqual(["stale"]);
    expect(lastAuthorization).toBe("Bearer fresh");

    // The session has nothing newer: the 401 surfaces after a single retry.
    let asked = 0;
    const hopeless = createApiClient({
      baseUrl,
      getAccessToken: () => "stale",
      onUnauthorized: async () => {
        asked += 1;
        return true;
      },
    });
    const error = await hopeless
      .call("/api/widgets", routes.getWidget, { params: { id: KNOWN } })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "unauthenticated", status: 401 });
    expect(asked).toBe(1);
  });

  it("reports answers that break the contract, and unreachable servers, distinctly", async () => {
    const broken = await client()
      .get("/api/widgets/broken", Widget)
      .catch((error: unknown) => error);
    expect(broken).toBeInstanceOf(ContractError);
    expect(describeError(broken)).toMatch(/does not understand/);

    const offline = createApiClient({ baseUrl: "http://127.0.0.1:9" });
    const error = await offline.get("/api/widgets/x", Widget).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "unavailable", status: 0 });
    expect(isRetryable(error)).toBe(true);
  });
});
