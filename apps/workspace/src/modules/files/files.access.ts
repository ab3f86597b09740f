import type { WorkspaceLayer } from "@perseus/contracts";
import { access, type DbOrTx, schema } from "@perseus/db";
import { type Actor, ForbiddenError, NotFoundError } from "@perseus/kit";
import { and, eq } from "drizzle-orm";

export type LayerRef = { layer: WorkspaceLayer; layerId: string };

/** A view the caller may read: its layers nearest first, and whether it may write the first one. */
export type ViewAccess = { chain: LayerRef[]; canWrite: boolean; whyNot: string };

const notFound = () => new NotFoundError("layer");

/**
 * Who may see and change which layer, from our own records (never from token claims):
 * - tenant layer: every member reads; owners and admins write
 * - team layer: the team's members read and write
 * - chatgroup layer: whoever may read the chatgroup reads and writes (not when archived);
 *   a robot only through a live task token, only its task's chatgroup
 * Anything the caller may not read answers 404, so ids of others leak nothing.
 */
export async function resolveView(tx: DbOrTx, actor: Actor, ref: LayerRef): Promise<ViewAccess> {
  if (actor.type === "api_key") throw new ForbiddenError("API keys have no access to the workspace");
  if (actor.type === "robot") {
    const task = actor.task;
    if (!task)
      throw new ForbiddenError("robots reach the workspace only with the task token of a live lease");
    if (ref.layer !== "chatgroup" || !task.chatgroupId || !task.teamId || ref.layerId !== task.chatgroupId)
      throw notFound();
    return {
      chain: [ref, { layer: "team", layerId: task.teamId }, { layer: "tenant", layerId: actor.tenantId }],
      canWrite: true,
      whyNot: "",
    };
  }
  const tenantRef: LayerRef = { layer: "tenant", layerId: actor.tenantId };
  // Team and chatgroup memberships are deleted with the tenant membership (FK cascade), so only
  // the tenant layer needs the membership row itself.
  switch (ref.layer) {
    case "tenant": {
      if (ref.layerId !== actor.tenantId) throw notFound();
      const role = await access.getTenantRole(tx, actor.userId);
      if (!role) throw notFound();
      const canWrite = role === "owner" || role === "admin";
      return { chain: [tenantRef], canWrite, whyNot: "only owners and admins may change the tenant layer" };
    }
    case "team": {
      const [member] = await tx
        .select({ teamId: schema.teamMembers.teamId })
        .from(schema.teamMembers)
        .where(and(eq(schema.teamMembers.teamId, ref.layerId), eq(schema.teamMembers.userId, actor.userId)));
      if (!member) throw notFound();
      return { chain: [ref, tenantRef], canWrite: true, whyNot: "" };
    }
    case "chatgroup": {
      const chatgroup = await access.findReadableChatgroup(tx, actor.userId, ref.layerId);
      if (!chatgroup) throw notFound();
      return {
        chain: [ref, { layer: "team", layerId: chatgroup.teamId }, tenantRef],
        canWrite: !chatgroup.isArchived,
        whyNot: "the chatgroup is archived",
      };
    }
  }
}

/** The view, or a 403 when the caller may read but not change its own layer. */
export async function resolveWritableView(tx: DbOrTx, actor: Actor, ref: LayerRef): Promise<ViewAccess> {
  const view = await resolveView(tx, actor, ref);
  if (!view.canWrite) throw new ForbiddenError(view.whyNot);
  return view;
}
