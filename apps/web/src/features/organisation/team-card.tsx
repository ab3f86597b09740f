import { authRoutes, type Chatgroup, type Team } from "@perseus/contracts";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { RenameArchiveActions } from "../../components/rename-archive-actions.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { ChatgroupRow } from "./chatgroup-row.js";
import { CreateChatgroupForm } from "./create-chatgroup-form.js";
import { MembersDisclosure } from "./scoped-members.js";
import { chatgroupsKey, teamsKey } from "./teams-page.js";

type Props = { team: Team; chatgroups: Chatgroup[]; chatgroupsLoading: boolean };

/** One team: rename/archive, its members, its chatgroups. */
export function TeamCard({ team, chatgroups, chatgroupsLoading }: Props) {
  const { role } = useSession();
  const manage = can(role, "teams.write") && !team.archived;
  const rename = useAction(
    (name: string) =>
      api.call("/api/auth", authRoutes.updateTeam, { params: { id: team.id }, body: { name } }),
    [teamsKey],
  );
  const archive = useAction(
    () => api.call("/api/auth", authRoutes.archiveTeam, { params: { id: team.id } }),
    [teamsKey, chatgroupsKey],
  );
  const subject = `team ${team.name}`;

  return (
    <article className="card" aria-labelledby={`team-${team.id}`}>
      <header className="card-header">
        <h2 id={`team-${team.id}`}>
          {team.name} {team.archived ? <span className="badge badge-unknown">Archived</span> : null}
        </h2>
        {manage ? (
          <div className="actions">
            <RenameArchiveActions
              subject={subject}
              current={team.name}
              onRename={(name) => rename.mutateAsync(name)}
              onArchive={() => archive.mutate()}
              isArchiving={archive.isPending}
            />
          </div>
        ) : null}
      </header>
      <ErrorMessage error={archive.error} />
      <MembersDisclosure
        summary="Team members"
        subject={subject}
        canManage={manage}
        queryKey={["auth", "team-members", team.id]}
        list={(signal) =>
          api.call("/api/auth", authRoutes.listTeamMembers, { params: { id: team.id }, signal })
        }
        add={(userId) => api.call("/api/auth", authRoutes.addTeamMember, { params: { id: team.id, userId } })}
        remove={(userId) =>
          api.call("/api/auth", authRoutes.removeTeamMember, { params: { id: team.id, userId } })
        }
      />
      <h3 className="section-title">Chatgroups</h3>
      {chatgroupsLoading ? (
        <p role="status" className="muted">
          Loading chatgroups…
        </p>
      ) : chatgroups.length === 0 ? (
        <p className="muted">No chatgroups in this team.</p>
      ) : (
        <ul className="row-list" aria-label={`Chatgroups of ${subject}`}>
          {chatgroups.map((group) => (
            <ChatgroupRow key={group.id} chatgroup={group} />
          ))}
        </ul>
      )}
      {can(role, "chatgroups.create") && !team.archived ? <CreateChatgroupForm team={team} /> : null}
    </article>
  );
}
