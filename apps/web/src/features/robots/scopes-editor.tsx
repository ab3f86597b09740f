import { authRoutes, type RobotScopes } from "@perseus/contracts";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../api/api.js";
import { ErrorMessage } from "../../components/error-message.js";

export function scopeSummary(scopes: RobotScopes): string {
  if (scopes.tenant) return "Anywhere in the organisation";
  const parts = [
    scopes.teamIds.length ? `${scopes.teamIds.length} team${scopes.teamIds.length === 1 ? "" : "s"}` : null,
    scopes.chatgroupIds.length
      ? `${scopes.chatgroupIds.length} chatgroup${scopes.chatgroupIds.length === 1 ? "" : "s"}`
      : null,
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : "Nowhere yet";
}

function toggled(list: string[], id: string, on: boolean): string[] {
  return on ? [...new Set([...list, id])] : list.filter((item) => item !== id);
}

type Props = {
  scopes: RobotScopes;
  canEdit: boolean;
  onSave: (scopes: RobotScopes) => Promise<unknown>;
};

/** Where a robot may be invoked: the whole organisation, whole teams, or single chatgroups. */
export function ScopesEditor({ scopes, canEdit, onSave }: Props) {
  const [draft, setDraft] = useState<RobotScopes>(scopes);
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const teams = useQuery({
    queryKey: ["auth", "teams", "false"],
    queryFn: ({ signal }) =>
      api.call("/api/auth", authRoutes.listTeams, { query: { includeArchived: "false" }, signal }),
  });
  const chatgroups = useQuery({
    queryKey: ["auth", "chatgroups", "false"],
    queryFn: ({ signal }) =>
      api.call("/api/auth", authRoutes.listChatgroups, { query: { includeArchived: "false" }, signal }),
  });
  const changed = JSON.stringify(draft) !== JSON.stringify(scopes);
  const save = async () => {
    setSaving(true);
    setError(null);
    try {
      await onSave(draft);
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  };

  return (
    <div className="form">
      <p>
        Now: <strong>{scopeSummary(scopes)}</strong>
      </p>
      <fieldset disabled={!canEdit} className="checkbox-grid">
        <legend>May be invoked in</legend>
        <label className="checkbox">
          <input
            type="checkbox"
            checked={draft.tenant}
            onChange={(event) => setDraft({ ...draft, tenant: event.target.checked })}
          />
          Anywhere in the organisation
        </label>
        {(teams.data?.items ?? []).map((team) => (
          <label key={team.id} className="checkbox">
            <input
              type="checkbox"
              disabled={draft.tenant}
              checked={draft.tenant || draft.teamIds.includes(team.id)}
              onChange={(event) =>
                setDraft({ ...draft, teamIds: toggled(draft.teamIds, team.id, event.target.checked) })
              }
            />
            Team {team.name}
          </label>
        ))}
        {(chatgroups.data?.items ?? []).map((group) => (
          <label key={group.id} className="checkbox">
            <input
              type="checkbox"
              disabled={draft.tenant || draft.teamIds.includes(group.teamId)}
              checked={
                draft.tenant || draft.teamIds.includes(group.teamId) || draft.chatgroupIds.includes(group.id)
              }
              onChange={(event) =>
                setDraft({
                  ...draft,
                  chatgroupIds: toggled(draft.chatgroupIds, group.id, event.target.checked),
                })
              }
            />
            # {group.name}
          </label>
        ))}
      </fieldset>
      {teams.isPending || chatgroups.isPending ? <p role="status">Loading teams and chatgroups…</p> : null}
      <ErrorMessage error={error ?? teams.error ?? chatgroups.error} />
      {canEdit ? (
        <div className="actions">
          <button type="button" className="button" disabled={!changed || saving} onClick={() => void save()}>
            {saving ? "Saving…" : "Save where it may be invoked"}
          </button>
        </div>
      ) : null}
    </div>
  );
}
