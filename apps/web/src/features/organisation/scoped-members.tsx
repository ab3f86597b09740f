import type { ScopedMember } from "@perseus/contracts";
import { type QueryKey, type UseQueryResult, useQuery } from "@tanstack/react-query";
import { useId, useState } from "react";
import { useAction } from "../../api/use-action.js";
import { ConfirmButton } from "../../components/confirm-button.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { useMembers } from "./members-query.js";

type Props = {
  /** "team Design" / "chatgroup launch", for labels. */
  subject: string;
  members: UseQueryResult<{ items: ScopedMember[] }>;
  canManage: boolean;
  onAdd: (userId: string) => Promise<unknown>;
  onRemove: (userId: string) => Promise<unknown>;
};

/** The explicit members of a team or private chatgroup, with add/remove for those allowed. */
export function ScopedMembers({ subject, members, canManage, onAdd, onRemove }: Props) {
  const everyone = useMembers();
  const pickerId = useId();
  const [choice, setChoice] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const run = async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="scoped-members">
      <QueryState
        query={members}
        label={`members of ${subject}`}
        isEmpty={(data) => data.items.length === 0}
        empty={<p className="muted small">No members yet.</p>}
      >
        {(data) => (
          <ul className="chip-list" aria-label={`Members of ${subject}`}>
            {data.items.map((member) => (
              <li key={member.userId} className="chip">
                <span>
                  {member.name} <span className="muted">@{member.handle}</span>
                </span>
                {canManage ? (
                  <ConfirmButton
                    label="Remove"
                    subject={`${member.name} from ${subject}`}
                    pending={busy}
                    onConfirm={() => void run(() => onRemove(member.userId))}
                  />
                ) : null}
              </li>
            ))}
          </ul>
        )}
      </QueryState>
      {canManage ? (
        <form
          className="inline-form"
          aria-label={`Add a member to ${subject}`}
          onSubmit={(event) => {
            event.preventDefault();
            if (choice) void run(() => onAdd(choice)).then(() => setChoice(""));
          }}
        >
          <label htmlFor={pickerId} className="visually-hidden">
            Person to add to {subject}
          </label>
          <select id={pickerId} value={choice} onChange={(event) => setChoice(event.target.value)}>
            <option value="">Choose a person…</option>
            {(everyone.data ?? [])
              .filter((m) => !m.disabled && !members.data?.items.some((x) => x.userId === m.userId))
              .map((m) => (
                <option key={m.userId} value={m.userId}>
                  {m.name} (@{m.handle})
                </option>
              ))}
          </select>
          <button type="submit" className="button button-small" disabled={!choice || busy}>
            Add
          </button>
        </form>
      ) : null}
      <ErrorMessage error={error} />
    </div>
  );
}

/**
 * A disclosure with the explicit members of a team or private chatgroup: the list is
 * fetched on first opening; adding or removing refreshes it.
 */
export function MembersDisclosure({
  summary,
  subject,
  canManage,
  queryKey,
  list,
  add,
  remove,
}: {
  summary: string;
  subject: string;
  canManage: boolean;
  queryKey: QueryKey;
  list: (signal: AbortSignal) => Promise<{ items: ScopedMember[] }>;
  add: (userId: string) => Promise<unknown>;
  remove: (userId: string) => Promise<unknown>;
}) {
  const [isOpen, setIsOpen] = useState(false);
  const members = useQuery({ queryKey, queryFn: ({ signal }) => list(signal), enabled: isOpen });
  const adding = useAction(add, [queryKey]);
  const removing = useAction(remove, [queryKey]);
  return (
    <details className="disclosure" onToggle={(event) => setIsOpen(event.currentTarget.open)}>
      <summary>{summary}</summary>
      {isOpen ? (
        <ScopedMembers
          subject={subject}
          members={members}
          canManage={canManage}
          onAdd={(userId) => adding.mutateAsync(userId)}
          onRemove={(userId) => removing.mutateAsync(userId)}
        />
      ) : null}
    </details>
  );
}
