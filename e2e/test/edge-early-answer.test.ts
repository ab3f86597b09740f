import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { Problem, SignupResponse } from "@perseus/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Platform, startPlatform } from "./platform.js";

/**
 * The workspace refuses an upload from its headers (a failed precondition, a declared
 * size over the limit) before reading the body. Through the edge, the browser must get
 * that answer — status and problem+json — not a 502 from a connection reset mid-upload.
 */
let platform: Platform;
let session: SignupResponse;

const MAX_FILE_BYTES = 4 * 1024 * 1024;
const UPLOAD_BYTES = 24 * 1024 * 1024;

/** Streams `totalBytes` and resolves with the answer as soon as it arrives, as a browser does. */
function upload(path: string, headers: Record<string, string>, totalBytes: number) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    const req = request(`${platform.edgeUrl}${path}`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${session.accessToken}`,
        "content-type": "application/octet-stream",
        "content-length": String(totalBytes),
        ...headers,
      },
    });
    let sent = 0;
    let answered = false;
    const pump = () => {
      while (!answered && sent < totalBytes) {
        const size = Math.min(chunk.length, totalBytes - sent);
        sent += size;
        if (!req.write(chunk.subarray(0, size))) {
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
        req.destroy();
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    // Once the answer is in, the rest of the upload may fail: only an earlier error counts.
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    pump();
  });
}

beforeAll(async () => {
  platform = await startPlatform({
    serviceEnv: { workspace: { WORKSPACE_MAX_FILE_BYTES: String(MAX_FILE_BYTES) } },
  });
  const tag = randomBytes(4).toString("hex");
  const response = await fetch(`${platform.edgeUrl}/api/auth/signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      email: `early-${tag}@example.test`,
      password: "correct horse battery staple",
      name: "Early Answer",
      handle: `early${tag}`,
      tenantName: "Early Inc",
    }),
  });
  expect(response.status).toBe(201);
  session = SignupResponse.parse(await response.json());
});

afterAll(async () => {
  await platform?.stop();
});

describe("uploads the workspace refuses early, through the edge", () => {
  const filePath = (name: string) =>
    `/api/workspace/layers/chatgroup/${session.chatgroupId}/files?path=${encodeURIComponent(name)}`;

  it("passes 412 and 413 with their problem+json bodies, every time", async () => {
    for (let round = 0; round < 5; round++) {
      const precondition = await upload(
        filePath(`missing-${round}.bin`),
        { "if-match": '"nope"' },
        UPLOAD_BYTES,
      );
      expect(precondition.status, precondition.body).toBe(412);
      expect(Problem.parse(JSON.parse(precondition.body)).code).toBe("precondition_failed");

      const tooLarge = await upload(filePath(`big-${round}.bin`), { "if-none-match": "*" }, UPLOAD_BYTES);
      expect(tooLarge.status, tooLarge.body).toBe(413);
      expect(Problem.parse(JSON.parse(tooLarge.body)).code).toBe("payload_too_large");
    }
    // Nothing was stored.
    const listing = await fetch(
      `${platform.edgeUrl}/api/workspace/layers/chatgroup/${session.chatgroupId}/tree?recursive=true`,
      {
        headers: { authorization: `Bearer ${session.accessToken}` },
      },
    );
    expect(listing.status).toBe(200);
    expect(((await listing.json()) as { entries: unknown[] }).entries).toEqual([]);
  });
});
