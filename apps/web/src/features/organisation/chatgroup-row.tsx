import { authRoutes, type Chatgroup } from "@perseus/contracts";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { RenameArchiveActions } from "../../components/rename-archive-actions.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { MembersDisclosure } from "./scoped-members.js";
import { chatgroupsKey } from "./teams-page.js";

/** One chatgroup: visibility, rename, archive and (private ones) explicit members. */
export function ChatgroupRow({ chatgroup }: { chatgroup: Chatgroup }) {
  const { role } = useSession();
  const manage = can(role, "chatgroups.write") && !chatgroup.archived;
  const params = { id: chatgroup.id };
  const rename = useAction(
    (name: string) => api.call("/api/auth", authRoutes.updateChatgroup, { params, body: { name } }),
    [chatgroupsKey],
  );
  const archive = useAction(
    () => api.call("/api/auth", authRoutes.archiveChatgroup, { params }),
    [chatgroupsKey],
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
            <RenameArchiveActions
              subject={subject}
              current={chatgroup.name}
              onRename={(name) => rename.mutateAsync(name)}
              onArchive={() => archive.mutate()}
              isArchiving={archive.isPending}
            />
          </span>
        ) : null}
      </div>
      <ErrorMessage error={archive.error} />
      {chatgroup.visibility === "private" ? (
        <MembersDisclosure
          summary={`Members of ${chatgroup.name}`}
          subject={subject}
          canManage={manage}
          queryKey={["auth", "chatgroup-members", chatgroup.id]}
          list={(signal) => api.call("/api/auth", authRoutes.listChatgroupMembers, { params, signal })}
          add={(userId) =>
            api.call("/api/auth", authRoutes.addChatgroupMember, { params: { ...params, userId } })
          }
          remove={(userId) =>
            api.call("/api/auth", authRoutes.removeChatgroupMember, { params: { ...params, userId } })
          }
        />
      ) : null}
    </li>
  );
}
