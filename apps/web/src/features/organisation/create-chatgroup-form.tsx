import { authRoutes, CreateChatgroupBody, type Team } from "@perseus/contracts";
import { type FormEvent, useId, useState } from "react";
import { api } from "../../api/api.js";
import { useAction } from "../../api/use-action.js";
import { ErrorMessage } from "../../components/error-message.js";
import { TextField } from "../../components/text-field.js";
import { useSession } from "../../session/session.js";
import { useMembers } from "./members-query.js";
import { chatgroupsKey } from "./teams-page.js";

/** A new chatgroup in a team: team-wide, or private with explicitly chosen members. */
export function CreateChatgroupForm({ team }: { team: Team }) {
  const { session } = useSession();
  const ids = { visibility: useId() };
  const [name, setName] = useState("");
  const [visibility, setVisibility] = useState<"team" | "private">("team");
  const [memberIds, setMemberIds] = useState<string[]>([]);
  const [nameError, setNameError] = useState<string>();
  const members = useMembers();
  const create = useAction(
    (body: CreateChatgroupBody) => api.call("/api/auth", authRoutes.createChatgroup, { body }),
    [chatgroupsKey],
    () => {
      setName("");
      setMemberIds([]);
    },
  );

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = CreateChatgroupBody.safeParse({
      teamId: team.id,
      name,
      visibility,
      memberIds: visibility === "private" ? memberIds : [],
    });
    if (!parsed.success) return setNameError(parsed.error.issues[0]?.message);
    setNameError(undefined);
    create.mutate(parsed.data);
  };
  const toggle = (userId: string, on: boolean) =>
    setMemberIds((current) => (on ? [...current, userId] : current.filter((id) => id !== userId)));

  return (
    <form
      className="form subform"
      onSubmit={onSubmit}
      noValidate
      aria-label={`New chatgroup in team ${team.name}`}
    >
      <div className="form-row">
        <TextField
          label="New chatgroup name"
          value={name}
          onChange={setName}
          error={nameError}
          maxLength={100}
        />
        <div className="field">
          <label htmlFor={ids.visibility}>Visibility</label>
          <select
            id={ids.visibility}
            value={visibility}
            onChange={(event) => setVisibility(event.target.value as "team" | "private")}
          >
            <option value="team">Everyone in the team</option>
            <option value="private">Private: chosen members</option>
          </select>
        </div>
        <button type="submit" className="button" disabled={create.isPending}>
          Create chatgroup
        </button>
      </div>
      {visibility === "private" ? (
        <fieldset className="checkbox-grid">
          <legend>Members (you are always one)</legend>
          {(members.data ?? [])
            .filter((member) => member.userId !== session?.user.id && !member.disabled)
            .map((member) => (
              <label key={member.userId} className="checkbox">
                <input
                  type="checkbox"
                  checked={memberIds.includes(member.userId)}
                  onChange={(event) => toggle(member.userId, event.target.checked)}
                />
                {member.name} <span className="muted">@{member.handle}</span>
              </label>
            ))}
          {members.isPending ? <p role="status">Loading people…</p> : null}
        </fieldset>
      ) : null}
      <ErrorMessage error={create.error} />
    </form>
  );
}
