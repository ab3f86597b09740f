import { dispatchRoutes } from "@perseus/contracts";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../api/api.js";
import { describeError } from "../../api/errors.js";
import { chatKeys, DISPATCH } from "./chat-api.js";

type Props = { chatgroupId: string; nameOfRobot: (robotId: string) => string };

/**
 * Pending approval requests of robots working in this chatgroup, for owners and admins
 * (the page shows it only to them; the server refuses anyone else). Polled: approvals
 * have no realtime frame.
 */
export function ApprovalsPanel({ chatgroupId, nameOfRobot }: Props) {
  const queryClient = useQueryClient();
  const approvals = useQuery({
    queryKey: chatKeys.approvals,
    queryFn: ({ signal }) =>
      api.call(DISPATCH, dispatchRoutes.listApprovals, { query: { status: "pending", limit: 50 }, signal }),
    // Stop polling a server that refuses (e.g. an older dispatch without approvals).
    refetchInterval: (query) => (query.state.error ? false : 5_000),
  });
  const decide = useMutation({
    mutationFn: ({ id, decision }: { id: string; decision: "approved" | "denied" }) =>
      api.call(DISPATCH, dispatchRoutes.decideApproval, { params: { id }, body: { decision } }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: chatKeys.approvals }),
  });
  const pending = (approvals.data?.items ?? []).filter(
    (item) => item.chatgroupId === chatgroupId && item.status === "pending",
  );
  if (!pending.length && !decide.error) return null;

  return (
    <section className="approvals" aria-label="Approval requests">
      <h2 className="approvals-title">Waiting for approval</h2>
      <ul className="approval-list">
        {pending.map((item) => {
          const robot = nameOfRobot(item.robotId);
          return (
            <li key={item.id} className="approval">
              <p>
                <strong>{robot}</strong> wants to run:
              </p>
              <pre className="approval-command">
                <code>{item.command}</code>
              </pre>
              <p className="muted small">
                in <code>{item.cwd}</code> · {item.reason} · expires{" "}
                {new Date(item.expiresAt).toLocaleTimeString()}
              </p>
              <div className="actions">
                <button
                  type="button"
                  className="button"
                  disabled={decide.isPending}
                  aria-label={`Approve the command of ${robot}`}
                  onClick={() => decide.mutate({ id: item.id, decision: "approved" })}
                >
                  Approve
                </button>
                <button
                  type="button"
                  className="button button-secondary"
                  disabled={decide.isPending}
                  aria-label={`Deny the command of ${robot}`}
                  onClick={() => decide.mutate({ id: item.id, decision: "denied" })}
                >
                  Deny
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      {decide.error ? (
        <p role="alert" className="field-error">
          {describeError(decide.error)}
        </p>
      ) : null}
    </section>
  );
}
