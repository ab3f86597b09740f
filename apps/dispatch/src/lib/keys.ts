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
  };
}
export type DispatchKeys = ReturnType<typeof dispatchKeys>;
