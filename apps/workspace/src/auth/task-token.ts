import { createHash } from "node:crypto";
import { access, type Db, type DbOrTx, withTenant } from "@perseus/db";
import { type Actor, parseTaskToken, UnauthenticatedError } from "@perseus/kit";

export const sha256hex = (value: string) => createHash("sha256").update(value).digest("hex");

// The token hash of each task actor, so a mutation can re-check the lease in its own transaction.
const leaseTokens = new WeakMap<Actor, { taskId: string; tokenHash: string }>();

/**
 * Resolves a task token (`ptt_…`) to a robot actor bound to the task's live lease (by the
 * database clock). Such an actor reaches only the view of the task's chatgroup.
 */
export function createTaskTokenResolver(db: Db) {
  return async (token: string): Promise<Actor> => {
    const parsed = parseTaskToken(token);
    if (!parsed) throw new UnauthenticatedError("malformed task token");
    const tokenHash = sha256hex(token);
    const lease = await withTenant(db, { tenantId: parsed.tenantId }, (tx) =>
      access.findLiveTaskLease(tx, parsed.taskId, tokenHash),
    );
    if (!lease) throw new UnauthenticatedError("the task token's lease is not live");
    const actor: Actor = {
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
    leaseTokens.set(actor, { taskId: lease.taskId, tokenHash });
    return actor;
  };
}

/** For a task actor, fails unless its lease is still live inside this transaction (fencing at commit). */
export async function assertLeaseLive(tx: DbOrTx, actor: Actor): Promise<void> {
  if (actor.type !== "robot" || !actor.task) return;
  const token = leaseTokens.get(actor);
  const lease = token ? await access.findLiveTaskLease(tx, token.taskId, token.tokenHash) : null;
  if (!lease || lease.epoch !== actor.task.epoch)
    throw new UnauthenticatedError("the task's lease has ended");
}
