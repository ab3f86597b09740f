import { eventCatalog } from "@perseus/contracts";
import { v7 as uuidv7 } from "uuid";
import { describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { createEvent, createKeyspace, parseEventJson } from "../src/index.js";

const tenantId = uuidv7();
const payload = {
  userId: uuidv7(),
  scope: "team" as const,
  scopeId: uuidv7(),
  role: "admin",
};

describe("createEvent", () => {
  it("builds a valid envelope with a v7 id, the catalog version and the current time", () => {
    const before = Date.now();
    const event = createEvent("membership.changed", tenantId, payload, { traceparent: "00-abc-def-01" });
    expect(event).toMatchObject({
      type: "membership.changed",
      version: eventCatalog["membership.changed"].version,
      tenantId,
      payload,
      trace: { traceparent: "00-abc-def-01" },
    });
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Date.parse(event.occurredAt)).toBeGreaterThanOrEqual(before - 1);
    expect(createEvent("membership.changed", tenantId, payload).id).not.toBe(event.id);
  });

  it("rejects a payload that does not match the catalog, at compile time and at run time", () => {
    // @ts-expect-error: `scope` must be tenant | team | chatgroup
    expect(() => createEvent("membership.changed", tenantId, { ...payload, scope: "planet" })).toThrow(
      ZodError,
    );
    // @ts-expect-error: unknown event type
    expect(() => createEvent("no.such.event", tenantId, payload)).toThrow(/unknown event type/);
    expect(() => createEvent("membership.changed", "not-a-uuid", payload)).toThrow(ZodError);
  });
});

describe("parseEventJson", () => {
  it("round-trips an event and tells unknown types from invalid entries", () => {
    const event = createEvent("membership.changed", tenantId, payload);
    expect(parseEventJson(JSON.stringify(event))).toEqual({ kind: "event", event });
    expect(parseEventJson(JSON.stringify({ ...event, type: "future.event" })).kind).toBe("unknown");
    expect(parseEventJson("{nope")).toMatchObject({
      kind: "invalid",
      error: expect.stringMatching(/invalid JSON/),
    });
    expect(parseEventJson(JSON.stringify({ ...event, payload: { userId: 1 } }))).toMatchObject({
      kind: "invalid",
      error: expect.stringMatching(/invalid membership.changed payload/),
    });
    expect(parseEventJson(undefined).kind).toBe("invalid");
  });
});

describe("createKeyspace", () => {
  it("names streams with a hash tag per topic under the prefix", () => {
    const keys = createKeyspace("perseus");
    expect(keys.stream("chat")).toBe("perseus:events:{chat}");
    expect(keys.deadLetters("chat")).toBe("perseus:events:{chat}:dlq");
    expect(keys.queue("task.dispatch")).toEqual({ prefix: "perseus:jobs", name: "{task.dispatch}" });
  });

  it("refuses names that would break the hash tag", () => {
    expect(() => createKeyspace("a{b}")).toThrow(TypeError);
    expect(() => createKeyspace("")).toThrow(TypeError);
    expect(() => createKeyspace("p").stream("ch}at")).toThrow(TypeError);
    expect(() => createKeyspace("p").queue("a:b")).toThrow(TypeError);
  });
});
