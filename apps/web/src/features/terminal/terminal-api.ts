import { dispatchRoutes, type OpenTerminalBody, type TerminalSession } from "@perseus/contracts";
import { api } from "../../api/api.js";
import { describeError, isApiError, isRetryable } from "../../api/errors.js";

const DISPATCH = "/api/dispatch";

export const terminalKeys = {
  all: ["dispatch", "terminals"] as const,
  ofRobot: (robotId: string) => ["dispatch", "terminals", "robot", robotId] as const,
  one: (id: string) => ["dispatch", "terminals", "one", id] as const,
};

/** A first size for the pty; the panel fits it to the window as soon as it is shown. */
export const INITIAL_SIZE = { cols: 100, rows: 30 } as const;

export function openTerminal(body: OpenTerminalBody): Promise<TerminalSession> {
  return api.call(DISPATCH, dispatchRoutes.openTerminal, { body });
}

export function listTerminals(robotId: string, signal?: AbortSignal) {
  return api.call(DISPATCH, dispatchRoutes.listTerminals, {
    query: { robotId, limit: 20 },
    ...(signal ? { signal } : {}),
  });
}

export function getTerminal(id: string, signal?: AbortSignal): Promise<TerminalSession> {
  return api.call(DISPATCH, dispatchRoutes.getTerminal, { params: { id }, ...(signal ? { signal } : {}) });
}

export function closeTerminal(id: string): Promise<TerminalSession> {
  return api.call(DISPATCH, dispatchRoutes.closeTerminal, { params: { id } });
}

export function createTerminalTicket(id: string, mode: "write" | "read") {
  return api.call(DISPATCH, dispatchRoutes.createTerminalTicket, { params: { id }, body: { mode } });
}

/** Why a terminal could not be opened, said so that the next step is clear. */
export function describeOpenError(error: unknown, handle: string): string {
  switch (isApiError(error) ? error.code : undefined) {
    case "robot_offline":
      return `@${handle} is offline. Start its nanobot (perseus-nanobot connect), then open the terminal again.`;
    case "terminal_unsupported":
      // The server says which: the robot lacks the capability, or its nanobot has terminals off.
      return `Terminals are not available on @${handle}: ${(error as Error).message}.`;
    default:
      if (isApiError(error, "forbidden")) return "Only owners and admins may open terminals on robots.";
      return describeError(error);
  }
}

/** Whether attaching again later may work (the session still exists and the API was only unreachable). */
export function isFinalTicketError(error: unknown): boolean {
  return isApiError(error) && !isRetryable(error) && error.code !== "unauthenticated";
}

/** What people read about a session that ended. */
export function describeEnding(session: Pick<TerminalSession, "exitCode" | "closeReason">): string {
  const reason = session.closeReason;
  const exit = session.exitCode;
  const reasons: Record<string, string> = {
    exit: exit === null || exit === undefined ? "The shell exited." : `The shell exited with code ${exit}.`,
    closed: "The session was closed.",
    idle: "The session was closed after being idle.",
    revoked: "The robot was revoked.",
    robot_disconnected: "The robot disconnected.",
    host_lost: "The connection to the robot was lost.",
    open_failed: "The robot could not start a shell.",
  };
  if (reason && reasons[reason]) return reasons[reason];
  if (exit !== null && exit !== undefined) return `The shell exited with code ${exit}.`;
  return reason ? `The session ended (${reason.replaceAll("_", " ")}).` : "The session ended.";
}
