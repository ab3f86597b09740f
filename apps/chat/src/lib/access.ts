import { access, type DbOrTx, schema } from "@perseus/db";
import { type Actor, NotFoundError } from "@perseus/kit";
import { eq } from "drizzle-orm";

export type ChatgroupAccess = access.ChatgroupAccess;

/**
 * The chatgroup if the actor may read it: a user through team or chatgroup membership,
 * a robot only through a live task lease on that very chatgroup. Anything else reads as
 * "not found", so a caller can never tell "forbidden" from "does not exist".
 */
export async function findAccessibleChatgroup(
  tx: DbOrTx,
  actor: Actor,
  chatgroupId: string,
): Promise<ChatgroupAccess | null> {
  if (actor.type === "user") return access.findReadableChatgroup(tx, actor.userId, chatgroupId);
  if (actor.type !== "robot" || actor.task?.chatgroupId !== chatgroupId) return null;
  const [row] = await tx
    .select({
      chatgroupId: schema.chatgroups.id,
      teamId: schema.chatgroups.teamId,
      name: schema.chatgroups.name,
      archivedAt: schema.chatgroups.archivedAt,
    })
    .from(schema.chatgroups)
    .where(eq(schema.chatgroups.id, chatgroupId));
  if (!row) return null;
  return {
    chatgroupId: row.chatgroupId,
    teamId: row.teamId,
    name: row.name,
    isArchived: row.archivedAt !== null,
  };
}

/** Like findAccessibleChatgroup, but throws 404; `forWriting` also refuses archived chatgroups. */
export async function requireChatgroup(
  tx: DbOrTx,
  actor: Actor,
  chatgroupId: string,
  options: { forWriting?: boolean } = {},
): Promise<ChatgroupAccess> {
  const chatgroup = await findAccessibleChatgroup(tx, actor, chatgroupId);
  if (!chatgroup || (options.forWriting && chatgroup.isArchived)) throw new NotFoundError("chatgroup");
  return chatgroup;
}
