import { dispatchRoutes, type Task } from "@perseus/contracts";
import { useQueryClient } from "@tanstack/react-query";
import { api } from "../../api/api.js";
import { isApiError } from "../../api/errors.js";
import { useAction } from "../../api/use-action.js";
import { ConfirmButton } from "../../components/confirm-button.js";
import { ErrorMessage } from "../../components/error-message.js";
import { can } from "../../session/permissions.js";
import { useSession } from "../../session/session.js";
import { taskEtag, terminalStatuses } from "./task-status.js";

const taskKeys = [
  ["dispatch", "tasks"],
  ["dispatch", "task"],
  ["dispatch", "dead-letters"],
];

/**
 * Cancel (requester, owner, admin), retry and discard (owners, admins). Each carries the
 * task's ETag: if the task moved on meanwhile, the server refuses rather than acting on stale state.
 */
export function TaskActions({ task }: { task: Task }) {
  const { role, session } = useSession();
  const queryClient = useQueryClient();
  const headers = { "if-match": taskEtag(task) };
  const params = { id: task.id };
  const cancel = useAction(
    () => api.call("/api/dispatch", dispatchRoutes.cancelTask, { params, headers }),
    taskKeys,
  );
  const retry = useAction(
    () => api.call("/api/dispatch", dispatchRoutes.retryTask, { params, headers }),
    taskKeys,
  );
  const discard = useAction(
    () => api.call("/api/dispatch", dispatchRoutes.discardTask, { params, headers }),
    taskKeys,
  );
  const manager = can(role, "tasks.manage");
  const mayCancel = !terminalStatuses.has(task.status) && (manager || task.requestedBy === session?.user.id);
  const error = cancel.error ?? retry.error ?? discard.error;
  const stale = isApiError(error, "precondition_failed");
  const subject = `task ${task.prompt.slice(0, 40)}`;

  return (
    <div className="actions task-actions">
      {mayCancel ? (
        <ConfirmButton
          label="Cancel task"
          subject={subject}
          pending={cancel.isPending}
          onConfirm={() => cancel.mutate()}
        />
      ) : null}
      {manager && (task.status === "failed" || task.status === "dead") && !task.discardedAt ? (
        <button
          type="button"
          className="button button-small"
          aria-label={`Retry ${subject}`}
          disabled={retry.isPending}
          onClick={() => retry.mutate()}
        >
          Retry
        </button>
      ) : null}
      {manager && task.status === "dead" && !task.discardedAt ? (
        <ConfirmButton
          label="Discard"
          subject={subject}
          pending={discard.isPending}
          onConfirm={() => discard.mutate()}
        />
      ) : null}
      {stale ? (
        <p className="alert alert-error" role="alert">
          The task changed meanwhile.{" "}
          <button
            type="button"
            className="button button-small button-secondary"
            onClick={() =>
              void Promise.all(taskKeys.map((queryKey) => queryClient.invalidateQueries({ queryKey })))
            }
          >
            Reload it
          </button>
        </p>
      ) : (
        <ErrorMessage error={error} />
      )}
    </div>
  );
}
