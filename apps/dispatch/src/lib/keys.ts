/**
 * Redis names the dispatch service uses besides the bus's streams and queues. Keys of one
 * tenant share a `{t:<tenantId>}` hash tag, so they stay in one cluster slot.
 */
export function dispatchKeys(prefix: string) {
  return {
    /** Pub/sub: wake the replica holding a robot's connection (`WakeMessage` JSON). */
    wakeChannel: `${prefix}:dispatch:wake`,
    /** Pub/sub: presence changes for realtime hubs (`RobotPresenceEvent` JSON). */
    presenceChannel: `${prefix}:dispatch:presence`,
    /** Hash of the tenant's live robot connections: field `<robotId>|<connectionId>` → JSON. */
    presence: (tenantId: string) => `${prefix}:dispatch:{t:${tenantId}}:presence`,
    /** String: the trace context a task was created in (`TraceContext` JSON, with a TTL). */
    taskTrace: (tenantId: string, taskId: string) => `${prefix}:dispatch:{t:${tenantId}}:trace:${taskId}`,
    /** Stream of a terminal's output and end (capped: it is the session's ring buffer). */
    terminalOut: (tenantId: string, sessionId: string) =>
      `${prefix}:dispatch:{t:${tenantId}}:term:${sessionId}:out`,
    /** Stream of a terminal's input, resizes and close, read by the replica holding the robot. */
    terminalIn: (tenantId: string, sessionId: string) =>
      `${prefix}:dispatch:{t:${tenantId}}:term:${sessionId}:in`,
    /** Stream of a recorded terminal's output (capped at the transcript size). */
    terminalRecord: (tenantId: string, sessionId: string) =>
      `${prefix}:dispatch:{t:${tenantId}}:term:${sessionId}:rec`,
    /** A single-use attach ticket (by its hash). */
    terminalTicket: (hash: string) => `${prefix}:dispatch:term-ticket:${hash}`,
  };
}
export type DispatchKeys = ReturnType<typeof dispatchKeys>;
