import { authRoutes } from "@perseus/contracts";
import { useInfiniteQuery, useMutation } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api } from "../../api/api.js";
import { DataTable } from "../../components/data-table.js";
import { ErrorMessage } from "../../components/error-message.js";
import { QueryState } from "../../components/query-state.js";
import { RequirePermission } from "../../components/require-permission.js";
import { TimeText } from "../../components/time-text.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { useMembers } from "../organisation/members-query.js";

type Filters = { action: string; actorId: string; from: string; to: string };
const none: Filters = { action: "", actorId: "", from: "", to: "" };

/** Date inputs give local days; the API takes instants: the start of `from`, the end of `to`. */
function toQuery(filters: Filters) {
  return {
    ...(filters.action.trim() ? { action: filters.action.trim() } : {}),
    ...(filters.actorId ? { actorId: filters.actorId } : {}),
    ...(filters.from ? { from: new Date(`${filters.from}T00:00:00`).toISOString() } : {}),
    ...(filters.to ? { to: new Date(`${filters.to}T23:59:59.999`).toISOString() } : {}),
  };
}

function VerifyChain() {
  const verify = useMutation({ mutationFn: () => api.call("/api/auth", authRoutes.verifyAudit) });
  return (
    <div className="verify">
      <button
        type="button"
        className="button button-secondary"
        disabled={verify.isPending}
        onClick={() => verify.mutate()}
      >
        {verify.isPending ? "Verifying…" : "Verify chain"}
      </button>
      <div aria-live="polite">
        {verify.data?.ok ? (
          <p className="alert alert-ok">The audit chain is intact: no event was changed or removed.</p>
        ) : verify.data ? (
          <div className="alert alert-error">
            <p>The audit chain is broken:</p>
            <ul>
              {verify.data.problems.map((problem) => (
                <li key={`${problem.seq}-${problem.problem}`}>
                  event {problem.seq}: {problem.problem}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
      </div>
      <ErrorMessage error={verify.error} />
    </div>
  );
}

/** The tenant's audit log, newest first, with filters and hash-chain verification. */
export function AuditPage() {
  const { role } = useSession();
  const ids = { action: useId(), actor: useId(), from: useId(), to: useId() };
  const [draft, setDraft] = useState<Filters>(none);
  const [filters, setFilters] = useState<Filters>(none);
  const members = useMembers();
  const names = new Map((members.data ?? []).map((member) => [member.userId, member.name]));
  const events = useInfiniteQuery({
    queryKey: ["auth", "audit", filters],
    queryFn: ({ pageParam, signal }) =>
      api.call("/api/auth", authRoutes.listAudit, {
        query: { ...toQuery(filters), limit: 50, ...(pageParam ? { cursor: pageParam } : {}) },
        signal,
      }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.nextCursor ?? undefined,
    enabled: can(role, "audit.read"),
  });
  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters(draft);
  };
  const set = (patch: Partial<Filters>) => setDraft((current) => ({ ...current, ...patch }));

  return (
    <section className="page" aria-labelledby="audit-title">
      <div className="page-header">
        <h1 id="audit-title">Audit log</h1>
        {can(role, "audit.read") ? <VerifyChain /> : null}
      </div>
      <RequirePermission permission="audit.read" what="read the audit log">
        <form className="card filters" onSubmit={apply} aria-label="Filter audit events">
          <div className="field">
            <label htmlFor={ids.action}>Action</label>
            <input
              id={ids.action}
              value={draft.action}
              placeholder="e.g. robot.created"
              onChange={(e) => set({ action: e.target.value })}
            />
          </div>
          <div className="field">
            <label htmlFor={ids.actor}>Actor</label>
            <select id={ids.actor} value={draft.actorId} onChange={(e) => set({ actorId: e.target.value })}>
              <option value="">Anyone</option>
              {(members.data ?? []).map((member) => (
                <option key={member.userId} value={member.userId}>
                  {member.name}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor={ids.from}>From</label>
            <input
              id={ids.from}
              type="date"
              value={draft.from}
              onChange={(e) => set({ from: e.target.value })}
            />
          </div>
          <div className="field">
            <label htmlFor={ids.to}>To</label>
            <input id={ids.to} type="date" value={draft.to} onChange={(e) => set({ to: e.target.value })} />
          </div>
          <div className="actions">
            <button type="submit" className="button">
              Apply filters
            </button>
            <button
              type="button"
              className="button button-ghost"
              onClick={() => {
                setDraft(none);
                setFilters(none);
              }}
            >
              Clear
            </button>
          </div>
        </form>
        <QueryState
          query={events}
          label="audit events"
          isEmpty={(data) => data.pages.every((page) => page.items.length === 0)}
          empty={<p>No audit events match these filters.</p>}
        >
          {(data) => (
            <DataTable
              caption="Audit events"
              columns={["#", "When", "Actor", "Action", "Target", "Details"]}
              more={{ pages: events, label: "Load older events" }}
            >
              {data.pages
                .flatMap((page) => page.items)
                .map((event) => (
                  <tr key={event.seq}>
                    <th scope="row">{event.seq}</th>
                    <td>
                      <TimeText iso={event.occurredAt} />
                    </td>
                    <td>
                      {event.actorId
                        ? (names.get(event.actorId) ?? `${event.actorType} …${event.actorId.slice(-6)}`)
                        : event.actorType}
                    </td>
                    <td>
                      <code>{event.action}</code>
                    </td>
                    <td className="small">
                      {event.targetType ? `${event.targetType} ${event.targetId ?? ""}` : "—"}
                    </td>
                    <td className="small">
                      {Object.keys(event.data).length ? (
                        <code className="data">{JSON.stringify(event.data)}</code>
                      ) : (
                        "—"
                      )}
                      {event.ip ? <span className="muted"> · {event.ip}</span> : null}
                    </td>
                  </tr>
                ))}
            </DataTable>
          )}
        </QueryState>
      </RequirePermission>
    </section>
  );
}
