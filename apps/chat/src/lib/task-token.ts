import { createHash } from "node:crypto";
import { access, type Db, withTenant } from "@perseus/db";
import { type Actor, parseTaskToken, UnauthenticatedError } from "@perseus/kit";

/**
 * Resolves a task token (`ptt_…`) to a robot actor bound to that task, if its lease is
 * live by the database clock and the token is the current lease's (stored as sha256).
 * The token dies with the lease, so no revocation list is needed.
 */
export function createTaskTokenResolver(db: Db) {
  return async (token: string): Promise<Actor> => {
    const parsed = parseTaskToken(token);
    if (!parsed) throw new UnauthenticatedError("malformed task token");
    const tokenHash = createHash("sha256").update(token).digest("hex");
    const lease = await withTenant(db, { tenantId: parsed.tenantId }, (tx) =>
      access.findLiveTaskLease(tx, parsed.taskId, tokenHash),
    );
    if (!lease)
      throw new UnauthenticatedError("task token is not valid (lease expired, released or replaced)");
    return {
      type: "robot",
      robotId: lease.robotId,
      tenantId: parsed.tenantId,
      handle: lease.handle,
      task: {
        taskId: lease.taskId,
        epoch: lease.epoch,
        chatgroupId: lease.chatgroupId,
        teamId: lease.teamId,
      },
    };
  };
}
