import { describe, expect, it } from "vitest";
import { createBackoff } from "../src/client/backoff.js";
import { fitFrame } from "../src/client/channel.js";
import { parseCredential } from "../src/client/credential.js";
import { platformUrl } from "../src/client/transport.js";

describe("client pieces", () => {
  it("backs off exponentially with full jitter, capped, and resets", () => {
    const top = createBackoff({ baseMs: 100, maxMs: 1_000, random: () => 1 });
    expect(Array.from({ length: 6 }, () => top.next())).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    top.reset();
    expect(top.next()).toBe(100);
    const bottom = createBackoff({ baseMs: 100, maxMs: 1_000, random: () => 0 });
    expect(bottom.next()).toBe(50); // never a zero-delay hot loop
    const real = createBackoff({ baseMs: 100, maxMs: 1_000 });
    const delays = Array.from({ length: 50 }, () => real.next());
    expect(new Set(delays).size).toBeGreaterThan(10); // jittered, not lock-step
    expect(Math.max(...delays)).toBeLessThanOrEqual(1_000);
  });

  it("shrinks frames to the size limit, keeping the tail of the text", () => {
    const frame = {
      type: "complete" as const,
      id: "r1",
      taskId: "00000000-0000-7000-8000-000000000000",
      epoch: 1,
      idempotencyKey: "complete:abc:1",
      result: { text: `${"a".repeat(5_000)}THE END` },
    };
    const fitted = fitFrame(frame, 2_000);
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(2_000);
    expect(fitted.type === "complete" && fitted.result.text.endsWith("THE END")).toBe(true);
    expect(fitted.type === "complete" && fitted.result.text.startsWith("…")).toBe(true);
    expect(fitFrame(frame, 100_000)).toBe(frame);
  });

  it("recognises credentials and joins platform URLs with a path prefix", () => {
    const tenant = "01a2010e-426e-72f3-ad77-f6f6da79d45d";
    const id = "01a2010e-5bba-7138-bd7b-18ed40774306";
    expect(parseCredential(`prc_${tenant}_${id}_${"x".repeat(43)}`)).toEqual({
      tenantId: tenant,
      credentialId: id,
    });
    expect(parseCredential("prc_nope")).toBeNull();
    expect(platformUrl("https://example.com/perseus/", "/api/dispatch/robot/v1/ws", "ws")).toBe(
      "wss://example.com/perseus/api/dispatch/robot/v1/ws",
    );
    expect(platformUrl("http://127.0.0.1:7700", "/api/auth/robots/token")).toBe(
      "http://127.0.0.1:7700/api/auth/robots/token",
    );
  });
});
