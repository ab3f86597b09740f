// @vitest-environment happy-dom
import { type ProblemCode, problemType } from "@perseus/contracts";
import { describe, expect, it } from "vitest";
import { ApiError, networkError } from "../../api/errors.js";
import { can } from "../../session/permissions.js";
import { canOpenTerminal } from "./terminal-actions.js";
import { describeEnding, describeOpenError, isFinalTicketError } from "./terminal-api.js";

const problem = (code: ProblemCode, status: number, detail: string) =>
  new ApiError({ type: problemType(code), title: code, status, code, detail });

describe("terminal messages and gating", () => {
  it("says why a robot refused a terminal, and what to do", () => {
    expect(describeOpenError(problem("robot_offline", 409, "the robot is not connected"), "jane")).toMatch(
      /@jane is offline\. Start its nanobot/,
    );
    expect(
      describeOpenError(
        problem("terminal_unsupported", 409, "the nanobot connected for this robot does not offer terminals"),
        "jane",
      ),
    ).toBe(
      "Terminals are not available on @jane: the nanobot connected for this robot does not offer terminals.",
    );
    expect(describeOpenError(problem("forbidden", 403, "no"), "jane")).toMatch(/owners and admins/);
  });

  it("tells how a session ended", () => {
    expect(describeEnding({ exitCode: 3, closeReason: "exit" })).toBe("The shell exited with code 3.");
    expect(describeEnding({ exitCode: null, closeReason: "robot_disconnected" })).toBe(
      "The robot disconnected.",
    );
    expect(describeEnding({ exitCode: null, closeReason: "something_new" })).toBe(
      "The session ended (something new).",
    );
  });

  it("attaches again after outages but not once the session is gone", () => {
    expect(isFinalTicketError(networkError(new Error("offline")))).toBe(false);
    expect(isFinalTicketError(problem("unavailable", 503, "later"))).toBe(false);
    expect(isFinalTicketError(problem("not_found", 404, "terminal"))).toBe(true);
    expect(isFinalTicketError(problem("conflict", 409, "closed"))).toBe(true);
  });

  it("offers terminals to owners and admins, on robots with the capability only", () => {
    const robot: Parameters<typeof canOpenTerminal>[1] = {
      capabilities: ["shell", "terminal"],
      revokedAt: null,
    };
    expect(canOpenTerminal("owner", robot)).toBe(true);
    expect(canOpenTerminal("admin", robot)).toBe(true);
    expect(canOpenTerminal("user", robot)).toBe(false);
    expect(canOpenTerminal("owner", undefined)).toBe(false);
    expect(canOpenTerminal("owner", { capabilities: ["shell"], revokedAt: null })).toBe(false);
    expect(canOpenTerminal("owner", { capabilities: ["terminal"], revokedAt: "2026-01-01T00:00:00Z" })).toBe(
      false,
    );
    expect(can("user", "terminals.open")).toBe(false);
  });
});
