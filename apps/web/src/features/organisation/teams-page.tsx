import { authRoutes, CreateTeamBody } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { TextField } from "../../components/text-field.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { TeamCard } from "./team-card.js";

export const teamsKey = ["auth", "teams"] as const;
export const chatgroupsKey = ["auth", "chatgroups"] as const;

/** Teams and their chatgroups: create, rename, archive, members. */
export function TeamsPage() {
  const { role } = useSession();
  const archivedId = useId();
  const [showArchived, setShowArchived] = useState(false);
  const [name, setName] = useState("");
  const [nameError, setNameError] = useState<string>();
  const includeArchived = showArchived ? "true" : "false";

  const teams = useQuery({
    queryKey: [...teamsKey, includeArchived],
    queryFn: ({ signal }) =>
      api.call("/api/auth", authRoutes.listTeams, { query: { includeArchived }, signal }),
  });
  const chatgroups = useQuery({
    queryKey: [...chatgroupsKey, includeArchived],
    queryFn: ({ signal }) =>
      api.call("/api/auth", authRoutes.listChatgroups, { query: { includeArchived }, signal }),
  });
  const createTeam = useAction(
    (body: CreateTeamBody) => api.call("/api/auth", authRoutes.createTeam, { body }),
    [teamsKey],
    () => setName(""),
  );

  const onCreate = (event: FormEvent) => {
    event.preventDefault();
    const parsed = CreateTeamBody.safeParse({ name });
    if (!parsed.success) return setNameError(parsed.error.issues[0]?.message);
    setNameError(undefined);
    createTeam.mutate(parsed.data);
  };

  return (
    <section className="page" aria-labelledby="teams-title">
      <div className="page-header">
        <h1 id="teams-title">Teams &amp; chatgroups</h1>
        <div className="checkbox">
          <input
            id={archivedId}
            type="checkbox"
            checked={showArchived}
            onChange={(event) => setShowArchived(event.target.checked)}
          />
          <label htmlFor={archivedId}>Show archived</label>
        </div>
      </div>
      {can(role, "teams.write") ? (
        <form className="card form form-row" onSubmit={onCreate} noValidate aria-label="Create a team">
          <TextField
            label="New team name"
            value={name}
            onChange={setName}
            error={nameError}
            maxLength={100}
          />
          <button type="submit" className="button" disabled={createTeam.isPending}>
            Create team
          </button>
          <ErrorMessage error={createTeam.error} />
        </form>
      ) : null}
      <QueryState
        query={teams}
        label="teams"
        isEmpty={(data) => data.items.length === 0}
        empty={<p>No teams yet{can(role, "teams.write") ? ": create the first one above." : "."}</p>}
      >
        {(data) => (
          <div className="stack">
            {data.items.map((team) => (
              <TeamCard
                key={team.id}
                team={team}
                chatgroups={(chatgroups.data?.items ?? []).filter((group) => group.teamId === team.id)}
                chatgroupsLoading={chatgroups.isPending}
              />
            ))}
          </div>
        )}
      </QueryState>
      {chatgroups.isError ? <ErrorMessage error={chatgroups.error} /> : null}
    </section>
  );
}
