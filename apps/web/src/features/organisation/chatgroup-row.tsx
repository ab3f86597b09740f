import { authRoutes, type Chatgroup } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ConfirmButton } from "../../components/confirm-button.js";
import { ErrorMessage } from "../../components/error-message.js";
import { RenameForm } from "../../components/rename-form.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { ScopedMembers } from "./scoped-members.js";
import { chatgroupsKey } from "./teams-page.js";

/** One chatgroup: visibility, rename, archive and (private ones) explicit members. */
export function ChatgroupRow({ chatgroup }: { chatgroup: Chatgroup }) {
  const { role } = useSession();
  const manage = can(role, "chatgroups.write") && !chatgroup.archived;
  const [showMembers, setShowMembers] = useState(false);
  const membersKey = ["auth", "chatgroup-members", chatgroup.id];
  const params = { id: chatgroup.id };
  const members = useQuery({
    queryKey: membersKey,
    queryFn: ({ signal }) => api.call("/api/auth", authRoutes.listChatgroupMembers, { params, signal }),
    enabled: showMembers,
  });
  const rename = useAction(
    (name: string) => api.call("/api/auth", authRoutes.updateChatgroup, { params, body: { name } }),
    [chatgroupsKey],
  );
  const archive = useAction(
    () => api.call("/api/auth", authRoutes.archiveChatgroup, { params }),
    [chatgroupsKey],
  );
  const add = useAction(
    (userId: string) =>
      api.call("/api/auth", authRoutes.addChatgroupMember, { params: { ...params, userId } }),
    [membersKey],
  );
  const remove = useAction(
    (userId: string) =>
      api.call("/api/auth", authRoutes.removeChatgroupMember, { params: { ...params, userId } }),
    [membersKey],
  );
  const subject = `chatgroup ${chatgroup.name}`;

  return (
    <li className="row">
      <div className="row-main">
        <span className="row-title"># {chatgroup.name}</span>
        <span className={`badge ${chatgroup.visibility === "private" ? "badge-private" : "badge-neutral"}`}>
          {chatgroup.visibility === "private" ? "Private" : "Team-wide"}
        </span>
        {chatgroup.archived ? <span className="badge badge-unknown">Archived</span> : null}
        {manage ? (
          <span className="actions">
            <RenameForm
              subject={subject}
              current={chatgroup.name}
              onRename={(name) => rename.mutateAsync(name)}
            />
            <ConfirmButton
              label="Archive"
              subject={subject}
              pending={archive.isPending}
              onConfirm={() => archive.mutate()}
            />
          </span>
        ) : null}
      </div>
      <ErrorMessage error={archive.error} />
      {chatgroup.visibility === "private" ? (
        <details className="disclosure" onToggle={(event) => setShowMembers(event.currentTarget.open)}>
          <summary>Members of {chatgroup.name}</summary>
          {showMembers ? (
            <ScopedMembers
              subject={subject}
              members={members}
              canManage={manage}
              onAdd={(userId) => add.mutateAsync(userId)}
              onRemove={(userId) => remove.mutateAsync(userId)}
            />
          ) : null}
        </details>
      ) : null}
    </li>
  );
}
